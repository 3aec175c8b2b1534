"""IAM: users, groups, roles (service-linked ones included), managed and inline policies, permissions boundaries,
access keys and get-account-authorization-details, each call authorized as ``iam:<Operation>`` on the entity's ARN.

IAM is global: the entities live in the caller's account, whatever region the request was signed for. Documents come
in as JSON text (botocore sends them as strings) and go out as the parsed JSON; the wire serializer URL-encodes them as
IAM does (``policyDocumentType``). Errors are IAM's (https://docs.aws.amazon.com/IAM/latest/APIReference/CommonErrors.html
and each action's Errors section).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from kmslaunch.policy.errors import PolicyValidationError
from kmslaunch.policy.model import PolicyType
from kmslaunch.policy.principals import PrincipalType
from kmslaunch.snapshot.save import _group, _policy, _role, _user
from kmslaunch.world.builder import EC2_FULL_ACCESS, EC2_FULL_ACCESS_ARN
from kmslaunch.world.clock import iso
from kmslaunch.world.documents import Document
from kmslaunch.world.iam import SERVICE_ROLE_PATH, Group, Iam, ManagedPolicy, Role, User
from kmslaunch.world.world import World

from .base import ApiError, Ctx, Handler, required

# -- AWS managed policies -------------------------------------------------------------------------------------------
# The documents of the AWS managed policies the endpoint knows, from the AWS Managed Policy Reference
# (https://docs.aws.amazon.com/aws-managed-policy/latest/reference/<PolicyName>.html). ReadOnlyAccess is a subset:
# the read actions of the services kmslaunch serves, not AWS's thousand-line list.

AWS_MANAGED_POLICIES: dict[str, dict[str, Any]] = {
    # https://docs.aws.amazon.com/aws-managed-policy/latest/reference/AdministratorAccess.html
    "arn:aws:iam::aws:policy/AdministratorAccess": {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
    },
    # https://docs.aws.amazon.com/aws-managed-policy/latest/reference/AmazonEC2FullAccess.html
    EC2_FULL_ACCESS_ARN: EC2_FULL_ACCESS,
    # https://docs.aws.amazon.com/aws-managed-policy/latest/reference/AWSKeyManagementServicePowerUser.html
    "arn:aws:iam::aws:policy/AWSKeyManagementServicePowerUser": {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": [
                    "kms:CreateAlias",
                    "kms:CreateKey",
                    "kms:DeleteAlias",
                    "kms:Describe*",
                    "kms:GenerateRandom",
                    "kms:Get*",
                    "kms:List*",
                    "kms:TagResource",
                    "kms:UntagResource",
                    "iam:ListGroups",
                    "iam:ListRoles",
                    "iam:ListUsers",
                ],
                "Resource": "*",
            }
        ],
    },
    # https://docs.aws.amazon.com/aws-managed-policy/latest/reference/IAMReadOnlyAccess.html
    "arn:aws:iam::aws:policy/IAMReadOnlyAccess": {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": [
                    "iam:GenerateCredentialReport",
                    "iam:GenerateServiceLastAccessedDetails",
                    "iam:Get*",
                    "iam:List*",
                    "iam:SimulateCustomPolicy",
                    "iam:SimulatePrincipalPolicy",
                ],
                "Resource": "*",
            }
        ],
    },
    # https://docs.aws.amazon.com/aws-managed-policy/latest/reference/ReadOnlyAccess.html (the part for the
    # services kmslaunch serves)
    "arn:aws:iam::aws:policy/ReadOnlyAccess": {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ReadOnlyActions",
                "Effect": "Allow",
                "Action": [
                    "autoscaling:Describe*",
                    "cloudtrail:Describe*",
                    "cloudtrail:Get*",
                    "cloudtrail:List*",
                    "cloudtrail:LookupEvents",
                    "ec2:Describe*",
                    "ec2:Get*",
                    "iam:Generate*",
                    "iam:Get*",
                    "iam:List*",
                    "kms:Describe*",
                    "kms:Get*",
                    "kms:List*",
                    "organizations:Describe*",
                    "organizations:List*",
                    "sts:GetCallerIdentity",
                ],
                "Resource": "*",
            }
        ],
    },
}

# The role name suffix of each service's service-linked role
# (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_aws-services-that-work-with-iam.html, "Service-linked
# role" column, each service's page); other services get their first label, capitalized.
SERVICE_LINKED_ROLE_NAMES = {
    "autoscaling.amazonaws.com": "AutoScaling",
    "elasticloadbalancing.amazonaws.com": "ElasticLoadBalancing",
    "spot.amazonaws.com": "EC2Spot",
    "spotfleet.amazonaws.com": "EC2SpotFleet",
    "ec2scheduled.amazonaws.com": "EC2Scheduled",
    "organizations.amazonaws.com": "Organizations",
    "cloudtrail.amazonaws.com": "CloudTrail",
    "ecs.amazonaws.com": "ECS",
    "rds.amazonaws.com": "RDS",
    "eks.amazonaws.com": "AmazonEKS",
    "config.amazonaws.com": "Config",
    "support.amazonaws.com": "Support",
    "trustedadvisor.amazonaws.com": "TrustedAdvisor",
}


def aws_managed(world: World, account: str, arn: str) -> ManagedPolicy | None:
    """The AWS managed policy ``arn`` as ``account`` sees it (the world keeps a copy per account, as
    get-account-authorization-details lists it); None when the endpoint does not know it."""
    iam = world.account(account).iam
    if arn in iam.policies:
        return iam.policies[arn]
    document = AWS_MANAGED_POLICIES.get(arn)
    if document is None:
        return None
    name = arn.rsplit("/", 1)[-1]
    policy = ManagedPolicy(arn, name, Document.parse(document, PolicyType.IDENTITY, name), policy_id=_aws_id(arn))
    iam.policies[arn] = policy
    return policy


def _aws_id(arn: str) -> str:
    """An AWS managed policy's id: the same in every account, as AWS's are."""
    return "ANPA" + hashlib.sha256(arn.encode()).hexdigest().upper()[:17]


def policy_resource(arn: str) -> str:
    """The resource to authorize a call on a policy with. An AWS managed policy's ARN names the account "aws",
    which the engine would take for another account and require a resource policy; AWS grants those calls on
    identity policies alone, so they are authorized as on "*"."""
    return "*" if arn.split(":")[4:5] == ["aws"] else arn


# -- helpers ----------------------------------------------------------------------------------------------------------


def _iam(ctx: Ctx) -> Iam:
    return ctx.world.account(ctx.account).iam


def _arn(ctx: Ctx, kind: str, path: str, name: str) -> str:
    return f"arn:{ctx.world.partition}:iam::{ctx.account}:{kind}{path}{name}"


def _now(ctx: Ctx) -> str:
    return iso(ctx.world.clock.now())


def _when(text: str) -> datetime:
    """A stored timestamp as the wire wants it; the epoch for one the snapshot did not carry."""
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return datetime(1970, 1, 1, tzinfo=UTC)


def _no_such(what: str, name: str) -> ApiError:
    return ApiError("NoSuchEntity", f"The {what} with name {name} cannot be found.", 404)


def _exists(message: str) -> ApiError:
    return ApiError("EntityAlreadyExists", message, 409)


def _path(params: dict[str, Any]) -> str:
    path = str(params.get("Path") or "/")
    if not (path.startswith("/") and path.endswith("/")):
        raise ApiError(
            "ValidationError",
            f"The specified value for path is invalid. It must begin and end with / and contain only alphanumeric "
            f"characters and/or / characters. Value: {path}",
        )
    return path


def _document(text: object, policy_type: PolicyType, name: str) -> Document:
    """A policy document from the request, or MalformedPolicyDocument with every problem the parser found."""
    try:
        return Document.parse(text, policy_type, name)
    except PolicyValidationError as exc:
        detail = "; ".join(i.render() for i in exc.issues if i.severity.value == "error")
        raise ApiError("MalformedPolicyDocument", f"Syntax errors in policy. {detail}".strip(), 400) from exc


def _user_of(ctx: Ctx, name: str) -> User:
    user = _iam(ctx).users.get(name)
    if user is None:
        raise _no_such("user", name)
    return user


def _role_of(ctx: Ctx, name: str) -> Role:
    role = _iam(ctx).roles.get(name)
    if role is None:
        raise _no_such("role", name)
    return role


def _group_of(ctx: Ctx, name: str) -> Group:
    group = _iam(ctx).groups.get(name)
    if group is None:
        raise _no_such("group", name)
    return group


def _policy_of(ctx: Ctx, arn: str, *, attaching: bool = False) -> ManagedPolicy:
    """A managed policy by ARN: the account's own, or an AWS managed one the endpoint knows."""
    policy = _iam(ctx).policies.get(arn)
    if policy is None and arn.split(":")[4:5] == ["aws"]:
        policy = aws_managed(ctx.world, ctx.account, arn)
    if policy is None:
        if attaching:
            raise ApiError("NoSuchEntity", f"Policy {arn} does not exist or is not attachable.", 404)
        raise ApiError("NoSuchEntity", f"Policy {arn} was not found.", 404)
    return policy


def _protect(role: Role) -> None:
    """Service-linked roles' permissions belong to their service
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/using-service-linked-roles.html)."""
    if role.service_linked:
        raise ApiError(
            "UnmodifiableEntity",
            f"Cannot perform the operation on the protected role '{role.name}' - this role is only modifiable by AWS",
            400,
        )


def _tags(params: dict[str, Any]) -> dict[str, str]:
    return {str(t["Key"]): str(t.get("Value", "")) for t in params.get("Tags") or []}


def _tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def _boundary(arn: str | None) -> dict[str, str] | None:
    return {"PermissionsBoundaryType": "Policy", "PermissionsBoundaryArn": arn} if arn else None


def _user_out(u: User) -> dict[str, Any]:
    return {
        "Path": u.path,
        "UserName": u.name,
        "UserId": u.user_id,
        "Arn": u.arn,
        "CreateDate": _when(u.create_date),
        "PermissionsBoundary": _boundary(u.boundary_arn),
        "Tags": _tag_list(u.tags) or None,
    }


def _role_out(r: Role) -> dict[str, Any]:
    return {
        "Path": r.path,
        "RoleName": r.name,
        "RoleId": r.role_id,
        "Arn": r.arn,
        "CreateDate": _when(r.create_date),
        "AssumeRolePolicyDocument": r.trust.raw if r.trust else None,
        "MaxSessionDuration": 3600,
        "PermissionsBoundary": _boundary(r.boundary_arn),
        "Tags": _tag_list(r.tags) or None,
    }


def _group_out(g: Group) -> dict[str, Any]:
    return {
        "Path": g.path,
        "GroupName": g.name,
        "GroupId": g.group_id,
        "Arn": g.arn,
        "CreateDate": _when(g.create_date),
    }


def _policy_out(p: ManagedPolicy) -> dict[str, Any]:
    return {
        "PolicyName": p.name,
        "PolicyId": p.policy_id,
        "Arn": p.arn,
        "Path": p.path,
        "DefaultVersionId": p.default_version_id,
        "AttachmentCount": p.attachment_count,
        "PermissionsBoundaryUsageCount": 0,
        "IsAttachable": True,
    }


def _attached_out(iam: Iam, arns: list[str]) -> list[dict[str, str]]:
    return [
        {"PolicyName": iam.policies[a].name if a in iam.policies else a.rsplit("/", 1)[-1], "PolicyArn": a}
        for a in arns
    ]


def _list_resource(ctx: Ctx, kind: str) -> str:
    """The resource IAM names when a List call is refused: the account's ``user/``, ``role/``, ``group/``."""
    return _arn(ctx, kind, "/", "")


# -- users ------------------------------------------------------------------------------------------------------------


def create_user(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    name = str(required(ctx, params, "UserName"))
    path = _path(params)
    arn = _arn(ctx, "user", path, name)
    ctx.authorize("iam:CreateUser", arn)
    iam = _iam(ctx)
    if name in iam.users:
        raise _exists(f"User with name {name} already exists.")
    boundary = params.get("PermissionsBoundary")
    if boundary:
        _policy_of(ctx, str(boundary), attaching=True)
    user = User(
        arn=arn,
        name=name,
        user_id=ctx.world.ids.unique_id("AIDA"),
        path=path,
        boundary_arn=str(boundary) if boundary else None,
        tags=_tags(params),
        create_date=_now(ctx),
    )
    iam.users[name] = user
    ctx.changed = True
    return {"User": _user_out(user)}


def get_user(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    name = params.get("UserName")
    who = ctx.caller
    if not name:
        # Without a name, GetUser describes the caller (https://docs.aws.amazon.com/IAM/latest/APIReference/API_GetUser.html).
        if who.type is PrincipalType.ACCOUNT:
            ctx.authorize("iam:GetUser", who.arn)
            return {
                "User": {"Path": "/", "UserName": "root", "UserId": ctx.account, "Arn": who.arn, "CreateDate": None}
            }
        if who.type is not PrincipalType.USER or not who.name:
            ctx.authorize("iam:GetUser", who.arn)
            raise ApiError("ValidationError", "Must specify userName when calling with non-User credentials")
        name = who.name
    user = _iam(ctx).users.get(str(name))
    ctx.authorize("iam:GetUser", user.arn if user else _arn(ctx, "user", "/", str(name)))
    if user is None:
        raise _no_such("user", str(name))
    return {"User": _user_out(user)}


def list_users(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    ctx.authorize("iam:ListUsers", _list_resource(ctx, "user"))
    prefix = str(params.get("PathPrefix") or "/")
    users = [_user_out(u) for _, u in sorted(_iam(ctx).users.items()) if u.path.startswith(prefix)]
    for u in users:
        u.pop("PermissionsBoundary", None)
    return {"Users": users, "IsTruncated": False}


def delete_user(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    name = str(required(ctx, params, "UserName"))
    iam = _iam(ctx)
    user = iam.users.get(name)
    ctx.authorize("iam:DeleteUser", user.arn if user else _arn(ctx, "user", "/", name))
    if user is None:
        raise _no_such("user", name)
    # IAM refuses to delete a user that still has keys, groups or policies
    # (https://docs.aws.amazon.com/IAM/latest/UserGuide/id_users_remove.html#id_users_deleting_cli).
    conflict = None
    if _access_keys(ctx, user):
        conflict = "must delete access keys first"
    elif user.groups:
        conflict = "must remove users from group first"
    elif user.inline:
        conflict = "must delete policies first"
    elif user.attached:
        conflict = "must detach all policies first"
    if conflict:
        raise ApiError("DeleteConflict", f"Cannot delete entity, {conflict}.", 409)
    del iam.users[name]
    ctx.changed = True
    return {}


# -- groups -----------------------------------------------------------------------------------------------------------


def create_group(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    name = str(required(ctx, params, "GroupName"))
    path = _path(params)
    arn = _arn(ctx, "group", path, name)
    ctx.authorize("iam:CreateGroup", arn)
    iam = _iam(ctx)
    if name in iam.groups:
        raise _exists(f"Group with name {name} already exists.")
    group = Group(arn=arn, name=name, group_id=ctx.world.ids.unique_id("AGPA"), path=path, create_date=_now(ctx))
    iam.groups[name] = group
    ctx.changed = True
    return {"Group": _group_out(group)}


def get_group(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    name = str(required(ctx, params, "GroupName"))
    group = _iam(ctx).groups.get(name)
    ctx.authorize("iam:GetGroup", group.arn if group else _arn(ctx, "group", "/", name))
    if group is None:
        raise _no_such("group", name)
    members = [_user_out(u) for _, u in sorted(_iam(ctx).users.items()) if name in u.groups]
    return {"Group": _group_out(group), "Users": members, "IsTruncated": False}


def list_groups(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    ctx.authorize("iam:ListGroups", _list_resource(ctx, "group"))
    prefix = str(params.get("PathPrefix") or "/")
    groups = [_group_out(g) for _, g in sorted(_iam(ctx).groups.items()) if g.path.startswith(prefix)]
    return {"Groups": groups, "IsTruncated": False}


def add_user_to_group(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    gname = str(required(ctx, params, "GroupName"))
    uname = str(required(ctx, params, "UserName"))
    group = _iam(ctx).groups.get(gname)
    ctx.authorize("iam:AddUserToGroup", group.arn if group else _arn(ctx, "group", "/", gname))
    if group is None:
        raise _no_such("group", gname)
    user = _user_of(ctx, uname)
    if gname not in user.groups:
        user.groups.append(gname)
        ctx.changed = True
    return {}


def remove_user_from_group(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    gname = str(required(ctx, params, "GroupName"))
    uname = str(required(ctx, params, "UserName"))
    group = _iam(ctx).groups.get(gname)
    ctx.authorize("iam:RemoveUserFromGroup", group.arn if group else _arn(ctx, "group", "/", gname))
    if group is None:
        raise _no_such("group", gname)
    user = _user_of(ctx, uname)
    if gname not in user.groups:
        raise ApiError("NoSuchEntity", f"User {uname} is not in group {gname}.", 404)
    user.groups.remove(gname)
    ctx.changed = True
    return {}


def list_groups_for_user(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    name = str(required(ctx, params, "UserName"))
    user = _iam(ctx).users.get(name)
    ctx.authorize("iam:ListGroupsForUser", user.arn if user else _arn(ctx, "user", "/", name))
    if user is None:
        raise _no_such("user", name)
    iam = _iam(ctx)
    return {"Groups": [_group_out(iam.groups[g]) for g in user.groups if g in iam.groups], "IsTruncated": False}


# -- roles ------------------------------------------------------------------------------------------------------------


def create_role(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    name = str(required(ctx, params, "RoleName"))
    path = _path(params)
    text = required(ctx, params, "AssumeRolePolicyDocument")
    arn = _arn(ctx, "role", path, name)
    ctx.authorize("iam:CreateRole", arn)
    if path.startswith(SERVICE_ROLE_PATH):
        raise ApiError("ValidationError", f"The path {path} is reserved for service-linked roles.")
    iam = _iam(ctx)
    if name in iam.roles:
        raise _exists(f"Role with name {name} already exists.")
    trust = _document(text, PolicyType.TRUST, f"{name} trust")
    boundary = params.get("PermissionsBoundary")
    if boundary:
        _policy_of(ctx, str(boundary), attaching=True)
    role = Role(
        arn=arn,
        name=name,
        role_id=ctx.world.ids.unique_id("AROA"),
        trust=trust,
        path=path,
        boundary_arn=str(boundary) if boundary else None,
        tags=_tags(params),
        create_date=_now(ctx),
    )
    iam.roles[name] = role
    ctx.changed = True
    return {"Role": _role_out(role)}


def get_role(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    name = str(required(ctx, params, "RoleName"))
    role = _iam(ctx).roles.get(name)
    ctx.authorize("iam:GetRole", role.arn if role else _arn(ctx, "role", "/", name))
    if role is None:
        raise _no_such("role", name)
    return {"Role": _role_out(role)}


def list_roles(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    ctx.authorize("iam:ListRoles", _list_resource(ctx, "role"))
    prefix = str(params.get("PathPrefix") or "/")
    roles = [_role_out(r) for _, r in sorted(_iam(ctx).roles.items()) if r.path.startswith(prefix)]
    return {"Roles": roles, "IsTruncated": False}


def update_assume_role_policy(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    name = str(required(ctx, params, "RoleName"))
    text = required(ctx, params, "PolicyDocument")
    role = _iam(ctx).roles.get(name)
    ctx.authorize("iam:UpdateAssumeRolePolicy", role.arn if role else _arn(ctx, "role", "/", name))
    if role is None:
        raise _no_such("role", name)
    _protect(role)
    role.trust = _document(text, PolicyType.TRUST, f"{name} trust")
    ctx.changed = True
    return {}


def delete_role(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    name = str(required(ctx, params, "RoleName"))
    iam = _iam(ctx)
    role = iam.roles.get(name)
    ctx.authorize("iam:DeleteRole", role.arn if role else _arn(ctx, "role", "/", name))
    if role is None:
        raise _no_such("role", name)
    _protect(role)  # a service-linked role is deleted with DeleteServiceLinkedRole, by its service
    if role.inline:
        raise ApiError("DeleteConflict", "Cannot delete entity, must delete policies first.", 409)
    if role.attached:
        raise ApiError("DeleteConflict", "Cannot delete entity, must detach all policies first.", 409)
    del iam.roles[name]
    ctx.changed = True
    return {}


def create_service_linked_role(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    """The role a service acts as, named and placed by IAM, trusting only the service
    (https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateServiceLinkedRole.html)."""
    service = str(required(ctx, params, "AWSServiceName"))
    suffix = params.get("CustomSuffix")
    base = SERVICE_LINKED_ROLE_NAMES.get(service) or service.split(".", 1)[0].capitalize()
    name = f"AWSServiceRoleFor{base}" + (f"_{suffix}" if suffix else "")
    path = f"{SERVICE_ROLE_PATH}{service}/"
    arn = _arn(ctx, "role", path, name)
    ctx.authorize("iam:CreateServiceLinkedRole", arn, context={"iam:awsservicename": (service,)})
    if not service.endswith(".amazonaws.com"):
        raise ApiError("InvalidInput", f"Invalid service name: {service}", 400)
    iam = _iam(ctx)
    if name in iam.roles:
        raise ApiError(
            "InvalidInput",
            f"Service role name {name} has been taken in this account, please try a different suffix.",
            400,
        )
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": [service]}, "Action": ["sts:AssumeRole"]}],
    }
    role = Role(
        arn=arn,
        name=name,
        role_id=ctx.world.ids.unique_id("AROA"),
        trust=Document.parse(trust, PolicyType.TRUST, f"{name} trust"),
        path=path,
        create_date=_now(ctx),
    )
    iam.roles[name] = role
    ctx.changed = True
    out = _role_out(role)
    if params.get("Description"):
        out["Description"] = str(params["Description"])
    return {"Role": out}


# -- managed policies -------------------------------------------------------------------------------------------------


def create_policy(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    name = str(required(ctx, params, "PolicyName"))
    path = _path(params)
    text = required(ctx, params, "PolicyDocument")
    arn = _arn(ctx, "policy", path, name)
    ctx.authorize("iam:CreatePolicy", arn)
    iam = _iam(ctx)
    if any(p.name == name and not p.aws_managed for p in iam.policies.values()):
        raise _exists(f"A policy called {name} already exists. Duplicate names are not allowed.")
    policy = ManagedPolicy(
        arn=arn,
        name=name,
        document=_document(text, PolicyType.IDENTITY, name),
        path=path,
        policy_id=ctx.world.ids.unique_id("ANPA"),
    )
    iam.policies[arn] = policy
    ctx.changed = True
    out = _policy_out(policy)
    out["CreateDate"] = out["UpdateDate"] = datetime.now(UTC).replace(microsecond=0)
    return {"Policy": out}


def get_policy(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    arn = str(required(ctx, params, "PolicyArn"))
    ctx.authorize("iam:GetPolicy", policy_resource(arn))
    return {"Policy": _policy_out(_policy_of(ctx, arn))}


def get_policy_version(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    arn = str(required(ctx, params, "PolicyArn"))
    version = str(required(ctx, params, "VersionId"))
    ctx.authorize("iam:GetPolicyVersion", policy_resource(arn))
    policy = _policy_of(ctx, arn)
    if version != policy.default_version_id:
        # Only the default version is kept: it is the one IAM evaluates.
        raise ApiError("NoSuchEntity", f"Policy {arn} version {version} does not exist or is not attachable.", 404)
    return {"PolicyVersion": {"Document": policy.document.raw, "VersionId": version, "IsDefaultVersion": True}}


def list_policies(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    ctx.authorize("iam:ListPolicies", "*")
    scope = str(params.get("Scope") or "All")
    only_attached = bool(params.get("OnlyAttached"))
    prefix = str(params.get("PathPrefix") or "/")
    policies = dict(_iam(ctx).policies)
    if scope in ("All", "AWS"):
        for arn, document in AWS_MANAGED_POLICIES.items():
            if arn not in policies:
                # Listing shows every AWS managed policy, without copying it into the account.
                name = arn.rsplit("/", 1)[-1]
                doc = Document.parse(document, PolicyType.IDENTITY, name)
                policies[arn] = ManagedPolicy(arn, name, doc, policy_id=_aws_id(arn))
    out = []
    for arn in sorted(policies):
        p = policies[arn]
        if (scope == "AWS" and not p.aws_managed) or (scope == "Local" and p.aws_managed):
            continue
        if (only_attached and not p.attachment_count) or not p.path.startswith(prefix):
            continue
        out.append(_policy_out(p))
    return {"Policies": out, "IsTruncated": False}


def delete_policy(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    arn = str(required(ctx, params, "PolicyArn"))
    ctx.authorize("iam:DeletePolicy", policy_resource(arn))
    policy = _policy_of(ctx, arn)
    if policy.aws_managed:
        raise ApiError("InvalidInput", f"Policy {arn} is an AWS managed policy and cannot be deleted.", 400)
    if policy.attachment_count:
        raise ApiError("DeleteConflict", "Cannot delete a policy attached to entities.", 409)
    del _iam(ctx).policies[arn]
    ctx.changed = True
    return {}


def _attach(ctx: Ctx, attached: list[str], arn: str) -> None:
    policy = _policy_of(ctx, arn, attaching=True)
    if arn not in attached:
        attached.append(arn)
        policy.attachment_count += 1
        ctx.changed = True


def _detach(ctx: Ctx, attached: list[str], arn: str) -> None:
    if arn not in attached:
        raise ApiError("NoSuchEntity", f"Policy {arn} was not found.", 404)
    attached.remove(arn)
    policy = _iam(ctx).policies.get(arn)
    if policy is not None and policy.attachment_count > 0:
        policy.attachment_count -= 1
    ctx.changed = True


def attach_user_policy(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    name = str(required(ctx, params, "UserName"))
    arn = str(required(ctx, params, "PolicyArn"))
    user = _iam(ctx).users.get(name)
    ctx.authorize("iam:AttachUserPolicy", user.arn if user else _arn(ctx, "user", "/", name), context=_pol(arn))
    if user is None:
        raise _no_such("user", name)
    _attach(ctx, user.attached, arn)
    return {}


def detach_user_policy(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    name = str(required(ctx, params, "UserName"))
    arn = str(required(ctx, params, "PolicyArn"))
    user = _iam(ctx).users.get(name)
    ctx.authorize("iam:DetachUserPolicy", user.arn if user else _arn(ctx, "user", "/", name), context=_pol(arn))
    if user is None:
        raise _no_such("user", name)
    _detach(ctx, user.attached, arn)
    return {}


def attach_role_policy(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    name = str(required(ctx, params, "RoleName"))
    arn = str(required(ctx, params, "PolicyArn"))
    role = _iam(ctx).roles.get(name)
    ctx.authorize("iam:AttachRolePolicy", role.arn if role else _arn(ctx, "role", "/", name), context=_pol(arn))
    if role is None:
        raise _no_such("role", name)
    _protect(role)
    _attach(ctx, role.attached, arn)
    return {}


def detach_role_policy(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    name = str(required(ctx, params, "RoleName"))
    arn = str(required(ctx, params, "PolicyArn"))
    role = _iam(ctx).roles.get(name)
    ctx.authorize("iam:DetachRolePolicy", role.arn if role else _arn(ctx, "role", "/", name), context=_pol(arn))
    if role is None:
        raise _no_such("role", name)
    _protect(role)
    _detach(ctx, role.attached, arn)
    return {}


def attach_group_policy(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    name = str(required(ctx, params, "GroupName"))
    arn = str(required(ctx, params, "PolicyArn"))
    group = _iam(ctx).groups.get(name)
    ctx.authorize("iam:AttachGroupPolicy", group.arn if group else _arn(ctx, "group", "/", name), context=_pol(arn))
    if group is None:
        raise _no_such("group", name)
    _attach(ctx, group.attached, arn)
    return {}


def detach_group_policy(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    name = str(required(ctx, params, "GroupName"))
    arn = str(required(ctx, params, "PolicyArn"))
    group = _iam(ctx).groups.get(name)
    ctx.authorize("iam:DetachGroupPolicy", group.arn if group else _arn(ctx, "group", "/", name), context=_pol(arn))
    if group is None:
        raise _no_such("group", name)
    _detach(ctx, group.attached, arn)
    return {}


def _pol(arn: str) -> dict[str, tuple[str, ...]]:
    # iam:PolicyARN lets a policy limit which policies a principal may attach
    # (https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsidentityandaccessmanagementiam.html).
    return {"iam:policyarn": (arn,)}


def _list_attached(ctx: Ctx, action: str, kind: str, name: str, entity: User | Role | Group | None) -> dict[str, Any]:
    ctx.authorize(action, entity.arn if entity else _arn(ctx, kind, "/", name))
    if entity is None:
        raise _no_such(kind, name)
    return {"AttachedPolicies": _attached_out(_iam(ctx), entity.attached), "IsTruncated": False}


def list_attached_user_policies(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    name = str(required(ctx, params, "UserName"))
    return _list_attached(ctx, "iam:ListAttachedUserPolicies", "user", name, _iam(ctx).users.get(name))


def list_attached_role_policies(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    name = str(required(ctx, params, "RoleName"))
    return _list_attached(ctx, "iam:ListAttachedRolePolicies", "role", name, _iam(ctx).roles.get(name))


def list_attached_group_policies(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    name = str(required(ctx, params, "GroupName"))
    return _list_attached(ctx, "iam:ListAttachedGroupPolicies", "group", name, _iam(ctx).groups.get(name))


# -- inline policies --------------------------------------------------------------------------------------------------


def _entity(iam: Iam, kind: str, name: str) -> User | Role | Group | None:
    if kind == "user":
        return iam.users.get(name)
    if kind == "role":
        return iam.roles.get(name)
    return iam.groups.get(name)


def _put_inline(ctx: Ctx, params: dict[str, Any], kind: str, entity_name_key: str) -> dict[str, Any]:
    name = str(required(ctx, params, entity_name_key))
    policy_name = str(required(ctx, params, "PolicyName"))
    text = required(ctx, params, "PolicyDocument")
    iam = _iam(ctx)
    entity = _entity(iam, kind, name)
    action = f"iam:Put{kind.capitalize()}Policy"
    ctx.authorize(action, entity.arn if entity else _arn(ctx, kind, "/", name))
    if entity is None:
        raise _no_such(kind, name)
    if isinstance(entity, Role):
        _protect(entity)
    entity.inline[policy_name] = _document(text, PolicyType.IDENTITY, policy_name)
    ctx.changed = True
    return {}


def _get_inline(ctx: Ctx, params: dict[str, Any], kind: str, entity_name_key: str) -> dict[str, Any]:
    name = str(required(ctx, params, entity_name_key))
    policy_name = str(required(ctx, params, "PolicyName"))
    iam = _iam(ctx)
    entity = _entity(iam, kind, name)
    ctx.authorize(f"iam:Get{kind.capitalize()}Policy", entity.arn if entity else _arn(ctx, kind, "/", name))
    if entity is None:
        raise _no_such(kind, name)
    doc = entity.inline.get(policy_name)
    if doc is None:
        raise _no_such(f"{kind} policy", policy_name)
    return {entity_name_key: name, "PolicyName": policy_name, "PolicyDocument": doc.raw}


def _delete_inline(ctx: Ctx, params: dict[str, Any], kind: str, entity_name_key: str) -> dict[str, Any]:
    name = str(required(ctx, params, entity_name_key))
    policy_name = str(required(ctx, params, "PolicyName"))
    iam = _iam(ctx)
    entity = _entity(iam, kind, name)
    ctx.authorize(f"iam:Delete{kind.capitalize()}Policy", entity.arn if entity else _arn(ctx, kind, "/", name))
    if entity is None:
        raise _no_such(kind, name)
    if isinstance(entity, Role):
        _protect(entity)
    if policy_name not in entity.inline:
        raise _no_such(f"{kind} policy", policy_name)
    del entity.inline[policy_name]
    ctx.changed = True
    return {}


def _list_inline(ctx: Ctx, params: dict[str, Any], kind: str, entity_name_key: str) -> dict[str, Any]:
    name = str(required(ctx, params, entity_name_key))
    iam = _iam(ctx)
    entity = _entity(iam, kind, name)
    ctx.authorize(f"iam:List{kind.capitalize()}Policies", entity.arn if entity else _arn(ctx, kind, "/", name))
    if entity is None:
        raise _no_such(kind, name)
    return {"PolicyNames": sorted(entity.inline), "IsTruncated": False}


def put_user_policy(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    return _put_inline(ctx, params, "user", "UserName")


def get_user_policy(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    return _get_inline(ctx, params, "user", "UserName")


def delete_user_policy(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    return _delete_inline(ctx, params, "user", "UserName")


def list_user_policies(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    return _list_inline(ctx, params, "user", "UserName")


def put_role_policy(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    return _put_inline(ctx, params, "role", "RoleName")


def get_role_policy(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    return _get_inline(ctx, params, "role", "RoleName")


def delete_role_policy(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    return _delete_inline(ctx, params, "role", "RoleName")


def list_role_policies(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    return _list_inline(ctx, params, "role", "RoleName")


def put_group_policy(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    return _put_inline(ctx, params, "group", "GroupName")


def get_group_policy(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    return _get_inline(ctx, params, "group", "GroupName")


# -- permissions boundaries -------------------------------------------------------------------------------------------


def put_user_permissions_boundary(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    name = str(required(ctx, params, "UserName"))
    arn = str(required(ctx, params, "PermissionsBoundary"))
    user = _iam(ctx).users.get(name)
    ctx.authorize(
        "iam:PutUserPermissionsBoundary",
        user.arn if user else _arn(ctx, "user", "/", name),
        context={"iam:permissionsboundary": (arn,)},
    )
    if user is None:
        raise _no_such("user", name)
    _policy_of(ctx, arn, attaching=True)
    user.boundary_arn = arn
    ctx.changed = True
    return {}


def put_role_permissions_boundary(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    name = str(required(ctx, params, "RoleName"))
    arn = str(required(ctx, params, "PermissionsBoundary"))
    role = _iam(ctx).roles.get(name)
    ctx.authorize(
        "iam:PutRolePermissionsBoundary",
        role.arn if role else _arn(ctx, "role", "/", name),
        context={"iam:permissionsboundary": (arn,)},
    )
    if role is None:
        raise _no_such("role", name)
    _protect(role)
    _policy_of(ctx, arn, attaching=True)
    role.boundary_arn = arn
    ctx.changed = True
    return {}


def delete_user_permissions_boundary(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    name = str(required(ctx, params, "UserName"))
    user = _iam(ctx).users.get(name)
    ctx.authorize("iam:DeleteUserPermissionsBoundary", user.arn if user else _arn(ctx, "user", "/", name))
    if user is None:
        raise _no_such("user", name)
    user.boundary_arn = None
    ctx.changed = True
    return {}


# -- access keys ------------------------------------------------------------------------------------------------------


def _access_keys(ctx: Ctx, user: User) -> list[Any]:
    """The user's long-term keys: the endpoint's credentials for the user's ARN (not role sessions)."""
    return sorted(
        (c for c in ctx.state.credentials.values() if c.principal_arn == user.arn and not c.session_token),
        key=lambda c: (c.created or "", c.access_key_id),
    )


def _key_user(ctx: Ctx, params: dict[str, Any], action: str) -> User:
    """The user an access-key call is about: UserName, or the calling user
    (https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateAccessKey.html)."""
    name = params.get("UserName")
    if not name and ctx.caller.type is PrincipalType.USER and ctx.caller.name:
        name = ctx.caller.name
    if not name:
        ctx.authorize(action, ctx.caller.arn)
        # Keys of the root user are managed in the console only; the endpoint has its own.
        raise ApiError("ValidationError", "Must specify userName when calling with non-User credentials")
    user = _iam(ctx).users.get(str(name))
    ctx.authorize(action, user.arn if user else _arn(ctx, "user", "/", str(name)))
    if user is None:
        raise _no_such("user", str(name))
    return user


def create_access_key(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    user = _key_user(ctx, params, "iam:CreateAccessKey")
    # "The default limit is two access keys per user"
    # (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html).
    if len(_access_keys(ctx, user)) >= 2:
        raise ApiError("LimitExceeded", "Cannot exceed quota for AccessKeysPerUser: 2", 409)
    akid, secret = ctx.world.ids.access_key()
    while akid in ctx.state.credentials:
        akid, secret = ctx.world.ids.access_key()
    cred = ctx.state.add_credential(akid, secret, user.arn)  # the store keeps it at once, with the secret
    return {
        "AccessKey": {
            "UserName": user.name,
            "AccessKeyId": akid,
            "Status": "Active",
            "SecretAccessKey": secret,
            "CreateDate": _when(cred.created or ""),
        }
    }


def list_access_keys(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    user = _key_user(ctx, params, "iam:ListAccessKeys")
    keys = [
        {
            "UserName": user.name,
            "AccessKeyId": c.access_key_id,
            "Status": c.status,
            "CreateDate": _when(c.created or ""),
        }
        for c in _access_keys(ctx, user)
    ]
    return {"AccessKeyMetadata": keys, "IsTruncated": False}


def delete_access_key(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    akid = str(required(ctx, params, "AccessKeyId"))
    user = _key_user(ctx, params, "iam:DeleteAccessKey")
    if akid not in {c.access_key_id for c in _access_keys(ctx, user)}:
        raise ApiError("NoSuchEntity", f"The Access Key with id {akid} cannot be found.", 404)
    ctx.state.remove_credential(akid)
    return {}


# -- get-account-authorization-details --------------------------------------------------------------------------------

_FILTERS = {"User": "UserDetailList", "Role": "RoleDetailList", "Group": "GroupDetailList"}


def get_account_authorization_details(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    ctx.authorize("iam:GetAccountAuthorizationDetails", "*")
    iam = _iam(ctx)
    wanted = set(params.get("Filter") or ["User", "Role", "Group", "LocalManagedPolicy", "AWSManagedPolicy"])
    out: dict[str, Any] = {"IsTruncated": False}
    if "User" in wanted:
        out["UserDetailList"] = [_dated(_user(iam, iam.users[n])) for n in sorted(iam.users)]
    if "Group" in wanted:
        out["GroupDetailList"] = [_dated(_group(iam, iam.groups[n])) for n in sorted(iam.groups)]
    if "Role" in wanted:
        out["RoleDetailList"] = [_dated(_role(iam, iam.roles[n])) for n in sorted(iam.roles)]
    policies = []
    for arn in sorted(iam.policies):
        p = iam.policies[arn]
        if ("AWSManagedPolicy" if p.aws_managed else "LocalManagedPolicy") in wanted:
            policies.append(_policy(p))
    if {"LocalManagedPolicy", "AWSManagedPolicy"} & wanted:
        out["Policies"] = policies
    return out


def _dated(detail: dict[str, Any]) -> dict[str, Any]:
    """The snapshot's shape with CreateDate as the wire wants it."""
    detail["CreateDate"] = _when(str(detail.get("CreateDate") or ""))
    return detail


HANDLERS: dict[str, Handler] = {
    "CreateUser": create_user,
    "GetUser": get_user,
    "ListUsers": list_users,
    "DeleteUser": delete_user,
    "CreateGroup": create_group,
    "GetGroup": get_group,
    "ListGroups": list_groups,
    "AddUserToGroup": add_user_to_group,
    "RemoveUserFromGroup": remove_user_from_group,
    "ListGroupsForUser": list_groups_for_user,
    "CreateRole": create_role,
    "GetRole": get_role,
    "ListRoles": list_roles,
    "UpdateAssumeRolePolicy": update_assume_role_policy,
    "DeleteRole": delete_role,
    "CreateServiceLinkedRole": create_service_linked_role,
    "CreatePolicy": create_policy,
    "GetPolicy": get_policy,
    "GetPolicyVersion": get_policy_version,
    "ListPolicies": list_policies,
    "DeletePolicy": delete_policy,
    "AttachUserPolicy": attach_user_policy,
    "DetachUserPolicy": detach_user_policy,
    "AttachRolePolicy": attach_role_policy,
    "DetachRolePolicy": detach_role_policy,
    "AttachGroupPolicy": attach_group_policy,
    "DetachGroupPolicy": detach_group_policy,
    "ListAttachedUserPolicies": list_attached_user_policies,
    "ListAttachedRolePolicies": list_attached_role_policies,
    "ListAttachedGroupPolicies": list_attached_group_policies,
    "PutUserPolicy": put_user_policy,
    "GetUserPolicy": get_user_policy,
    "DeleteUserPolicy": delete_user_policy,
    "ListUserPolicies": list_user_policies,
    "PutRolePolicy": put_role_policy,
    "GetRolePolicy": get_role_policy,
    "DeleteRolePolicy": delete_role_policy,
    "ListRolePolicies": list_role_policies,
    "PutGroupPolicy": put_group_policy,
    "GetGroupPolicy": get_group_policy,
    "PutUserPermissionsBoundary": put_user_permissions_boundary,
    "PutRolePermissionsBoundary": put_role_permissions_boundary,
    "DeleteUserPermissionsBoundary": delete_user_permissions_boundary,
    "CreateAccessKey": create_access_key,
    "ListAccessKeys": list_access_keys,
    "DeleteAccessKey": delete_access_key,
    "GetAccountAuthorizationDetails": get_account_authorization_details,
}
