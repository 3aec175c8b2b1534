"""AWS's authorization decision for one request, with the reasons when asked.

Encodes, in this order:
- "Policy evaluation logic" (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html):
  an explicit Deny in any policy wins; then every level of the organization path must allow through its SCPs
  and its RCPs; then resource-based policies, identity-based policies, permissions boundaries and session policies.
- "Cross-account policy evaluation logic"
  (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic-cross-account.html):
  a request to another account's resource needs both the resource policy and the caller's identity policies.
- KMS "Determining access to AWS KMS keys" (https://docs.aws.amazon.com/kms/latest/developerguide/determining-access.html)
  and "Key policies" (https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-overview.html): the key policy
  is required; IAM policies count only when the key policy allows the key's account (delegation); grants allow
  their operations to their grantee when the constraints hold, need no IAM permission, and never beat a Deny.

The fast path (``explain=False``) short-circuits and builds no reasons; ``explain=True`` looks at every
statement, records the ones that decided and the near misses (statements that failed on exactly one element).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache

from kmslaunch.policy.decision import (
    Decision,
    Element,
    Layer,
    NearMiss,
    StatementRef,
    Verdict,
)
from kmslaunch.policy.grants import Grant
from kmslaunch.policy.match import (
    ACCOUNT,
    BIT,
    PRINCIPAL,
    ROLE,
    Scan,
    denies_by_assumption,
    eval_fast,
    grants_for,
    ref,
    scan_explain,
)
from kmslaunch.policy.model import Effect, Policy, PolicyType
from kmslaunch.policy.principals import (
    Principal,
    PrincipalType,
)

Context = Mapping[str, tuple[str, ...]]

_LAYER_OF = {
    PolicyType.IDENTITY: Layer.IDENTITY_POLICY,
    PolicyType.KEY: Layer.KEY_POLICY,
    PolicyType.RESOURCE: Layer.RESOURCE_POLICY,
    PolicyType.PERMISSIONS_BOUNDARY: Layer.PERMISSIONS_BOUNDARY,
    PolicyType.SESSION: Layer.SESSION_POLICY,
    PolicyType.SCP: Layer.SCP,
    PolicyType.RCP: Layer.RCP,
    PolicyType.TRUST: Layer.RESOURCE_POLICY,
    PolicyType.VPC_ENDPOINT: Layer.VPC_ENDPOINT_POLICY,
}

# The KMS operations that work on a key of another account
# (https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-modifying-external-accounts.html).
_CROSS_ACCOUNT_KMS = frozenset(
    "kms:" + op.lower()
    for op in (
        "Decrypt",
        "Encrypt",
        "GenerateDataKey",
        "GenerateDataKeyPair",
        "GenerateDataKeyPairWithoutPlaintext",
        "GenerateDataKeyWithoutPlaintext",
        "GenerateMac",
        "ReEncryptFrom",
        "ReEncryptTo",
        "Sign",
        "Verify",
        "VerifyMac",
        "DeriveSharedSecret",
        "CreateGrant",
        "DescribeKey",
        "GetKeyRotationStatus",
        "GetPublicKey",
        "ListGrants",
        "RetireGrant",
        "RevokeGrant",
    )
)

# kms:RetireGrant is not governed by RCPs, even under "kms:*"
# (https://docs.aws.amazon.com/kms/latest/developerguide/resource-control-policies.html).
_RCP_EXEMPT_ACTIONS = frozenset({"kms:retiregrant"})


@dataclass(frozen=True, slots=True)
class Organization:
    """What evaluation needs to know of AWS Organizations: the management account is exempt from SCPs and RCPs
    (https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_scps.html)."""

    management_account: str | None = None
    org_id: str | None = None


@dataclass(frozen=True, slots=True)
class Request:
    """One API request as AWS authorizes it.

    ``context`` holds the request's own condition keys (lower-cased names, string values); the keys AWS
    derives from the caller and the resource are added by the evaluator, and ``context`` overrides them.
    ``encryption_context`` is the request's KMS encryption context, case preserved, for grant constraints.
    """

    principal: Principal
    action: str
    resource: str
    context: Context = field(default_factory=dict, hash=False)
    encryption_context: Mapping[str, str] | None = field(default=None, hash=False)


@dataclass(frozen=True, slots=True)
class PolicySet:
    """Every policy that takes part in one decision.

    ``scps`` and ``rcps`` list one entry per level of the organization path (root first, then each OU, then
    the account), each the policies attached there; an empty tuple means the account is in no organization.
    ``key_managed_by_aws`` exempts AWS managed keys from RCPs. ``resource_account`` defaults to the account in
    the resource ARN.
    """

    identity: tuple[Policy, ...] = ()
    resource: Policy | None = None
    boundary: Policy | None = None
    session: tuple[Policy, ...] = ()
    scps: tuple[tuple[Policy, ...], ...] = ()
    rcps: tuple[tuple[Policy, ...], ...] = ()
    grants: tuple[Grant, ...] = ()
    resource_account: str | None = None
    key_managed_by_aws: bool = False
    organization: Organization = field(default_factory=Organization)
    # The policy of the VPC endpoint the request comes through; None when it comes through none, or through one
    # with the default policy, which "allows full access"
    # (https://docs.aws.amazon.com/vpc/latest/privatelink/vpc-endpoints-access.html).
    vpc_endpoint: Policy | None = None
    # True where the resource policy must allow even in the caller's own account, as a role's trust policy must
    # for sts:AssumeRole (https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_terms-and-concepts.html).
    # KMS keys are always so.
    resource_policy_required: bool = False


@lru_cache(maxsize=4096)
def _principal_context(who: Principal, tags: tuple[tuple[str, str], ...]) -> dict[str, tuple[str, ...]]:
    # Keyed by the tags too: Principal's equality leaves them out. Never mutated: build_context copies it.
    return who.context()


@lru_cache(maxsize=65536)
def resource_account(arn: str) -> str | None:
    parts = arn.split(":", 5)
    if len(parts) == 6 and parts[4].isdigit():
        return parts[4]
    return None


@lru_cache(maxsize=65536)
def is_kms_key(action: str, resource: str) -> bool:
    """A request on a KMS key, which its key policy governs. KMS always authorizes against the key ARN (an alias
    in KeyId is resolved first); an alias ARN as the resource is CreateAlias/DeleteAlias/UpdateAlias's permission
    on the alias, which only IAM policies grant
    (https://docs.aws.amazon.com/kms/latest/developerguide/alias-access.html)."""
    return action[:4].lower() == "kms:" and ":kms:" in resource and ":key/" in resource


def owner_account(req: Request, ps: PolicySet) -> str | None:
    """The account that owns the resource: the PolicySet's, else the ARN's, else ``aws:ResourceAccount`` from the
    request context, for ARNs that carry no account (S3 buckets: ``arn:aws:s3:::bucket``). aws:ResourceAccount is
    "the AWS account ID of the resource owner"
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-resourceaccount)."""
    acct = ps.resource_account or resource_account(req.resource)
    if acct is None and req.context:
        given = req.context.get("aws:resourceaccount")
        if given:
            return given[0]
    return acct


def build_context(req: Request, ps: PolicySet) -> dict[str, tuple[str, ...]]:
    """The request context AWS evaluates with: keys derived from the caller and the resource, then the
    request's own keys on top."""
    who = req.principal
    ctx = dict(_principal_context(who, tuple(who.tags.items()) if who.tags else ()))
    acct = owner_account(req, ps)
    if acct:
        ctx["aws:resourceaccount"] = (acct,)
    if req.action[:4].lower() == "kms:" and req.principal.account:
        # kms:CallerAccount: "the AWS account of the principal that made the request"
        # (https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-caller-account)
        ctx["kms:calleraccount"] = (req.principal.account,)
    if req.encryption_context:
        for k, v in req.encryption_context.items():
            ctx["kms:encryptioncontext:" + k.lower()] = (v,)
        ctx["kms:encryptioncontextkeys"] = tuple(req.encryption_context)
    if req.context:
        ctx.update(req.context)
    return ctx


# The decision


def scps_apply(who: Principal, ps: PolicySet) -> bool:
    """SCPs limit principals of member accounts, but not service-linked roles, not the management account,
    and not service principals (https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_scps.html).
    The EC2 instance identity ``aws:ec2-infrastructure`` is subject to SCPs
    (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/iam-roles-for-amazon-ec2.html)."""
    if not ps.scps or who.type in (PrincipalType.SERVICE, PrincipalType.ANONYMOUS):
        return False
    if who.is_service_linked_role:
        return False
    return not (ps.organization.management_account and who.account == ps.organization.management_account)


def rcps_apply(req: Request, ps: PolicySet, action_l: str) -> bool:
    """RCPs limit requests to resources of member accounts; not AWS managed keys, not kms:RetireGrant, not
    service-linked roles (https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_rcps.html)."""
    if not ps.rcps or ps.key_managed_by_aws or action_l in _RCP_EXEMPT_ACTIONS:
        return False
    if req.principal.is_service_linked_role:
        return False
    acct = owner_account(req, ps)
    return not (ps.organization.management_account and acct == ps.organization.management_account)


@dataclass(slots=True)
class _Refs:
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


def _same_account(who: Principal, req: Request, ps: PolicySet) -> bool:
    # A resource whose owner is unknown (an ARN without an account, "*", and no aws:ResourceAccount) is decided
    # as the caller's own account.
    res_acct = owner_account(req, ps)
    return res_acct is None or who.account == res_acct


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
_ALLOWED = Decision(Verdict.ALLOWED)
# Principal types the conclusion tests on every request, bound once.
_ROOT, _SERVICE, _ANONYMOUS = PrincipalType.ACCOUNT, PrincipalType.SERVICE, PrincipalType.ANONYMOUS
_NO_PERMISSION = Decision(Verdict.ALLOWED, decided_by=(RULE_NO_PERMISSION,), explained=True)


def authorize(req: Request, ps: PolicySet, *, explain: bool = False) -> Decision:
    """Decide one request as AWS would. With ``explain``, the Decision carries the deciding statements and
    the near misses; without, it is computed from cached per-policy candidates and builds no reasons.
    Both paths gather the same contributions and share ``_conclude``, so they cannot disagree on the rules."""
    action_l = req.action.lower()
    if action_l in NO_PERMISSION_ACTIONS:
        return _NO_PERMISSION if explain else _ALLOWED
    if explain:
        return _authorize_explained(req, ps)
    ctx = build_context(req, ps)
    who = req.principal
    resource = req.resource
    hb = ps.boundary is not None
    deny_layers: list[Layer] = []
    missing: list[Layer] = []
    for levels, applies, layer in (
        (ps.scps, bool(ps.scps) and scps_apply(who, ps), Layer.SCP),
        (ps.rcps, bool(ps.rcps) and rcps_apply(req, ps, action_l), Layer.RCP),
    ):
        if not applies:
            continue
        # Every level of the organization path must allow; a Deny at any level denies.
        for level in levels:
            here = 0
            for pol in level:
                bits, denied = eval_fast(pol, action_l, resource, who, ctx, hb)
                here |= bits
                if denied and layer not in deny_layers:
                    deny_layers.append(layer)
            if not here and layer not in missing:
                missing.append(layer)
    if ps.vpc_endpoint is not None:
        # The endpoint policy must allow too, and its Deny is explicit (assumption vpc-endpoint-policy-evaluation).
        bits, denied = eval_fast(ps.vpc_endpoint, action_l, resource, who, ctx, hb)
        if denied:
            deny_layers.append(Layer.VPC_ENDPOINT_POLICY)
        elif not bits:
            missing.append(Layer.VPC_ENDPOINT_POLICY)
    res = 0
    if ps.resource is not None:
        res, denied = eval_fast(ps.resource, action_l, resource, who, ctx, hb)
        if denied:
            deny_layers.append(_LAYER_OF[ps.resource.type])
    # The root user has full access where no policy says otherwise: its identity side always allows.
    identity_ok = who.type is _ROOT
    for pol in ps.identity:
        bits, denied = eval_fast(pol, action_l, resource, who, ctx, hb)
        identity_ok = identity_ok or bool(bits)
        if denied and Layer.IDENTITY_POLICY not in deny_layers:
            deny_layers.append(Layer.IDENTITY_POLICY)
    boundary_ok = True
    if ps.boundary is not None:
        bits, denied = eval_fast(ps.boundary, action_l, resource, who, ctx, hb)
        boundary_ok = bool(bits)
        if denied:
            deny_layers.append(Layer.PERMISSIONS_BOUNDARY)
    session_ok = True
    if ps.session:
        session_ok = False
        for pol in ps.session:
            bits, denied = eval_fast(pol, action_l, resource, who, ctx, hb)
            session_ok = session_ok or bool(bits)
            if denied and Layer.SESSION_POLICY not in deny_layers:
                deny_layers.append(Layer.SESSION_POLICY)
    if deny_layers:
        return Decision(Verdict.EXPLICIT_DENY, denied_by=tuple(deny_layers))
    key = is_kms_key(req.action, resource)
    grants = 0
    if key and ps.grants:
        for _, pm in grants_for(
            ps.grants, who, req.encryption_context, action_l, None, ctx.get("kms:grantoperations", ())
        ):
            grants |= BIT[pm]
    same_account = _same_account(who, req, ps)
    return _conclude(
        res,
        grants,
        identity_ok,
        boundary_ok,
        session_ok,
        missing,
        key,
        same_account,
        action_l,
        None,
        None,
        needs_resource=ps.resource_policy_required,
        no_identity=who.type is _SERVICE or who.type is _ANONYMOUS,
    )


def _authorize_explained(req: Request, ps: PolicySet) -> Decision:
    ctx = build_context(req, ps)
    action_l = req.action.lower()
    who = req.principal
    hb = ps.boundary is not None
    near: list[NearMiss] = []
    refs = _Refs()
    deny_layers: list[Layer] = []

    def scan(policy: Policy, layer: Layer, resource_side: bool = False) -> tuple[int, list[StatementRef]]:
        out = Scan()
        scan_explain(policy, action_l, req.action, req.resource, who, ctx, out, near, hb)
        for d in out.denies:
            if layer not in deny_layers:
                deny_layers.append(layer)
            refs.deny.append(ref(policy, d))
            if not denies_by_assumption(d, who, hb):
                refs.denies_documented += 1
        bits = 0
        allowed: list[StatementRef] = []
        for st, pm in out.allows:
            bits |= BIT[pm]
            statement = ref(policy, st)
            allowed.append(statement)
            if resource_side:
                refs.resource.setdefault(BIT[pm], []).append(statement)
                if st.principal is not None and (st.principal.wildcard or st.not_principal):
                    refs.star.append(statement)
        return bits, allowed

    missing: list[Layer] = []
    for levels, applies, layer in (
        (ps.scps, scps_apply(who, ps), Layer.SCP),
        (ps.rcps, rcps_apply(req, ps, action_l), Layer.RCP),
    ):
        if not applies:
            continue
        for level in levels:
            here = 0
            for pol in level:
                bits, _ = scan(pol, layer)
                here |= bits
            if not here and layer not in missing:
                missing.append(layer)
    if ps.vpc_endpoint is not None:
        bits, _ = scan(ps.vpc_endpoint, Layer.VPC_ENDPOINT_POLICY)
        if not bits:
            missing.append(Layer.VPC_ENDPOINT_POLICY)
    res = 0
    if ps.resource is not None:
        res, _ = scan(ps.resource, _LAYER_OF[ps.resource.type], resource_side=True)
    identity_ok = False
    for pol in ps.identity:
        bits, allowed = scan(pol, Layer.IDENTITY_POLICY)
        identity_ok = identity_ok or bool(bits)
        refs.identity.extend(allowed)
    if who.type is PrincipalType.ACCOUNT:
        identity_ok = True
        refs.identity.append(RULE_ROOT_USER)
    boundary_ok = True
    if ps.boundary is not None:
        bits, allowed = scan(ps.boundary, Layer.PERMISSIONS_BOUNDARY)
        boundary_ok = bool(bits)
        refs.guards.extend(allowed)
    session_ok = True
    if ps.session:
        session_ok = False
        for pol in ps.session:
            bits, allowed = scan(pol, Layer.SESSION_POLICY)
            session_ok = session_ok or bool(bits)
            refs.guards.extend(allowed)
    if deny_layers:
        return Decision(
            Verdict.EXPLICIT_DENY,
            denied_by=tuple(deny_layers),
            decided_by=tuple(refs.deny),
            near_misses=_ordered(near),
            explained=True,
            # Denied only by a NotPrincipal that listed the caller without its account: that is the choice.
            assumptions=() if refs.denies_documented else ("notprincipal-without-account",),
        )
    key = is_kms_key(req.action, req.resource)
    grants = 0
    if key:
        for g, pm in grants_for(
            ps.grants, who, req.encryption_context, action_l, near, ctx.get("kms:grantoperations", ())
        ):
            grants |= BIT[pm]
            grant_ref = StatementRef("grant", g.grant_id, g.grant_id, 0, Effect.ALLOW)
            refs.grants.setdefault(BIT[pm], []).append(grant_ref)
            if who.account and g.grantee in (who.account, f"arn:{who.partition}:iam::{who.account}:root"):
                refs.account_grants.append(grant_ref)
    same_account = _same_account(who, req, ps)
    return _conclude(
        res,
        grants,
        identity_ok,
        boundary_ok,
        session_ok,
        missing,
        key,
        same_account,
        action_l,
        refs,
        near,
        needs_resource=ps.resource_policy_required,
        no_identity=who.type is _SERVICE or who.type is _ANONYMOUS,
    )


def _named(refs: _Refs | None, bits: int) -> list[StatementRef]:
    if refs is None:
        return []
    out: list[StatementRef] = []
    for b in (PRINCIPAL, ROLE, ACCOUNT):
        if bits & b:
            out += refs.resource.get(b, []) + refs.grants.get(b, [])
    return out


def _conclude(
    res: int,
    grants: int,
    identity_ok: bool,
    boundary_ok: bool,
    session_ok: bool,
    missing: list[Layer],
    key: bool,
    same_account: bool,
    action_l: str,
    refs: _Refs | None,
    near: list[NearMiss] | None,
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
    elif key and action_l not in _CROSS_ACCOUNT_KMS:
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
            return _ALLOWED  # immutable, and the same for every allowed request without reasons
        return Decision(
            Verdict.ALLOWED,
            decided_by=tuple(decided),
            near_misses=_ordered(near),
            explained=explain,
            assumptions=_rests_on(refs, decided, boundary_ok and session_ok, granted, grants),
        )

    missing = list(missing)
    # Implicit deny: name every layer that lacked an allow, in AWS's evaluation order.
    if not granted:
        if no_identity:
            missing.append(Layer.KEY_POLICY if key else Layer.RESOURCE_POLICY)
        elif key and not same_account and action_l not in _CROSS_ACCOUNT_KMS:
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
        near_misses=_ordered(near),
        explained=explain,
        partial=tuple(partial),
        assumptions=rests_on,
    )


def _rests_on(
    refs: _Refs, used: list[StatementRef], guards_ok: bool, granted: bool | None, grants: int
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


def _ordered(near: list[NearMiss] | None) -> tuple[NearMiss, ...]:
    if not near:
        return ()
    return tuple(sorted(near, key=lambda n: _MISS_ORDER[n.mismatch.element]))
