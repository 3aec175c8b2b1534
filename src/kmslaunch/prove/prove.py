"""The proof that a change grants nothing beyond what a launch needs.

For one document changed from BEFORE to AFTER, and the requests the launch makes (``Allowed``), z3 is asked for a
request, any caller, action, resource and context, such that

    AFTER applies no Deny  and  (BEFORE applies a Deny  or  AFTER names the caller more strongly than BEFORE)
    and the request is none of the launch's.

No such request (unsat) is the proof. Why it is enough for the whole decision: ``evaluate.authorize`` combines the
documents of a request monotonically. A Deny in any layer refuses; otherwise each layer counts by the strongest way
its applying Allow statements name the caller (match.ACCOUNT < ROLE < PRINCIPAL: a statement naming the caller
itself allows wherever one naming its role or account does, ``evaluate._conclude``), and more in a layer never
refuses what less allowed. So a document that, outside the launch's requests, neither drops a Deny that BEFORE
applied nor names the caller more strongly than BEFORE did, leaves every layer's contribution, and so every
decision, no more allowing than before, whatever the other documents are. This holds for key policies, identity
policies, permissions boundaries, session policies, SCPs and RCPs alike (assumption prove-per-document).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

import z3

from kmslaunch.policy.model import Policy

from .counterexample import Counterexample, confirm, from_model
from .encode import Unencodable, encode_policy, key_kinds
from .launch import Allowed, allowed_formula, allowed_principal, differences, key_is
from .request import Kind, SymbolicRequest, arn_is, new_request, role_is, unique_names

# How long z3 may search for one proof before the answer is "not proved: the solver gave up".
TIMEOUT_MS = 60_000
SCHEDULE = ((0, 0.15), (1, 0.15), (2, 0.15), (0, 0.55))  # (random seed, share of TIMEOUT_MS)
PREFER_MS = 300  # each preference a counterexample is made nearer with (_nearer)
PREFER_S = 1.5  # and all of them


@dataclass(frozen=True)
class Proof:
    """The outcome for one document. ``status``: proved | counterexample | not-proved | encoding-disagrees."""

    document: str
    status: str
    message: str
    counterexample: Counterexample | None = None
    seconds: float = 0.0
    allowing: tuple[str, ...] = ()
    # For a counterexample in a world: the whole decision (evaluate.authorize over every policy of the request)
    # before and after the change, in words.
    whole: str | None = None

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
            "whole_decision": self.whole,
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
    # Every user and role the world knows, with whether it has a permissions boundary: a fact, not a request's.
    boundaries: tuple[tuple[str, bool], ...] = ()

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
        for arn, has in self.boundaries:
            who = role_is(arn, r) if ":role/" in arn else arn_is(arn, r)
            out.append(z3.Implies(who, r.has_boundary == has))
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
        launch = [allowed_formula(x, r) for x in allowing]
    except Unencodable as exc:
        return Proof(after.name, "not-proved", f"not proved: {exc}", seconds=time.perf_counter() - started)
    solver = z3.Solver()
    solver.set("timeout", TIMEOUT_MS)
    solver.add(*cons)
    known = [x.principal for x in allowing] + [x.role_arn for x in allowing if x.role_arn]
    if scope is not None:
        solver.add(*scope.formula(r))
        known += [*scope.users, *scope.roles]
    solver.add(*unique_names(known, r))
    solver.add(z3.Not(a.deny), z3.Or(b_deny, a.level > b_level))
    if launch:
        solver.add(z3.Not(z3.Or(*launch)))
    # z3's string solver can stall on one random seed and answer at once on another: a few seeds are tried
    # briefly in turn, then the first again with the rest of the time.
    got = z3.unknown
    for seed, share in SCHEDULE:
        solver.set("random_seed", seed)
        got = _check(solver, TIMEOUT_MS / 1000 * share)
        if got != z3.unknown:
            break
    model = solver.model() if got == z3.sat else None
    if model is not None:
        model = _nearer(solver, model, r, allowing)
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
    near = next((x for x in allowing if x.action.lower() == cex.action.lower()), allowing[0] if allowing else None)
    if near is None:
        what = f"allows {cex.describe()}, which the document did not allow before"
    else:
        what = (
            f"allows {cex.action} by {cex.principal} on {cex.resource}, which is not the launch's {near.describe()}: "
            + ("; ".join(differences(cex, near)) or "it differs in a key the launch did not carry")
        )
    return Proof(after.name, "counterexample", what, cex, seconds, allowed_names)


def _nearer(solver: z3.Solver, model: z3.ModelRef, r: SymbolicRequest, allowing: Sequence[Allowed]) -> z3.ModelRef:
    """A counterexample as close to one of the launch's requests as z3 finds quickly: one preference at a time
    (the aws partition, no boundary, that request's caller, action, resource and context values, no other key),
    each kept when the request is still a counterexample with it. Only readability: any model is a counterexample."""
    prefs: list[z3.BoolRef] = [r.partition == z3.StringVal("aws"), z3.Not(r.has_boundary)]
    near = _nearest(model, r, allowing)
    if near is not None:
        prefs += [
            allowed_principal(near, r),
            r.action == z3.StringVal(near.action.lower()),
            r.resource == z3.StringVal(near.resource),
        ]
        for name, kv in sorted(r.keys.items()):
            if name in near.context:
                prefs.append(key_is(kv, near.context[name], near.vary_ids))
            else:
                prefs.append(z3.Not(kv.present))
    else:
        prefs += [z3.Not(kv.present) for _, kv in sorted(r.keys.items())]
    base = list(solver.assertions())
    kept: list[z3.BoolRef] = []
    deadline = time.perf_counter() + PREFER_S
    for p in prefs:
        if time.perf_counter() > deadline:
            break
        if z3.is_true(model.eval(p, model_completion=True)):
            kept.append(p)
            continue
        # A fresh solver each time: an interrupted check leaves z3's incremental state slow to use again.
        trial = z3.Solver()
        trial.add(*base, *kept, p)
        if _check(trial, PREFER_MS / 1000) == z3.sat:
            kept.append(p)
            model = trial.model()
    return model


def _check(solver: z3.Solver, seconds: float) -> z3.CheckSatResult:
    """``solver.check()`` within ``seconds``: z3's own timeout is not always kept by the string solver, an
    interrupt from another thread is (the check then answers unknown)."""
    solver.set("timeout", int(seconds * 1000))
    timer = threading.Timer(seconds + 0.5, solver.ctx.interrupt)
    timer.start()
    try:
        return solver.check()
    finally:
        timer.cancel()


def _nearest(model: z3.ModelRef, r: SymbolicRequest, allowing: Sequence[Allowed]) -> Allowed | None:
    action = str(model.eval(r.action, model_completion=True).as_string())
    return next((x for x in allowing if x.action.lower() == action), allowing[0] if allowing else None)
