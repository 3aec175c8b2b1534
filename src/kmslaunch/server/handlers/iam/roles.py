"""IAM roles: CreateRole, GetRole, ListRoles, UpdateAssumeRolePolicy, DeleteRole, and CreateServiceLinkedRole (the
roles a service owns, which no one else may change: ``common.protect``)."""

from __future__ import annotations

from typing import Any

from kmslaunch.policy.model import PolicyType
from kmslaunch.world.documents import Document
from kmslaunch.world.iam import SERVICE_ROLE_PATH, Role

from ..base import ApiError, Ctx, Handler, required
from .common import (
    ROLE,
    arn,
    boundary_param,
    document,
    exists,
    iam_of,
    list_resource,
    named,
    now,
    path_param,
    tags_param,
)
from .shapes import role_out

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


def create_role(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    name = str(required(ctx, params, "RoleName"))
    path = path_param(params)
    text = required(ctx, params, "AssumeRolePolicyDocument")
    role_arn = arn(ctx, "role", path, name)
    ctx.authorize("iam:CreateRole", role_arn)
    if path.startswith(SERVICE_ROLE_PATH):
        raise ApiError("ValidationError", f"The path {path} is reserved for service-linked roles.")
    iam = iam_of(ctx)
    if name in iam.roles:
        raise exists(f"Role with name {name} already exists.")
    trust = document(text, PolicyType.TRUST, f"{name} trust")
    boundary = boundary_param(ctx, params)
    role = Role(
        arn=role_arn,
        name=name,
        role_id=ctx.world.ids.unique_id("AROA"),
        trust=trust,
        path=path,
        boundary_arn=boundary,
        tags=tags_param(params),
        create_date=now(ctx),
    )
    iam.roles[name] = role
    ctx.changed = True
    return {"Role": role_out(iam, role)}


def get_role(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    role = named(ctx, ROLE, str(required(ctx, params, "RoleName")), "iam:GetRole")
    return {"Role": role_out(iam_of(ctx), role)}


def list_roles(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    ctx.authorize("iam:ListRoles", list_resource(ctx, "role"))
    prefix = str(params.get("PathPrefix") or "/")
    iam = iam_of(ctx)
    roles = [role_out(iam, r) for _, r in sorted(iam.roles.items()) if r.path.startswith(prefix)]
    return {"Roles": roles, "IsTruncated": False}


def update_assume_role_policy(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    name = str(required(ctx, params, "RoleName"))
    text = required(ctx, params, "PolicyDocument")
    role = named(ctx, ROLE, name, "iam:UpdateAssumeRolePolicy", modifying=True)
    role.trust = document(text, PolicyType.TRUST, f"{name} trust")
    ctx.changed = True
    return {}


def delete_role(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    name = str(required(ctx, params, "RoleName"))
    # A service-linked role is deleted with DeleteServiceLinkedRole, by its service: modifying=True refuses it here.
    role = named(ctx, ROLE, name, "iam:DeleteRole", modifying=True)
    if role.inline:
        raise ApiError("DeleteConflict", "Cannot delete entity, must delete policies first.", 409)
    if role.attached:
        raise ApiError("DeleteConflict", "Cannot delete entity, must detach all policies first.", 409)
    del iam_of(ctx).roles[name]
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
    role_arn = arn(ctx, "role", path, name)
    ctx.authorize("iam:CreateServiceLinkedRole", role_arn, context={"iam:awsservicename": (service,)})
    if not service.endswith(".amazonaws.com"):
        raise ApiError("InvalidInput", f"Invalid service name: {service}", 400)
    iam = iam_of(ctx)
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
        arn=role_arn,
        name=name,
        role_id=ctx.world.ids.unique_id("AROA"),
        trust=Document.parse(trust, PolicyType.TRUST, f"{name} trust"),
        path=path,
        create_date=now(ctx),
    )
    iam.roles[name] = role
    ctx.changed = True
    out = role_out(iam, role)
    if params.get("Description"):
        out["Description"] = str(params["Description"])
    return {"Role": out}


HANDLERS: dict[str, Handler] = {
    "CreateRole": create_role,
    "GetRole": get_role,
    "ListRoles": list_roles,
    "UpdateAssumeRolePolicy": update_assume_role_policy,
    "DeleteRole": delete_role,
    "CreateServiceLinkedRole": create_service_linked_role,
}
