"""AWS Organizations: enough of it to put accounts in a tree and attach service and resource control policies, which
evaluation then applies (world/authz.py).

Only the management account may change the organization or read its policies; a member may describe it
(https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_accounts_access.html). As AWS does when a
policy type is enabled, its AWS managed full-access policy (FullAWSAccess, RCPFullAWSAccess) is attached to the root,
every OU and every account, and to each OU and account created afterwards
(https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_scps.html). Here CreateOrganization
enables service control policies at once, so that an SCP story needs no extra step.

What the endpoint's store cannot keep (it keeps the world as a snapshot, which has no place for them): OU names and
account names and emails are answered from the request that created them and not stored.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from kmslaunch.policy.errors import PolicyValidationError
from kmslaunch.policy.model import PolicyType
from kmslaunch.world.documents import Document
from kmslaunch.world.iam import Role
from kmslaunch.world.organizations import RCP, SCP, Organization, OrgPolicy

from .base import ApiError, Ctx, Handler, required
from .iam import aws_managed, policy_resource

_FULL_ACCESS = {
    # https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_scps.html ("FullAWSAccess")
    SCP: (
        "p-FullAWSAccess",
        "FullAWSAccess",
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]},
    ),
    # https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_rcps.html ("RCPFullAWSAccess")
    RCP: (
        "p-RCPFullAWSAccess",
        "RCPFullAWSAccess",
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}],
        },
    ),
}
_POLICY_TYPES = {SCP: PolicyType.SCP, RCP: PolicyType.RCP}
_ARN_KIND = {SCP: "service_control_policy", RCP: "resource_control_policy"}
ACCESS_ROLE = "OrganizationAccountAccessRole"
ADMINISTRATOR_ACCESS = "arn:aws:iam::aws:policy/AdministratorAccess"


def _org(ctx: Ctx) -> Organization:
    return ctx.world.organization


def _in_use(ctx: Ctx) -> Organization:
    """The organization the caller's account belongs to, or AWS's error for an account outside any."""
    org = _org(ctx)
    if org.org_id is None or (ctx.account != org.management_account and ctx.account not in org.parents):
        raise ApiError("AWSOrganizationsNotInUseException", "Your account is not a member of an organization.")
    return org


def _management(ctx: Ctx) -> Organization:
    org = _in_use(ctx)
    if ctx.account != org.management_account:
        raise ApiError(
            "AccessDeniedException",
            "You don't have permissions to access this resource. This operation can be called only from the "
            "organization's management account.",
        )
    return org


def _arn(org: Organization, what: str) -> str:
    return f"arn:aws:organizations::{org.management_account}:{what}"


def _token(ctx: Ctx, kind: str, n: int) -> str:
    """``n`` lowercase hex characters from the world's id generator (repeatable under a seed)."""
    return ctx.world.ids.unique_id(kind)[len(kind) :].lower()[:n]


def _root_out(org: Organization) -> dict[str, Any]:
    enabled = [k for k in (SCP, RCP) if _FULL_ACCESS[k][0] in org.policies]
    return {
        "Id": org.root_id,
        "Arn": _arn(org, f"root/{org.org_id}/{org.root_id}"),
        "Name": "Root",
        "PolicyTypes": [{"Type": k, "Status": "ENABLED"} for k in enabled],
    }


def _org_out(org: Organization) -> dict[str, Any]:
    mgmt = org.management_account
    return {
        "Id": org.org_id,
        "Arn": _arn(org, f"organization/{org.org_id}"),
        "FeatureSet": "ALL",
        "MasterAccountArn": _arn(org, f"account/{org.org_id}/{mgmt}"),
        "MasterAccountId": mgmt,
        "MasterAccountEmail": f"{mgmt}@example.com",
        "AvailablePolicyTypes": [{"Type": SCP, "Status": "ENABLED"}],
    }


def _policy_arn(org: Organization, pol: OrgPolicy) -> str:
    if pol.aws_managed:
        return f"arn:aws:organizations::aws:policy/{_ARN_KIND[pol.type]}/{pol.policy_id}"
    return _arn(org, f"policy/{org.org_id}/{_ARN_KIND[pol.type]}/{pol.policy_id}")


def _summary(pol: OrgPolicy) -> dict[str, Any]:
    return {
        "Id": pol.policy_id,
        "Arn": pol.arn,
        "Name": pol.name,
        "Description": pol.description,
        "Type": pol.type,
        "AwsManaged": pol.aws_managed,
    }


def _targets(org: Organization) -> list[str]:
    """The root, then every OU and account under it."""
    return [org.root_id or "", *sorted(org.parents)]


def _enable(org: Organization, kind: str) -> None:
    """Enable a policy type: its full-access policy, attached everywhere."""
    pid, name, doc = _FULL_ACCESS[kind]
    pol = OrgPolicy(
        pid, name, kind, Document.parse(doc, _POLICY_TYPES[kind], name), "", True, "Allows access to every operation"
    )
    pol.arn = _policy_arn(org, pol)
    org.policies[pid] = pol
    for target in _targets(org):
        org.attachments.setdefault(target, [])
        if pid not in org.attachments[target]:
            org.attachments[target].append(pid)


def _place(org: Organization, child: str, parent: str) -> None:
    """Put a new OU or account under ``parent`` with the full-access policy of each enabled type."""
    org.parents[child] = parent
    org.attachments[child] = [pid for pid, _, _ in _FULL_ACCESS.values() if pid in org.policies]


def _kind_of_target(org: Organization, target: str) -> str:
    if target == org.root_id:
        return "ROOT"
    return "ORGANIZATIONAL_UNIT" if target.startswith("ou-") else "ACCOUNT"


def _target_arn(org: Organization, target: str) -> str:
    kind = _kind_of_target(org, target)
    if kind == "ROOT":
        return _arn(org, f"root/{org.org_id}/{target}")
    if kind == "ORGANIZATIONAL_UNIT":
        return _arn(org, f"ou/{org.org_id}/{target}")
    return _arn(org, f"account/{org.org_id}/{target}")


def _check_target(org: Organization, target: str) -> None:
    if target != org.root_id and target not in org.parents:
        raise ApiError(
            "TargetNotFoundException",
            "We can't find a root, OU, account, or policy with the TargetId that you specified.",
        )


def _check_parent(org: Organization, parent: str, error: str = "ParentNotFoundException") -> None:
    if parent != org.root_id and not (parent.startswith("ou-") and parent in org.parents):
        raise ApiError(error, "We can't find a root or OU with the ParentId that you specified.")


def _policy_of(org: Organization, pid: str) -> OrgPolicy:
    pol = org.policies.get(pid)
    if pol is None:
        raise ApiError("PolicyNotFoundException", "We can't find a policy with the PolicyId that you specified.")
    return pol


# -- the organization and its root -------------------------------------------------------------------------------


def create_organization(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    ctx.authorize("organizations:CreateOrganization", "*")
    org = _org(ctx)
    if org.org_id is not None:
        raise ApiError("AlreadyInOrganizationException", "The AWS account is already a member of an organization.")
    if params.get("FeatureSet") not in (None, "ALL"):
        raise ApiError(
            "ConstraintViolationException", "kmslaunch serves organizations with all features (FeatureSet ALL) only."
        )
    org.known = True
    org.management_account = ctx.account
    org.org_id = "o-" + _token(ctx, "ORG", 10)
    org.root_id = "r-" + _token(ctx, "ROOT", 4)
    org.parents = {ctx.account: org.root_id}
    org.attachments = {org.root_id: [], ctx.account: []}
    _enable(org, SCP)
    ctx.changed = True
    return {"Organization": _org_out(org)}


def describe_organization(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    ctx.authorize("organizations:DescribeOrganization", "*")
    return {"Organization": _org_out(_in_use(ctx))}


def list_roots(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    ctx.authorize("organizations:ListRoots", "*")
    return {"Roots": [_root_out(_management(ctx))]}


def enable_policy_type(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    root = str(required(ctx, params, "RootId"))
    kind = str(required(ctx, params, "PolicyType"))
    org = _in_use(ctx)
    ctx.authorize("organizations:EnablePolicyType", _arn(org, f"root/{org.org_id}/{root}"))
    _management(ctx)
    if root != org.root_id:
        raise ApiError("RootNotFoundException", "We can't find a root with the RootId that you specified.")
    if kind not in _FULL_ACCESS:
        raise ApiError("InvalidInputException", f"kmslaunch does not serve the policy type {kind}.")
    if _FULL_ACCESS[kind][0] in org.policies:
        raise ApiError("PolicyTypeAlreadyEnabledException", "The specified policy type is already enabled.")
    _enable(org, kind)
    ctx.changed = True
    return {"Root": _root_out(org)}


# -- OUs and accounts -------------------------------------------------------------------------------------------------


def create_organizational_unit(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    parent = str(required(ctx, params, "ParentId"))
    name = str(required(ctx, params, "Name"))
    org = _in_use(ctx)
    ctx.authorize("organizations:CreateOrganizationalUnit", _target_arn(org, parent))
    _management(ctx)
    _check_parent(org, parent)
    ou = f"ou-{(org.root_id or 'r-0000')[2:]}-{_token(ctx, 'OU', 8)}"
    _place(org, ou, parent)
    ctx.changed = True
    return {"OrganizationalUnit": {"Id": ou, "Arn": _arn(org, f"ou/{org.org_id}/{ou}"), "Name": name}}


def create_account(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    """A new member account under the root, with OrganizationAccountAccessRole: AdministratorAccess, trusting the
    management account (https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_accounts_create-cross-account-role.html).
    The account is ready at once: the status says SUCCEEDED."""
    required(ctx, params, "Email")  # an account's email is its root user's sign-in: not kept here
    name = str(required(ctx, params, "AccountName"))
    org = _in_use(ctx)
    ctx.authorize("organizations:CreateAccount", "*")
    _management(ctx)
    world = ctx.world
    account = ""
    while not account or account in world.accounts:
        account = f"{int(world.ids.unique_id('ACCT')[4:], 16) % 10**12:012d}"
    acct = world.account(account)
    # The new account has the regions the others have, so that its (empty) KMS and EC2 are known, not missing.
    for region in {r for a in world.accounts.values() for r in a.regions} | {ctx.region}:
        acct.region(region)
    role_name = str(params.get("RoleName") or ACCESS_ROLE)
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{org.management_account}:root"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    admin = aws_managed(world, account, ADMINISTRATOR_ACCESS)
    assert admin is not None  # the table has it
    admin.attachment_count += 1
    acct.iam.roles[role_name] = Role(
        arn=f"arn:aws:iam::{account}:role/{role_name}",
        name=role_name,
        role_id=world.ids.unique_id("AROA"),
        trust=Document.parse(trust, PolicyType.TRUST, f"{role_name} trust"),
        attached=[ADMINISTRATOR_ACCESS],
        create_date=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    _place(org, account, org.root_id or "")
    ctx.changed = True
    now = datetime.now(UTC).replace(microsecond=0)
    return {
        "CreateAccountStatus": {
            "Id": "car-" + _token(ctx, "CAR", 32),
            "AccountName": name,
            "State": "SUCCEEDED",
            "RequestedTimestamp": now,
            "CompletedTimestamp": now,
            "AccountId": account,
        }
    }


def move_account(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    account = str(required(ctx, params, "AccountId"))
    source = str(required(ctx, params, "SourceParentId"))
    dest = str(required(ctx, params, "DestinationParentId"))
    org = _in_use(ctx)
    ctx.authorize("organizations:MoveAccount", _arn(org, f"account/{org.org_id}/{account}"))
    _management(ctx)
    if account not in org.parents or account.startswith("ou-"):
        raise ApiError(
            "AccountNotFoundException", "We can't find an AWS account with the AccountId that you specified."
        )
    _check_parent(org, source, "SourceParentNotFoundException")
    _check_parent(org, dest, "DestinationParentNotFoundException")
    if org.parents[account] != source:
        raise ApiError(
            "SourceParentNotFoundException", "We can't find a source root or OU with the ParentId that you specified."
        )
    if source == dest:
        raise ApiError("DuplicateAccountException", "That account is already present in the specified destination.")
    org.parents[account] = dest
    ctx.changed = True
    return {}


def list_parents(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    child = str(required(ctx, params, "ChildId"))
    org = _in_use(ctx)
    ctx.authorize("organizations:ListParents", "*")
    _management(ctx)
    if child not in org.parents:
        raise ApiError(
            "ChildNotFoundException",
            "We can't find an organizational unit (OU) or AWS account with the ChildId that you specified.",
        )
    parent = org.parents[child]
    return {"Parents": [{"Id": parent, "Type": _kind_of_target(org, parent)}]}


# -- policies ---------------------------------------------------------------------------------------------------------


def create_policy(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    content = str(required(ctx, params, "Content"))
    name = str(required(ctx, params, "Name"))
    kind = str(required(ctx, params, "Type"))
    org = _in_use(ctx)
    ctx.authorize("organizations:CreatePolicy", "*")
    _management(ctx)
    if kind not in _POLICY_TYPES:
        raise ApiError("InvalidInputException", f"kmslaunch does not serve the policy type {kind}.")
    if any(p.name == name and p.type == kind for p in org.policies.values()):
        raise ApiError("DuplicatePolicyException", "A policy with the same name already exists.")
    try:
        doc = Document.parse(content, _POLICY_TYPES[kind], name)
    except PolicyValidationError as exc:
        detail = "; ".join(i.render() for i in exc.issues if i.severity.value == "error")
        raise ApiError(
            "MalformedPolicyDocumentException",
            f"The provided policy document does not meet the requirements of the specified policy type. {detail}",
        ) from exc
    pid = "p-" + _token(ctx, "POLICY", 8)
    pol = OrgPolicy(pid, name, kind, doc, "", False, str(params.get("Description") or ""))
    pol.arn = _policy_arn(org, pol)
    org.policies[pid] = pol
    ctx.changed = True
    return {"Policy": {"PolicySummary": _summary(pol), "Content": content}}


def describe_policy(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    pid = str(required(ctx, params, "PolicyId"))
    org = _in_use(ctx)
    pol = org.policies.get(pid)
    ctx.authorize("organizations:DescribePolicy", policy_resource(pol.arn) if pol else "*")
    _management(ctx)
    pol = _policy_of(org, pid)
    return {"Policy": {"PolicySummary": _summary(pol), "Content": json.dumps(pol.document.raw)}}


def _filter(ctx: Ctx, params: dict[str, Any]) -> str:
    kind = str(required(ctx, params, "Filter"))
    if kind not in _POLICY_TYPES:
        raise ApiError("InvalidInputException", f"kmslaunch does not serve the policy type {kind}.")
    return kind


def list_policies(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    kind = _filter(ctx, params)
    ctx.authorize("organizations:ListPolicies", "*")
    org = _management(ctx)
    return {"Policies": [_summary(org.policies[p]) for p in sorted(org.policies) if org.policies[p].type == kind]}


def list_policies_for_target(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    target = str(required(ctx, params, "TargetId"))
    kind = _filter(ctx, params)
    org = _in_use(ctx)
    ctx.authorize("organizations:ListPoliciesForTarget", _target_arn(org, target))
    _management(ctx)
    _check_target(org, target)
    pols = [org.policies[p] for p in org.attachments.get(target, []) if p in org.policies]
    return {"Policies": [_summary(p) for p in pols if p.type == kind]}


def attach_policy(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    pid = str(required(ctx, params, "PolicyId"))
    target = str(required(ctx, params, "TargetId"))
    org = _in_use(ctx)
    pol = org.policies.get(pid)
    ctx.authorize("organizations:AttachPolicy", policy_resource(pol.arn) if pol else "*")
    ctx.authorize("organizations:AttachPolicy", _target_arn(org, target))
    _management(ctx)
    pol = _policy_of(org, pid)
    _check_target(org, target)
    if _FULL_ACCESS[pol.type][0] not in org.policies:
        raise ApiError(
            "PolicyTypeNotEnabledException", "This operation can be performed only for enabled policy types."
        )
    attached = org.attachments.setdefault(target, [])
    if pid in attached:
        raise ApiError(
            "DuplicatePolicyAttachmentException", "The selected policy is already attached to the specified target."
        )
    attached.append(pid)
    ctx.changed = True
    return {}


def detach_policy(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    pid = str(required(ctx, params, "PolicyId"))
    target = str(required(ctx, params, "TargetId"))
    org = _in_use(ctx)
    pol = org.policies.get(pid)
    ctx.authorize("organizations:DetachPolicy", policy_resource(pol.arn) if pol else "*")
    ctx.authorize("organizations:DetachPolicy", _target_arn(org, target))
    _management(ctx)
    pol = _policy_of(org, pid)
    _check_target(org, target)
    attached = org.attachments.get(target, [])
    if pid not in attached:
        raise ApiError(
            "PolicyNotAttachedException", "The policy isn't attached to the specified target in the specified root."
        )
    same_kind = [p for p in attached if p in org.policies and org.policies[p].type == pol.type]
    if len(same_kind) == 1:
        # Every root, OU and account keeps at least one policy of each enabled type: without one, nothing is allowed
        # there (https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_scps_attach.html).
        raise ApiError(
            "ConstraintViolationException",
            "You cannot remove the last policy of this type attached to the target "
            "(MIN_POLICY_TYPE_ATTACHMENT_LIMIT_EXCEEDED).",
        )
    attached.remove(pid)
    ctx.changed = True
    return {}


HANDLERS: dict[str, Handler] = {
    "CreateOrganization": create_organization,
    "DescribeOrganization": describe_organization,
    "ListRoots": list_roots,
    "EnablePolicyType": enable_policy_type,
    "CreateOrganizationalUnit": create_organizational_unit,
    "CreateAccount": create_account,
    "MoveAccount": move_account,
    "ListParents": list_parents,
    "CreatePolicy": create_policy,
    "DescribePolicy": describe_policy,
    "ListPolicies": list_policies,
    "ListPoliciesForTarget": list_policies_for_target,
    "AttachPolicy": attach_policy,
    "DetachPolicy": detach_policy,
}
