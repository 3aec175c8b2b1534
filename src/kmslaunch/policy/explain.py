"""Decisions in words. The evaluator returns data; this module is the one place that turns it into text."""

from __future__ import annotations

from collections.abc import Mapping

from kmslaunch.policy.decision import Decision, Element, Mismatch, NearMiss, StatementRef, Verdict
from kmslaunch.policy.evaluate import PolicySet
from kmslaunch.policy.model import Policy, PolicyType


def layer_name(ref: StatementRef) -> str:
    return ref.layer.value if isinstance(ref.layer, PolicyType) else ref.layer


def describe_ref(ref: StatementRef) -> str:
    if ref.layer == "grant":
        return f"grant {ref.statement}"
    if ref.layer == "rule":
        return f"rule {ref.policy}: {ref.statement}"
    where = layer_name(ref)
    stmt = ref.statement if ref.statement.startswith("Statement[") else f'"{ref.statement}" (Statement[{ref.index}])'
    return f"{where} {ref.policy}: {ref.effect.value} {stmt}"


def _values(values: tuple[str, ...] | None) -> str:
    if values is None:
        return "nothing (the request does not carry the key)"
    if len(values) == 1:
        return values[0]
    return "[" + ", ".join(values) + "]"


def describe_mismatch(m: Mismatch) -> str:
    if m.element is Element.CONDITION:
        return f"condition {m.operator} {m.key}: expected {_values(m.expected)}, request has {_values(m.actual)}"
    if m.element is Element.ACTION:
        return f"action {_values(m.actual)} is not in {_values(m.expected)}"
    if m.element is Element.RESOURCE:
        return f"resource {_values(m.actual)} is not in {_values(m.expected)}"
    if m.element is Element.PRINCIPAL:
        return f"principal {_values(m.actual)} is not {_values(m.expected)}"
    if m.element is Element.GRANTEE:
        return f"grantee is {_values(m.expected)}, caller is {_values(m.actual)}"
    if m.element is Element.OPERATION:
        return f"grant allows {_values(m.expected)}, not {_values(m.actual)}"
    return f"encryption context {_values(m.actual)} does not meet constraint {_values(m.expected)}"


def describe_near_miss(n: NearMiss) -> str:
    return f"{describe_ref(n.statement)} — {describe_mismatch(n.mismatch)}"


def render_decision(decision: Decision, *, message: str | None = None) -> list[str]:
    """Lines explaining a decision, most important first."""
    lines = [f"decision: {decision.verdict.value}"]
    if message and decision.verdict is not Verdict.ALLOWED:
        lines.append(f"AWS says: {message}")
    if decision.denied_by:
        lines.append("refused by: " + ", ".join(layer.value for layer in decision.denied_by))
    if decision.decided_by:
        title = "denied by" if decision.verdict is Verdict.EXPLICIT_DENY else "allowed by"
        lines.append(f"{title}:")
        lines.extend(f"  - {describe_ref(r)}" for r in decision.decided_by)
    if decision.partial:
        lines.append("matched, but not enough on their own:")
        lines.extend(f"  - {describe_ref(r)}" for r in decision.partial)
    if decision.near_misses:
        lines.append("near misses (statements that failed on one element):")
        lines.extend(f"  - {describe_near_miss(n)}" for n in decision.near_misses)
    if decision.assumptions:
        # Where AWS documents nothing, the verdict is kmslaunch's choice: say which (kmslaunch assumptions).
        word = "assumption" if len(decision.assumptions) == 1 else "assumptions"
        lines.append(f"rests on {word} " + ", ".join(decision.assumptions) + " (see: kmslaunch assumptions)")
    return lines


def find_statement_policy(ps: PolicySet, ref: StatementRef) -> Policy | None:
    """The policy a reference points into."""
    candidates: list[Policy] = list(ps.identity) + list(ps.session)
    candidates += [p for p in (ps.resource, ps.boundary) if p is not None]
    candidates += [p for level in ps.scps + ps.rcps for p in level]
    for p in candidates:
        if p.name == ref.policy and p.type == ref.layer:
            return p
    return None


def conditions_met(ps: PolicySet, ref: StatementRef, ctx: Mapping[str, tuple[str, ...]]) -> list[str]:
    """For a statement that applied, each of its conditions with the request's values: why a Deny caught it."""
    policy = find_statement_policy(ps, ref)
    if policy is None or ref.index >= len(policy.statements):
        return []
    st = policy.statements[ref.index]
    return [
        f"{c.operator} {c.key}: policy has {_values(c.values)}, request has {_values(c.actual(ctx))}"
        for c in st.conditions
    ]
