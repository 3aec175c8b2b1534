"""The pre-flight itself: each launch path of a plan simulated with the audit's engine (the same launch path as
``simulate``), a failure diagnosed and its fix verified by the doctor, and what the plan leaves unknown folded
into the verdict, so that a path depending on an unresolved value is never answered "runs"."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from kmslaunch.audit.engine import Outcome, simulate_requests
from kmslaunch.launch.request import LaunchRequest
from kmslaunch.launch.result import CallResult, CallVerdict, LaunchKind, LaunchResult
from kmslaunch.snapshot.load import Snapshot
from kmslaunch.world.unknowns import Unknown as Fact
from kmslaunch.world.unknowns import merge

from .launches import Launch
from .model import Plan, Source
from .resolve import Resolved, resolve_plan

FORMAT = "kmslaunch-check/1"
NOT_SIMULATED = "not-simulated"


@dataclass(frozen=True)
class PathCheck:
    """One launch path: the resource that launches (and its place in the plan), the key it was refused on
    (and that key's address), the engine's outcome and the verdict with the plan's unknowns folded in."""

    address: str
    what: str
    source: Source | None
    outcome: Outcome
    verdict: str
    unless: tuple[str, ...] = ()
    key: str | None = None
    key_address: str | None = None
    key_source: Source | None = None
    principal: str | None = None
    deciding: str | None = None
    note: str | None = None
    from_snapshot: bool = False
    # Where the key comes from when the plan does not name it: the account's default EBS key.
    key_origin: str | None = None

    @property
    def fails(self) -> bool:
        return self.verdict in ("fails", "fails-unless")

    @property
    def unsure(self) -> bool:
        return self.verdict in ("runs-unless", NOT_SIMULATED)

    def to_json(self) -> dict[str, Any]:
        return {
            "address": self.address,
            # The name the user knows the resource by: a CDK construct path with its logical id.
            "source_address": self.source.address if self.source else self.address,
            "what": self.what,
            "line": self.source.line if self.source else None,
            "verdict": self.verdict,
            "unless": list(self.unless),
            "principal": self.principal,
            "key": self.key,
            "key_address": self.key_address,
            "key_line": self.key_source.line if self.key_source else None,
            "key_origin": self.key_origin,
            "deciding_statement": self.deciding,
            "state": self.outcome.state,
            "cause": self.outcome.cause,
            "headline": self.outcome.headline,
            "fix": self.outcome.fix,
            "note": self.note or self.outcome.note,
            "from_snapshot": self.from_snapshot,
        }


@dataclass
class CheckReport:
    plan: Plan
    snapshot: str | None
    account: str
    region: str
    paths: list[PathCheck]
    general: tuple[Fact, ...] = ()
    unknown: tuple[str, ...] = ()  # what the snapshot lacks (its loader's sentences)
    notes: list[str] = field(default_factory=list)

    @property
    def failing(self) -> list[PathCheck]:
        return [p for p in self.paths if p.fails]

    @property
    def unsure(self) -> list[PathCheck]:
        return [p for p in self.paths if p.unsure]

    @property
    def exit_code(self) -> int:
        """1 a path fails, 3 a path runs only unless something unknown refuses it (or was not simulated), else 0."""
        if self.failing:
            return 1
        return 3 if self.unsure else 0

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "plan": self.plan.file,
            "plan_format": self.plan.format,
            "snapshot": self.snapshot,
            "account": self.account,
            "region": self.region,
            "summary": {
                "paths": len(self.paths),
                "failing": len(self.failing),
                "unless": len(self.unsure),
                "runs": len(self.paths) - len(self.failing) - len(self.unsure),
            },
            "paths": [p.to_json() for p in self.paths],
            "unknown": [f.to_json() for f in self.general],
            "unmodelled": [{"type": t, "address": a} for t, a in self.plan.unmodelled],
            "ignored": {r.address: list(r.ignored) for r in self.plan.resources if r.ignored},
            "notes": self.notes,
        }


def check_plan(plan: Plan, snapshot: Snapshot | None = None, *, caller: str | None = None) -> CheckReport:
    """Check every launch path ``plan`` creates or changes, over ``snapshot`` when given."""
    resolved = resolve_plan(plan, snapshot, caller)
    launches = list(resolved.launches)
    requests = [ln.request for ln in launches if ln.request is not None]
    # The snapshot's own groups: a path the plan changes when it launches with a key the plan changes.
    extra = _snapshot_groups(resolved)
    results = simulate_requests(resolved.world, requests + extra)
    by_request = iter(results[: len(requests)])
    paths = []
    for ln in launches:
        if ln.request is None:
            paths.append(_not_simulated(resolved, ln))
            continue
        result, outcome = next(by_request)
        paths.append(_path(resolved, ln, result, outcome))
    touched = {
        arn for arn, addresses in resolved.key_addresses.items() if any(_changes(resolved, a) for a in addresses)
    }
    for req, (result, outcome) in zip(extra, results[len(requests) :], strict=True):
        if result is None or not {c.resource for c in result.calls} & touched:
            continue
        ln = Launch(f"{req.group} (in the snapshot)", "auto-scaling-group", req, ())
        paths.append(_path(resolved, ln, result, outcome, from_snapshot=True))
    return CheckReport(
        plan,
        str(snapshot.path) if snapshot is not None else None,
        resolved.account,
        resolved.region,
        paths,
        tuple(resolved.general),
        snapshot.unknown if snapshot is not None else (),
        resolved.notes,
    )


def _changes(resolved: Resolved, address: str) -> bool:
    res = resolved.by_address.get(address)
    return res is not None and res.action in ("create", "update", "delete")


def _snapshot_groups(resolved: Resolved) -> list[LaunchRequest]:
    planned = {ln.request.group for ln in resolved.launches if ln.request is not None and ln.request.group}
    region = resolved.world.accounts[resolved.account].regions.get(resolved.region)
    if region is None:
        return []
    return [
        LaunchRequest(LaunchKind.AUTO_SCALING, resolved.account, resolved.region, group=name, source=name)
        for name in sorted(region.autoscaling.groups)
        if name not in planned
    ]


def _not_simulated(resolved: Resolved, ln: Launch) -> PathCheck:
    res = resolved.by_address.get(ln.address)
    return PathCheck(
        ln.address,
        ln.what,
        res.source if res else None,
        Outcome("unknown", False, note=ln.note),
        NOT_SIMULATED,
        note=ln.note,
    )


def _facts(resolved: Resolved, ln: Launch, result: LaunchResult | None) -> tuple[Fact, ...]:
    addresses = list(ln.depends)
    for call in result.calls if result is not None else ():
        addresses += resolved.key_addresses.get(call.resource, [])
    groups = [resolved.general] + [resolved.unknowns.get(a, []) for a in dict.fromkeys(addresses)]
    return merge(*groups)


def _path(
    resolved: Resolved, ln: Launch, result: LaunchResult | None, outcome: Outcome, *, from_snapshot: bool = False
) -> PathCheck:
    res = resolved.by_address.get(ln.address)
    source = res.source if res else None
    if result is None or outcome.verdict is None:
        return PathCheck(
            ln.address, ln.what, source, outcome, NOT_SIMULATED, note=outcome.note, from_snapshot=from_snapshot
        )
    facts = _facts(resolved, ln, result)
    verdict = outcome.verdict
    unless = list(outcome.unless)
    refused = (
        outcome.refused if outcome.refused is not None else (result.refused_calls[0] if result.refused_calls else None)
    )
    if outcome.fails:
        # A refusal no unknown can lift stays "fails": an explicit deny, a key state
        # (the engine's rule, launch.result.LaunchResult.deciding_unknowns).
        lifting = [f for f in facts if f.may_allow]
        if refused is not None and refused.verdict is CallVerdict.IMPLICIT_DENY and lifting:
            verdict = "fails-unless"
            unless += [f.sentence() for f in lifting]
    else:
        refusing = [f for f in facts if f.may_deny]
        if refusing:
            verdict = "runs-unless"
            unless += [f.sentence() for f in refusing]
    if outcome.fix is not None:
        outcome = replace(outcome, fix=_in_plan(resolved, outcome.fix))
    key = refused.resource if refused is not None else _first_key(result)
    key_address = resolved.key_address(key) if key else None
    key_res = resolved.by_address.get(key_address) if key_address else None
    return PathCheck(
        ln.address,
        ln.what,
        source,
        outcome,
        verdict,
        tuple(dict.fromkeys(_named(resolved, u) for u in unless)),
        key,
        key_address,
        key_res.source if key_res else None,
        result.principal,
        _named(resolved, deciding_statement(refused)) if refused is not None and outcome.fails else None,
        outcome.note,
        from_snapshot,
        _default_key(resolved, key) if key and key_address is None else None,
    )


def _default_key(resolved: Resolved, key: str) -> str | None:
    """Whether ``key`` is the region's default EBS key, which encrypts a volume that asks for encryption and
    names no key (https://docs.aws.amazon.com/ebs/latest/userguide/default-kms-key.html): in words, else None."""
    region = resolved.world.accounts[resolved.account].regions.get(resolved.region)
    if region is None:
        return None
    default = region.ec2.defaults.default_kms_key_id
    found = resolved.world.key_by_arn(default) if default.startswith("arn:") else region.kms.resolve(default)
    if found is None or found.arn != key:
        return None
    aliases = region.kms.aliases_of(found.key_id)
    named = f" ({', '.join(aliases)})" if aliases else ""
    return (
        f"the account's default EBS key{named}: no key is named for the volume, so EBS uses the region's "
        f"default (aws ec2 get-ebs-default-kms-key-id --region {resolved.region})"
    )


def _in_plan(resolved: Resolved, fix: dict[str, Any]) -> dict[str, Any]:
    """The doctor's fix with each change to something the plan creates pinned to its address: before apply the
    key does not exist, so the change belongs in its resource's policy, not in a command run against AWS."""
    fixes = []
    for f in fix["fixes"]:
        address = resolved.key_address(f["target"]) if f["kind"] == "key-policy" else None
        res = resolved.by_address.get(address) if address else None
        if res is not None and res.action == "create":
            pinned: dict[str, Any] = {
                "target": address,
                # As the user knows it (a CDK construct path with its logical id).
                "in_plan": res.source.address,
                "line": res.source.line,
                "commands": [],
                "files": [],
            }
            fixes.append({**f, **pinned})
        else:
            fixes.append(f)
    return {**fix, "fixes": fixes}


def _first_key(result: LaunchResult) -> str | None:
    return next((c.resource for c in result.calls if c.resource.startswith("arn:")), None)


def _named(resolved: Resolved, text: str) -> str:
    """A sentence with each key ARN the plan defines followed by its address."""
    for arn, addresses in resolved.key_addresses.items():
        if arn in text and addresses[0] not in text:
            text = text.replace(arn, f"{arn} ({addresses[0]})")
    return text


def deciding_statement(call: CallResult) -> str:
    """The statement that decided a refusal, or for an implicit deny the one that came nearest and why not."""
    if call.verdict is CallVerdict.KEY_STATE:
        return f"the key's state: {call.error_code}"
    d = call.authorized.decision
    if d.decided_by:
        s = d.decided_by[0]
        layer = s.layer.value if hasattr(s.layer, "value") else str(s.layer)
        return f"{s.effect.value} {s.statement} of {layer} {s.policy}"
    if d.near_misses:
        m = d.near_misses[0]
        what = m.mismatch.key or m.mismatch.element.value
        got = ", ".join(m.mismatch.actual) if m.mismatch.actual else "absent"
        layer = m.statement.layer.value if hasattr(m.statement.layer, "value") else str(m.statement.layer)
        return (
            f"no statement allows {call.action}; nearest: {m.statement.statement} of {layer} {m.statement.policy}, "
            f"whose {what} expects {', '.join(m.mismatch.expected)} (the request has {got})"
        )
    return f"no statement allows {call.action} for {call.call.principal.arn}"
