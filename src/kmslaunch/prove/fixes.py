"""Proofs for the doctor's fixes: which documents a fix changes (the world before and after it, compared), and the
proof for each against the requests of the launch that verified the fix (doctor/rounds.py)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from kmslaunch.doctor.fixes import Fix, FixPlan
from kmslaunch.launch.result import LaunchResult
from kmslaunch.policy.evaluate import build_context
from kmslaunch.policy.model import Policy
from kmslaunch.policy.principals import PrincipalError, PrincipalType, parse_principal
from kmslaunch.world.authz import authorize_in_world
from kmslaunch.world.fork import fork
from kmslaunch.world.world import World

from .counterexample import Counterexample
from .launch import Allowed
from .prove import Proof, Scope, prove_document


@dataclass(frozen=True)
class FixProof:
    """The proofs for one fix: one per document it changes, and what it changes that no proof covers."""

    fix: Fix
    proofs: tuple[Proof, ...]

    @property
    def proved(self) -> bool:
        return all(p.proved for p in self.proofs)

    @property
    def status(self) -> str:
        for status in ("encoding-disagrees", "counterexample", "not-proved"):
            if any(p.status == status for p in self.proofs):
                return status
        return "proved"

    def lines(self) -> list[str]:
        out = []
        for p in self.proofs:
            out.append(f"[{self.fix.kind}] {self.fix.target}: {p.document}: {p.message}")
        return out

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "proved": self.proved, "documents": [p.to_json() for p in self.proofs]}


Place = tuple[str, ...]


def documents(world: World) -> dict[Place, object]:
    """Every policy document, boundary attachment, grant list and key state of the world, by where it lives."""
    out: dict[Place, object] = {}
    for acct_id, acct in world.accounts.items():
        iam = acct.iam
        for kind, holders in (("user", iam.users), ("role", iam.roles), ("group", iam.groups)):
            for h in holders.values():
                for name, doc in h.inline.items():
                    out[("inline", kind, h.arn, name)] = doc.policy
                boundary = getattr(h, "boundary_arn", None)
                if boundary is not None:
                    out[("boundary-of", h.arn)] = boundary
                out[("attached", h.arn)] = tuple(h.attached)
        for arn, mp in iam.policies.items():
            out[("managed", arn)] = mp.document.policy
        for region in acct.regions.values():
            for key in region.kms.keys.values():
                out[("key-policy", key.arn)] = key.policy.policy
                out[("grants", key.arn)] = tuple(sorted(repr(g) for g in key.grants))
                out[("key-state", key.arn)] = key.state
        del acct_id
    for pid, pol in world.organization.policies.items():
        out[("org", pid)] = pol.document.policy
    out[("org-attachments",)] = repr(sorted((k, tuple(v)) for k, v in world.organization.attachments.items()))
    return out


def allowed_requests(result: LaunchResult | None) -> tuple[Allowed, ...]:
    """The launch's KMS calls as the verifying simulation made them, with the context each was decided with."""
    if result is None:
        return ()
    out: list[Allowed] = []
    for c in result.calls:
        req, ps = c.authorized.request, c.authorized.policies
        who = req.principal
        out.append(
            Allowed(
                principal=who.arn,
                role_arn=who.principal_arn if who.type is PrincipalType.ASSUMED_ROLE else None,
                role_path_known=who.role_path_known,
                has_boundary=ps.boundary is not None,
                action=req.action,
                resource=req.resource,
                context=build_context(req, ps),
                vary_ids=True,
            )
        )
    unique: dict[str, Allowed] = {}
    for a in out:  # a launch makes the same call for several volumes: one request each is enough
        unique.setdefault(repr(a), a)
    return tuple(unique.values())


def prove_fix(pristine: World, plan: FixPlan, fix: Fix) -> FixProof:
    """Prove one fix of a plan: the documents it changes, each against the launch's requests."""
    if fix.apply is None:
        note = "nothing to prove: the fix changes the launch, not a policy"
        return FixProof(fix, (Proof(fix.target, "proved", note),))
    world = fork(pristine)
    before = documents(world)
    fix.apply(world)
    after = documents(world)
    allowing = allowed_requests(plan.after)
    proofs: list[Proof] = []
    for place in sorted(set(before) | set(after)):
        b, a = before.get(place), after.get(place)
        if b == a:
            continue
        proof = _prove_place(place, b, a, allowing, _scope(pristine, place))
        if proof.counterexample is not None:
            proof = dataclasses.replace(proof, whole=whole_decision(pristine, world, proof.counterexample))
        proofs.append(proof)
    if not proofs:
        proofs.append(Proof(fix.target, "proved", "proved: the fix changes no policy, grant or key state"))
    return FixProof(fix, tuple(proofs))


def whole_decision(before: World, after: World, cex: Counterexample) -> str:
    """The counterexample decided by ``evaluate.authorize`` over every policy of the request, in the world before
    and after the fix: whether this account lets it through, or another of its policies still refuses it."""
    try:
        who = parse_principal(cex.principal, role_arn=cex.role_arn)
    except PrincipalError as exc:  # pragma: no cover - confirm() already parsed it
        return f"not decided: {exc}"
    words = []
    for name, world in (("before", before), ("after", after)):
        key = world.key_by_arn(cex.resource)
        d = authorize_in_world(world, who, cex.action, cex.resource, key=key, context=cex.context, explain=False)
        verdict = d.decision.verdict.value
        by = ", ".join(x.value for x in d.decision.denied_by)
        words.append(f"{name}: {verdict}" + (f" by {by}" if by else ""))
    return "; ".join(words)


def _scope(world: World, place: Place) -> Scope:
    """The requests a changed document is evaluated for: its holders' (an inline policy) or its key's; and, for
    every user and role of the world, whether it has a permissions boundary."""
    boundaries: dict[str, bool] = {}
    for acct in world.accounts.values():
        boundaries.update({u.arn: u.boundary_arn is not None for u in acct.iam.users.values()})
        boundaries.update({x.arn: x.boundary_arn is not None for x in acct.iam.roles.values()})
    known = tuple(sorted(boundaries.items()))
    if place[0] == "key-policy":
        return Scope(resource=place[1], boundaries=known)
    if place[0] != "inline":
        return Scope(boundaries=known)  # a managed policy, an SCP or RCP: every request
    kind, arn = place[1], place[2]
    boundary = boundaries.get(arn)
    if kind == "user":
        return Scope(users=(arn,), has_boundary=boundary, boundaries=known)
    if kind == "role":
        return Scope(roles=(arn,), has_boundary=boundary, boundaries=known)
    users = tuple(
        u.arn for acct in world.accounts.values() for u in acct.iam.users.values() if arn.rsplit("/", 1)[-1] in u.groups
    )
    return Scope(users=users, boundaries=known)


def _prove_place(place: Place, b: object, a: object, allowing: tuple[Allowed, ...], scope: Scope | None) -> Proof:
    kind = place[0]
    name = " ".join(place[1:]) or kind
    if isinstance(a, Policy) and (b is None or isinstance(b, Policy)):
        return prove_document(b, a, allowing, scope)
    if a is None and isinstance(b, Policy):
        # A document removed: what it allowed is gone; what it denied is not claimed here.
        if any(st.effect.value == "Deny" for st in b.statements):
            return Proof(name, "not-proved", f"not proved: the fix removes {name}, which holds Deny statements")
        return Proof(name, "proved", "proved: the fix removes a document without Deny statements, which only limits")
    if kind == "boundary-of" and b is None:
        # A boundary only limits (evaluate._conclude: boundary_ok), and a NotPrincipal Deny denies more with one.
        return Proof(name, "proved", "proved: attaching a permissions boundary only limits")
    what = {
        "grants": "adds or changes a grant, which the proof does not encode",
        "key-state": "changes the key's state, which allows whatever the key's policies already allow",
        "attached": "changes the managed policies attached",
        "boundary-of": "replaces a permissions boundary",
        "org-attachments": "changes where organization policies are attached",
    }.get(kind, "changes something the proof does not encode")
    return Proof(name, "not-proved", f"not proved: the fix {what}")
