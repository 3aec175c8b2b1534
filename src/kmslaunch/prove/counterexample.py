"""A counterexample: the request z3 found, written as ``kmslaunch authorize`` reads requests, and decided again by
the engine itself, so that a request is only ever claimed when the engine agrees with the encoding."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import z3

from kmslaunch.policy.evaluate import PolicySet, Request, build_context
from kmslaunch.policy.match import ACCOUNT, PRINCIPAL, ROLE, eval_fast
from kmslaunch.policy.model import Policy
from kmslaunch.policy.principals import PrincipalError, parse_principal

from .launch import Allowed, in_allowed
from .request import KeyVar, Kind, PType, SymbolicRequest


@dataclass(frozen=True)
class Counterexample:
    """One request: who, what, on what, with which context (lower-cased keys), and whether the caller has a
    permissions boundary (which changes what a NotPrincipal Deny does)."""

    principal: str
    role_arn: str | None
    action: str
    resource: str
    context: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    has_boundary: bool = False

    def describe(self) -> str:
        ctx = ", ".join(f"{k}={'|'.join(v) if v else '(no values)'}" for k, v in sorted(self.context.items()))
        boundary = " (the caller has a permissions boundary)" if self.has_boundary else ""
        return f"{self.action} by {self.principal} on {self.resource}" + (f" with {ctx}" if ctx else "") + boundary

    def to_json(self) -> dict[str, Any]:
        """The request in the shape ``kmslaunch authorize`` reads (policy/requestfile.py)."""
        out: dict[str, Any] = {
            "principal": self.principal,
            "action": self.action,
            "resource": self.resource,
            "context": {k: (list(v) if len(v) != 1 else v[0]) for k, v in sorted(self.context.items())},
        }
        if self.role_arn is not None:
            out["principal_arn"] = self.role_arn
        return out


def _text(model: z3.ModelRef, term: z3.ExprRef) -> str:
    v = model.eval(term, model_completion=True)
    return str(v.as_string()) if isinstance(v, z3.SeqRef) else str(v)


def from_model(model: z3.ModelRef, r: SymbolicRequest) -> Counterexample:
    """The request z3's model describes."""
    ptype = model.eval(r.ptype, model_completion=True).as_long()
    arn = _text(model, r.arn)
    role_arn = _text(model, r.principal_arn) if ptype == PType.ASSUMED_ROLE else None
    if ptype == PType.ASSUMED_ROLE and not z3.is_true(model.eval(r.role_path_known, model_completion=True)):
        role_arn = None  # the engine derives it from the session ARN
    ctx: dict[str, tuple[str, ...]] = {}
    for name, kv in r.keys.items():
        if not z3.is_true(model.eval(kv.present, model_completion=True)):
            continue
        n = model.eval(kv.count, model_completion=True).as_long()
        ctx[name] = tuple(_value(model, kv, i) for i in range(n))
    return Counterexample(
        principal="*" if ptype == PType.ANONYMOUS else arn,
        role_arn=role_arn,
        action=_text(model, r.action),
        resource=_text(model, r.resource),
        context=ctx,
        has_boundary=z3.is_true(model.eval(r.has_boundary, model_completion=True)),
    )


def _value(model: z3.ModelRef, kv: KeyVar, i: int) -> str:
    if kv.kind is Kind.STRING:
        return _text(model, kv.strings[i])
    valid = z3.is_true(model.eval(kv.valid[i], model_completion=True))
    num = model.eval(kv.numbers[i], model_completion=True).as_long()
    if kv.kind is Kind.IP:
        if not valid:
            return "AWS Internal"  # what aws:SourceIp holds for some AWS-internal calls: not an address
        version = model.eval(kv.versions[i], model_completion=True).as_long()
        return str(ipaddress.IPv4Address(num) if version == 4 else ipaddress.IPv6Address(num))
    if not valid:
        return "not-a-number" if kv.kind is Kind.NUMBER else "not-a-date"
    if kv.kind is Kind.NUMBER:
        return _decimal_text(Decimal(num).scaleb(-kv.scale))
    return _decimal_text(Decimal(num).scaleb(-6))  # epoch seconds, to the microsecond


def _decimal_text(d: Decimal) -> str:
    text = format(d, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


# ---------------------------------------------------------------------------------------------------------
# The engine's word


_LEVEL = {0: 0, ACCOUNT: 1, ROLE: 2, PRINCIPAL: 3}


def engine_level(policy: Policy | None, cex: Counterexample) -> tuple[int, bool]:
    """(strongest level of the applying Allow statements, whether a Deny applies) as ``match.eval_fast``, the
    per-document step of ``evaluate.authorize``, decides the request."""
    if policy is None:
        return 0, False
    who = parse_principal(cex.principal, role_arn=cex.role_arn)
    req = Request(who, cex.action, cex.resource, dict(cex.context))
    ctx = build_context(req, PolicySet())
    bits, denied = eval_fast(policy, cex.action.lower(), cex.resource, who, ctx, cex.has_boundary)
    level = max((lvl for bit, lvl in _LEVEL.items() if bits & bit), default=0)
    return level, denied


def confirm(cex: Counterexample, before: Policy | None, after: Policy, allowing: Sequence[Allowed]) -> tuple[bool, str]:
    """Whether the engine agrees: AFTER applies no Deny to the request, and BEFORE denies it or names the caller
    less strongly, and it is none of the launch's requests."""
    try:
        a_level, a_deny = engine_level(after, cex)
        b_level, b_deny = engine_level(before, cex)
    except PrincipalError as exc:
        return False, f"the counterexample's caller is not one the engine reads: {exc}"
    if a_deny or not (b_deny or a_level > b_level):
        return False, (
            f"z3 found {cex.describe()}, but the engine decides it the same before and after "
            f"(after: level {a_level}, deny {a_deny}; before: level {b_level}, deny {b_deny})"
        )
    if in_allowed(cex, allowing):
        return False, f"z3 found {cex.describe()}, which is one of the launch's own requests"
    return True, ""
