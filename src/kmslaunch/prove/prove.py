"""The proof that a change grants nothing beyond what a launch needs.

For one document changed from BEFORE to AFTER, and the requests the launch makes (``Allowed``), z3 is asked for a
request, any caller, action, resource and context, such that

    AFTER applies no Deny  and  (BEFORE applies a Deny  or  AFTER names the caller more strongly than BEFORE)
    and the request is none of the launch's.

No such request (unsat) is the proof. Why it is enough for the whole decision: ``evaluate.authorize`` combines the
documents of a request monotonically. A Deny in any layer refuses; otherwise each layer counts by the strongest way
its applying Allow statements name the caller (match.ACCOUNT < ROLE < PRINCIPAL: a statement naming the caller
itself allows wherever one naming its role or account does, ``evaluate._conclude``), and more in a layer never
refuses what less allowed. So a document that, outside the launch's requests, never applies without BEFORE's
Deny... nor names the caller more strongly, leaves every layer's contribution, and so every decision, no more
allowing than before, whatever the other documents are. This holds for key policies, identity policies,
permissions boundaries, session policies, SCPs and RCPs alike (assumption prove-per-document).
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import z3

from kmslaunch.policy.model import Policy

from .counterexample import Counterexample, confirm, from_model
from .encode import (
    NAME,
    SET_BOUND,
    KeyVar,
    Kind,
    SymbolicRequest,
    Unencodable,
    arn_is,
    encode_policy,
    key_kinds,
    new_request,
    role_is,
)

# How long z3 may search for one proof before the answer is "not proved: the solver gave up".
TIMEOUT_MS = 30_000
PREFER_MS = 1_000

# Ids the launch path makes anew for every launch: in a launch call's values each stands for any id of its kind
# (assumption prove-launch-values).
ID = re.compile(r"\b(i|vol|snap|ami|sir|fleet|lt|eni|r)-[0-9a-f]{8,17}\b")
# Condition keys whose values the launch path does not choose: when, and from where, the caller launches
# (assumption prove-launch-values).
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


@dataclass(frozen=True)
class Proof:
    """The outcome for one document. ``status``: proved | counterexample | not-proved | encoding-disagrees."""

    document: str
    status: str
    message: str
    counterexample: Counterexample | None = None
    seconds: float = 0.0
    allowing: tuple[str, ...] = ()

    @property
    def proved(self) -> bool:
        return self.status == "proved"

    def to_json(self) -> dict[str, object]:
        return {
            "document": self.document,
            "status": self.status,
            "proved": self.proved,
            "message": self.message,
            "counterexample": self.counterexample.to_json() if self.counterexample else None,
            "allowing": list(self.allowing),
            "seconds": round(self.seconds, 3),
        }


@dataclass(frozen=True)
class Scope:
    """Which requests a document is ever evaluated for: an identity policy only for its holders' (users by ARN,
    roles' sessions by role ARN), a key policy only for its key. Empty: every request."""

    users: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    resource: str | None = None
    has_boundary: bool | None = None  # whether the holders have a permissions boundary, where the world says

    def formula(self, r: SymbolicRequest) -> list[z3.BoolRef]:
        out: list[z3.BoolRef] = []
        holders = [arn_is(u, r) for u in self.users] + [role_is(x, r) for x in self.roles]
        if holders:
            out.append(z3.Or(*holders))
        if self.resource is not None:
            out.append(r.resource == z3.StringVal(self.resource))
            parts = self.resource.split(":", 5)
            kv = r.keys.get("aws:resourceaccount")
            if kv is not None and kv.kind is Kind.STRING and len(parts) == 6 and parts[4].isdigit():
                # The key's account, as the engine derives it (evaluate.owner_account).
                out.append(z3.And(kv.count == 1, kv.strings[0] == z3.StringVal(parts[4])))
        if self.has_boundary is not None:
            out.append(r.has_boundary == self.has_boundary)
        return out

    def describe(self) -> str:
        parts = []
        if self.users or self.roles:
            parts.append("for " + ", ".join((*self.users, *self.roles)))
        if self.resource:
            parts.append("on " + self.resource)
        return " ".join(parts)


def prove_document(
    before: Policy | None, after: Policy, allowing: Sequence[Allowed] = (), scope: Scope | None = None
) -> Proof:
    """Prove that ``after`` allows nothing ``before`` does not, apart from the ``allowing`` requests, for every
    request in ``scope``. ``before`` None: the document is new (it had no statements)."""
    started = time.perf_counter()
    docs = [after] if before is None else [before, after]
    allowed_names = tuple(a.describe() for a in allowing)
    try:
        extra = {k for a in allowing for k in a.context}
        kinds = key_kinds(docs)
        keys = {**{k: v for k, v in key_kinds([], extra).items() if k not in kinds}, **kinds}
        # Keys the launch sets are in the model even where no document reads them: they tell its requests apart.
        r, cons = new_request(keys)
        a = encode_policy(after, r)
        if before is None:
            b_level: z3.ArithRef = z3.IntVal(0)
            b_deny: z3.BoolRef = z3.BoolVal(False)
        else:
            fb = encode_policy(before, r)
            b_level, b_deny = fb.level, fb.deny
        launch = [_allowed_formula(x, r) for x in allowing]
    except Unencodable as exc:
        return Proof(after.name, "not-proved", f"not proved: {exc}", seconds=time.perf_counter() - started)
    solver = z3.Solver()
    solver.set("timeout", TIMEOUT_MS)
    solver.add(*cons)
    if scope is not None:
        solver.add(*scope.formula(r))
    solver.add(z3.Not(a.deny), z3.Or(b_deny, a.level > b_level))
    if launch:
        solver.add(z3.Not(z3.Or(*launch)))
    got = solver.check()
    model = solver.model() if got == z3.sat else None
    if model is not None:
        # A counterexample close to the launch's requests reads better: look for one briefly, else keep the first.
        solver.set("timeout", PREFER_MS)
        if solver.check(*_preferences(r, allowing)) == z3.sat:
            model = solver.model()
    seconds = time.perf_counter() - started
    beyond = "the launch's own requests" if allowing else "what the document allowed before"
    if got == z3.unsat:
        return Proof(after.name, "proved", f"proved: grants nothing beyond {beyond}", None, seconds, allowed_names)
    if got == z3.unknown:
        why = solver.reason_unknown()
        return Proof(after.name, "not-proved", f"not proved: the solver gave up ({why})", None, seconds, allowed_names)
    assert model is not None
    cex = from_model(model, r)
    agrees, note = confirm(cex, before, after, allowing)
    seconds = time.perf_counter() - started
    if not agrees:
        return Proof(after.name, "encoding-disagrees", f"encoding disagrees: {note}", cex, seconds, allowed_names)
    return Proof(
        after.name,
        "counterexample",
        f"allows {cex.describe()}, which {beyond} do not include",
        cex,
        seconds,
        allowed_names,
    )


def _preferences(r: SymbolicRequest, allowing: Sequence[Allowed]) -> list[z3.BoolRef]:
    prefs: list[z3.BoolRef] = [
        r.partition == z3.StringVal("aws"),
        z3.Not(r.has_boundary),
    ]
    if allowing:
        prefs.append(z3.Or(*(r.resource == z3.StringVal(x.resource) for x in allowing)))
    return prefs


# ---------------------------------------------------------------------------------------------------------
# The launch's requests as formulas


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


def _allowed_formula(x: Allowed, r: SymbolicRequest) -> z3.BoolRef:
    parts: list[z3.BoolRef] = [
        _principal_is(x, r),
        r.action == z3.StringVal(x.action.lower()),
        r.resource == z3.StringVal(x.resource),
        r.has_boundary == x.has_boundary if x.has_boundary is not None else z3.BoolVal(True),
        r.role_path_known == x.role_path_known,
    ]
    if x.role_arn is not None:
        parts.append(role_is(x.role_arn, r))
    for name, kv in r.keys.items():
        if name in x.free or name in FREE_KEYS or name not in x.context:
            continue  # the launch path leaves it free: any value, or none
        parts.append(_key_is(kv, x.context[name], x.vary_ids))
    return z3.And(*parts)


def _principal_is(x: Allowed, r: SymbolicRequest) -> z3.BoolRef:
    session = None
    if x.vary_ids and "assumed-role/" in x.principal:
        # The service, or the caller, names a role's sessions, not the launch (assumption prove-launch-values).
        session = NAME
    return arn_is(x.principal, r, session)


def _key_is(kv: KeyVar, values: tuple[str, ...], vary_ids: bool) -> z3.BoolRef:
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
    from .counterexample import parse_kind  # noqa: PLC0415

    parsed = parse_kind(kv, value)
    if parsed is None:
        return z3.Not(kv.valid[i])
    num, version = parsed
    out = [kv.valid[i], kv.numbers[i] == num]
    if kv.kind is Kind.IP:
        out.append(kv.versions[i] == version)
    return z3.And(*out)
