"""One request and the policies that take part in it, and the request context AWS evaluates it with.

The values ``kmslaunch.policy.evaluate.authorize`` decides: a ``Request`` (caller, action, resource, condition
keys) and a ``PolicySet`` (every policy on the path: identity, resource or key policy, boundary, session
policies, each level's SCPs and RCPs, grants). Also the facts about them the decision rests on and that do not
depend on any statement: which account owns the resource, whether SCPs and RCPs govern this caller.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from kmslaunch.policy.decision import Layer
from kmslaunch.policy.grants import Grant
from kmslaunch.policy.model import Policy, PolicyType
from kmslaunch.policy.principals import Principal, PrincipalType

Context = Mapping[str, tuple[str, ...]]

LAYER_OF = {
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
CROSS_ACCOUNT_KMS = frozenset(
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
    # Compiled plans (``kmslaunch.policy.plan``) by caller, action and resource, filled on first use. Not an init
    # field, so that ``dataclasses.replace`` gives a changed set a cache of its own; not part of equality.
    _plans: dict[tuple[object, ...], Any] = field(
        default_factory=dict, init=False, compare=False, repr=False, hash=False
    )


@lru_cache(maxsize=4096)
def principal_context(who: Principal, tags: tuple[tuple[str, str], ...]) -> dict[str, tuple[str, ...]]:
    """The keys AWS derives from the caller (``Principal.context``), cached; never mutate the result."""
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
    ctx = dict(principal_context(who, tuple(who.tags.items()) if who.tags else ()))
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


def is_same_account(who: Principal, req: Request, ps: PolicySet) -> bool:
    """Whether the caller is of the account that owns the resource."""
    # A resource whose owner is unknown (an ARN without an account, "*", and no aws:ResourceAccount) is decided
    # as the caller's own account.
    res_acct = owner_account(req, ps)
    return res_acct is None or who.account == res_acct
