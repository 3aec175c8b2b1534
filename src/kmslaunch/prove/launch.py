"""The requests a change may allow: a launch's KMS calls, as formulas over the symbolic request and as a test on
concrete requests, which say the same (assumption prove-launch-values says what is fixed and what is free)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import z3

from kmslaunch.policy.operators import _instant, _number
from kmslaunch.policy.principals import PrincipalError, parse_principal

from .regex import NAME
from .request import SET_BOUND, KeyVar, Kind, SymbolicRequest, arn_is, role_is


class Request(Protocol):
    """What the concrete test reads of a request (counterexample.Counterexample)."""

    @property
    def principal(self) -> str: ...
    @property
    def role_arn(self) -> str | None: ...
    @property
    def action(self) -> str: ...
    @property
    def resource(self) -> str: ...
    @property
    def context(self) -> Mapping[str, tuple[str, ...]]: ...
    @property
    def has_boundary(self) -> bool: ...


# Ids the launch path makes anew for every launch: in a launch call's values each stands for any id of its kind
# (assumption prove-launch-values).
ID = re.compile(r"\b(i|vol|snap|ami|sir|fleet|lt|eni|r)-[0-9a-f]{8,17}\b")
# Condition keys whose values the launch path does not choose: when, and from where, the caller launches
# (assumption prove-launch-values).
# Keys whose values the caller and the resource fix (encode._derived_presence): fixing the caller fixes them.
DERIVED_KEYS = frozenset(
    {
        "aws:principalarn",
        "aws:principalaccount",
        "aws:principaltype",
        "aws:username",
        "aws:principalisawsservice",
        "aws:principalservicename",
        "kms:calleraccount",
    }
)
FREE_KEYS = frozenset({"aws:currenttime", "aws:epochtime", "aws:sourceip", "aws:tokenissuetime"})


@dataclass(frozen=True)
class Allowed:
    """One request the change may allow: the caller, action and resource, the context values it is sent with
    (effective: the keys the engine derives included), and whether its ids vary from launch to launch."""

    principal: str
    role_arn: str | None
    role_path_known: bool
    has_boundary: bool | None  # None: whether or not the caller has a permissions boundary
    action: str
    resource: str
    context: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    vary_ids: bool = False
    free: frozenset[str] = frozenset()

    def describe(self) -> str:
        return f"{self.action} by {self.principal} on {self.resource}"


def value_re(text: str, vary_ids: bool) -> z3.ReRef:
    """A launch value: the text itself, each id in it standing for any id of its kind when ``vary_ids``."""
    if not vary_ids:
        return z3.Re(z3.StringVal(text))
    parts: list[z3.ReRef] = []
    pos = 0
    hexdigit = z3.Union(z3.Range("0", "9"), z3.Range("a", "f"))
    for m in ID.finditer(text):
        if m.start() > pos:
            parts.append(z3.Re(z3.StringVal(text[pos : m.start()])))
        parts.append(z3.Concat(z3.Re(z3.StringVal(m.group(1) + "-")), z3.Loop(hexdigit, 8, 17)))
        pos = m.end()
    if pos < len(text) or not parts:
        parts.append(z3.Re(z3.StringVal(text[pos:])))
    return parts[0] if len(parts) == 1 else z3.Concat(*parts)


def value_matches(pattern: str, value: str, vary_ids: bool) -> bool:
    """The same test as ``value_re``, on concrete text (counterexample.confirm uses it)."""
    if not vary_ids:
        return pattern == value
    rx = "".join(
        re.escape(piece) if i % 2 == 0 else piece + r"-[0-9a-f]{8,17}"
        for i, piece in enumerate(ID.sub(lambda m: "\0" + m.group(1) + "\0", pattern).split("\0"))
    )
    return re.fullmatch(rx, value) is not None


def allowed_formula(x: Allowed, r: SymbolicRequest) -> z3.BoolRef:
    parts: list[z3.BoolRef] = [
        allowed_principal(x, r),
        r.action == z3.StringVal(x.action.lower()),
        r.resource == z3.StringVal(x.resource),
        r.has_boundary == x.has_boundary if x.has_boundary is not None else z3.BoolVal(True),
    ]
    if x.role_arn is not None:
        # The role, whether or not the engine knows its path: a session ARN alone is the same request to AWS.
        parts.append(role_is(x.role_arn, r))
    for name, kv in r.keys.items():
        if name in x.free or name in FREE_KEYS or name not in x.context or name in DERIVED_KEYS:
            continue  # the launch path leaves it free (any value, or none), or the caller and resource fix it
        parts.append(key_is(kv, x.context[name], x.vary_ids))
    return z3.And(*parts)


def allowed_principal(x: Allowed, r: SymbolicRequest) -> z3.BoolRef:
    session = None
    if x.vary_ids and "assumed-role/" in x.principal:
        # The service, or the caller, names a role's sessions, not the launch (assumption prove-launch-values).
        session = NAME
    return arn_is(x.principal, r, session)


def key_is(kv: KeyVar, values: tuple[str, ...], vary_ids: bool) -> z3.BoolRef:
    """The key is present with exactly these values (as a set, for a multivalued key)."""
    wanted = list(dict.fromkeys(values))
    if len(wanted) > (SET_BOUND if kv.multivalued else 1):
        return z3.BoolVal(False)  # not a request the model holds (assumption prove-set-bound)
    slots = list(kv.slots())
    out: list[z3.BoolRef] = [kv.present]
    if not kv.multivalued:
        out.append(kv.count == 1)
    each = [[_slot_is(kv, i, w, vary_ids) for w in wanted] for i in slots]
    for i in slots:
        out.append(z3.Implies(kv.count > i, z3.Or(*each[i]) if wanted else z3.BoolVal(False)))
    for j in range(len(wanted)):
        out.append(z3.Or(*(z3.And(kv.count > i, each[i][j]) for i in slots)))
    return z3.And(*out)


def _slot_is(kv: KeyVar, i: int, value: str, vary_ids: bool) -> z3.BoolRef:
    if kv.kind is Kind.STRING:
        return z3.InRe(kv.strings[i], value_re(value, vary_ids))
    parsed = parse_kind(kv, value)
    if parsed is None:
        return z3.Not(kv.valid[i])
    num, version = parsed
    out = [kv.valid[i], kv.numbers[i] == num]
    if kv.kind is Kind.IP:
        out.append(kv.versions[i] == version)
    return z3.And(*out)


def parse_kind(kv: KeyVar, value: str) -> tuple[int, int] | None:
    """(number in the key's representation, IP version) for a concrete value, None when it does not parse."""
    if kv.kind is Kind.NUMBER:
        d = _number(value)
        if d is None:
            return None
        scaled = d.scaleb(kv.scale)
        return (int(scaled), 0) if scaled == scaled.to_integral_value() else None
    if kv.kind is Kind.DATE:
        t = _instant(value)
        return None if t is None else (t, 0)
    try:
        a = ipaddress.ip_address(value)
    except ValueError:
        return None
    return int(a), a.version


def in_allowed(cex: Request, allowing: Sequence[Allowed]) -> bool:
    """Whether the request is one of the launch's, as prove._allowed_formula says."""
    for x in allowing:
        if x.vary_ids and "assumed-role/" in x.principal:
            if x.principal.rsplit("/", 1)[0] != cex.principal.rsplit("/", 1)[0]:
                continue
        elif not value_matches(x.principal, cex.principal, x.vary_ids):
            continue
        if x.action.lower() != cex.action.lower() or x.resource != cex.resource:
            continue
        if x.has_boundary is not None and x.has_boundary != cex.has_boundary:
            continue
        if x.role_arn is not None and (cex.role_arn or _default_role(cex)) != x.role_arn:
            continue
        if all(_same_values(cex.context.get(k), want, x.vary_ids) for k, want in _fixed(x)):
            return True
    return False


def _fixed(x: Allowed) -> list[tuple[str, tuple[str, ...]]]:
    """The keys a launch request fixes, with their values (allowed_formula's rule)."""
    return [
        (k, v) for k, v in sorted(x.context.items()) if k not in x.free and k not in FREE_KEYS and k not in DERIVED_KEYS
    ]


def _same_values(got: tuple[str, ...] | None, want: tuple[str, ...], vary_ids: bool) -> bool:
    if got is None:
        return False
    return all(any(value_matches(w, g, vary_ids) for w in want) for g in got) and all(
        any(value_matches(w, g, vary_ids) for g in got) for w in want
    )


def _default_role(cex: Request) -> str | None:
    try:
        return parse_principal(cex.principal).principal_arn
    except PrincipalError:
        return None


def differences(cex: Request, x: Allowed) -> list[str]:
    """How a request differs from one of the launch's, in what the launch fixes: caller, action, resource, and the
    values of the keys it carried."""
    out: list[str] = []
    same_caller = (
        cex.principal.rsplit("/", 1)[0] == x.principal.rsplit("/", 1)[0]
        if x.vary_ids and "assumed-role/" in x.principal
        else value_matches(x.principal, cex.principal, x.vary_ids)
    )
    if not same_caller:
        out.append(f"the caller {cex.principal}")
    if cex.action.lower() != x.action.lower():
        out.append(f"the action {cex.action}")
    if cex.resource != x.resource:
        out.append(f"the resource {cex.resource}")
    if x.has_boundary is not None and cex.has_boundary != x.has_boundary:
        out.append("a permissions boundary" if cex.has_boundary else "no permissions boundary")
    for k, want in _fixed(x):
        got = cex.context.get(k)
        if got is None:
            out.append(f"no {k} (the launch's: {'|'.join(want)})")
        elif not _same_values(got, want, x.vary_ids):
            shown = "|".join(got) if got else "(no values)"
            out.append(f"{k}={shown} (the launch's: {'|'.join(want)})")
    return out
