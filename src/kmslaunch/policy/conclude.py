"""The conclusion of a decision: allowed or implicitDeny from what each layer contributed, the statements
behind it when explaining, and the assumptions it rests on. Shared by every way of gathering the contributions
(``plan`` for decisions, ``scan`` for the statement-by-statement reference), so they cannot disagree on the
rules. The rules are those of "Policy evaluation logic"
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html), cross-account
evaluation (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic-cross-account.html)
and KMS key policies (https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-overview.html).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kmslaunch.policy.decision import Decision, Element, Layer, NearMiss, NearMisses, StatementRef, Verdict
from kmslaunch.policy.match import ACCOUNT, PRINCIPAL, ROLE
from kmslaunch.policy.model import Effect
from kmslaunch.policy.request import CROSS_ACCOUNT_KMS


@dataclass(slots=True)
class Refs:
    """The statements behind each contribution, kept only when explaining."""

    deny: list[StatementRef] = field(default_factory=list)
    resource: dict[int, list[StatementRef]] = field(default_factory=dict)
    grants: dict[int, list[StatementRef]] = field(default_factory=dict)
    identity: list[StatementRef] = field(default_factory=list)
    guards: list[StatementRef] = field(default_factory=list)  # boundary and session allows
    # Resource-policy allows that named the caller only through Principal "*" (or NotPrincipal), and grants to
    # an account: what the assumptions a decision rests on are read from.
    star: list[StatementRef] = field(default_factory=list)
    account_grants: list[StatementRef] = field(default_factory=list)
    # Deny statements that applied without assumption notprincipal-without-account.
    denies_documented: int = 0


# Rules of AWS's own that decide without a policy statement; reasons name them (layer "rule").
RULE_NO_PERMISSION = StatementRef(
    "rule",
    "no-permission-required",
    "sts:GetCallerIdentity needs no permission and cannot be denied",
    0,
    Effect.ALLOW,
)
RULE_ROOT_USER = StatementRef(
    "rule", "root-user", "the account's root user has full access where no policy says otherwise", 0, Effect.ALLOW
)
# "No permissions are required to perform this operation. If an administrator attaches a policy to your identity
# that explicitly denies access to the sts:GetCallerIdentity action, you can still perform this operation"
# (https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html).
NO_PERMISSION_ACTIONS = frozenset({"sts:getcalleridentity"})
ALLOWED = Decision(Verdict.ALLOWED)
NO_PERMISSION = Decision(Verdict.ALLOWED, decided_by=(RULE_NO_PERMISSION,), explained=True)


def _named(refs: Refs | None, bits: int) -> list[StatementRef]:
    if refs is None:
        return []
    out: list[StatementRef] = []
    for b in (PRINCIPAL, ROLE, ACCOUNT):
        if bits & b:
            out += refs.resource.get(b, []) + refs.grants.get(b, [])
    return out


def conclude(
    res: int,
    grants: int,
    identity_ok: bool,
    boundary_ok: bool,
    session_ok: bool,
    missing: list[Layer],
    key: bool,
    same_account: bool,
    action_l: str,
    refs: Refs | None,
    near: NearMisses,
    *,
    needs_resource: bool,
    no_identity: bool,
) -> Decision:
    """Allowed or implicitDeny, from what each layer contributed (``res`` and ``grants`` are bits of how the
    resource policy's allows and the grants named the caller). ``no_identity``: a service principal or an
    anonymous caller, which have no identity policies."""
    # A KMS key's policy, or a role's trust policy, must allow: IAM policies alone never do.
    needs_resource = needs_resource or key
    both = res | grants
    direct = both & PRINCIPAL
    role = both & ROLE
    account = both & ACCOUNT
    identity_side = identity_ok and boundary_ok and session_ok
    explain = refs is not None

    def named(bits: int) -> list[StatementRef]:
        return _named(refs, bits)

    identity_refs = refs.identity if refs is not None else []
    granted = False
    decided: list[StatementRef] = []
    if no_identity:
        # A service principal (or an anonymous caller) has no identity-based policies: a resource policy, key
        # policy or trust policy that names it allows on its own, as a service's access to a key or a role is
        # granted ("Principal": {"Service": "logs.us-east-1.amazonaws.com"})
        # (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html#principal-services).
        if direct:
            granted, decided = True, named(PRINCIPAL)
    elif same_account:
        # Same account: a resource policy naming the user or session is enough by itself; naming the role is
        # limited by boundary and session policies; naming the account only delegates to IAM.
        if direct:
            granted, decided = True, named(PRINCIPAL)
        elif role and boundary_ok and session_ok:
            granted, decided = True, named(ROLE)
        elif (account or not needs_resource) and identity_side:
            granted, decided = True, named(ACCOUNT) + identity_refs
    elif key and action_l not in CROSS_ACCOUNT_KMS:
        # Only these operations work on another account's key, whatever the policies say
        # (https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-modifying-external-accounts.html).
        pass
    # Cross account: both sides must allow — except grants, which need no IAM permission of the grantee.
    elif grants & (PRINCIPAL | ROLE) and ((boundary_ok and session_ok) or grants & PRINCIPAL):
        granted = True
        if refs is not None:
            decided = refs.grants.get(PRINCIPAL, []) + refs.grants.get(ROLE, [])
    elif both and identity_side:
        granted, decided = True, named(PRINCIPAL | ROLE | ACCOUNT) + identity_refs

    if granted and not missing:
        if refs is None:
            return ALLOWED  # immutable, and the same for every allowed request without reasons
        return Decision(
            Verdict.ALLOWED,
            decided_by=tuple(decided),
            near=near,
            explained=explain,
            assumptions=_rests_on(refs, decided, boundary_ok and session_ok, granted, grants),
        )

    missing = list(missing)
    # Implicit deny: name every layer that lacked an allow, in AWS's evaluation order.
    if not granted:
        if no_identity:
            missing.append(Layer.KEY_POLICY if key else Layer.RESOURCE_POLICY)
        elif key and not same_account and action_l not in CROSS_ACCOUNT_KMS:
            missing.append(Layer.KEY_POLICY)
        elif needs_resource or not same_account:
            if not both:
                missing.append(Layer.KEY_POLICY if key else Layer.RESOURCE_POLICY)
            elif (not same_account or (account and not (direct or role))) and not identity_ok:
                missing.append(Layer.IDENTITY_POLICY)
        elif not identity_ok and not direct:
            missing.append(Layer.IDENTITY_POLICY)
        if identity_ok or role or (not needs_resource and same_account):
            if not boundary_ok:
                missing.append(Layer.PERMISSIONS_BOUNDARY)
            if not session_ok:
                missing.append(Layer.SESSION_POLICY)
        if not missing:
            missing.append(Layer.IDENTITY_POLICY)
    partial: list[StatementRef] = []
    rests_on: tuple[str, ...] = ()
    if refs is not None:
        partial = named(PRINCIPAL | ROLE | ACCOUNT) + refs.identity + refs.guards
        rests_on = _rests_on(refs, partial, boundary_ok and session_ok, None if granted else False, grants)
    return Decision(
        Verdict.IMPLICIT_DENY,
        denied_by=tuple(missing),
        near=near,
        explained=explain,
        partial=tuple(partial),
        assumptions=rests_on,
    )


def _rests_on(
    refs: Refs, used: list[StatementRef], guards_ok: bool, granted: bool | None, grants: int
) -> tuple[str, ...]:
    """The assumptions (``kmslaunch.assumptions``) without which this verdict could differ: only choices that
    mattered, so an allow that a statement naming the caller gives anyway rests on none. ``granted`` is None
    when the verdict does not depend on the resource and identity side (an SCP or RCP refused). Explained
    path only."""
    out: list[str] = []
    if not guards_ok and granted is not None:
        # A boundary or session policy did not allow: the verdict turns on what escapes them.
        if granted:
            # Allowed past them only by statements that named the caller through "*", or by grants: no
            # statement naming the user or session itself, which AWS documents as escaping them.
            if not any(r.layer != "grant" and r not in refs.star for r in used):
                if any(r in refs.star for r in used):
                    # assumption principal-star-resource-policy-vs-boundary
                    out.append("principal-star-resource-policy-vs-boundary")
                if any(r.layer == "grant" for r in used):
                    out.append("grants-and-boundaries")  # assumption grants-and-boundaries
        elif grants & ROLE:
            # A grant to the caller's role, held back by the boundary (assumption grants-and-boundaries).
            out.append("grants-and-boundaries")
    if any(r in refs.account_grants for r in used):
        out.append("grant-to-account")  # assumption grant-to-account
    return tuple(out)


# Near misses on a condition or principal say more than one on an action another statement was written for.
_MISS_ORDER = {
    Element.CONDITION: 0,
    Element.CONSTRAINT: 0,
    Element.PRINCIPAL: 1,
    Element.GRANTEE: 1,
    Element.RESOURCE: 2,
    Element.OPERATION: 3,
    Element.ACTION: 3,
}


def order_near_misses(near: list[NearMiss] | None) -> tuple[NearMiss, ...]:
    if not near:
        return ()
    return tuple(sorted(near, key=lambda n: _MISS_ORDER[n.mismatch.element]))
