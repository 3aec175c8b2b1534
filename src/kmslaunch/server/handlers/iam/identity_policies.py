"""The policies of a user, a role or a group, written once for the three kinds: attached managed policies
(Attach/Detach/ListAttached…Policies), inline policies (Put/Get/Delete/List…Policy) and permissions boundaries
(Put/Delete…PermissionsBoundary). Each call is authorized as ``iam:<Operation>`` on the identity's ARN; a
service-linked role refuses every change (``common.protect``)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

from kmslaunch.policy.model import PolicyType
from kmslaunch.snapshot.save import attached_policies
from kmslaunch.world.iam import Role, User

from ..base import ApiError, Ctx, Handler, required
from .common import GROUP, ROLE, USER, E, Kind, document, iam_of, named, no_such, policy_of

# The kinds that can have a permissions boundary: users and roles
# (https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_boundaries.html).
Bounded = TypeVar("Bounded", User, Role)

# -- attached managed policies ----------------------------------------------------------------------------------------


def _policy_arn_context(policy_arn: str) -> dict[str, tuple[str, ...]]:
    # iam:PolicyARN lets a policy limit which policies a principal may attach
    # (https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsidentityandaccessmanagementiam.html).
    return {"iam:policyarn": (policy_arn,)}


def attach_policy(kind: Kind[E], ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    name = str(required(ctx, params, kind.name_param))
    policy_arn = str(required(ctx, params, "PolicyArn"))
    action = f"iam:Attach{kind.title}Policy"
    entity = named(ctx, kind, name, action, context=_policy_arn_context(policy_arn), modifying=True)
    policy = policy_of(ctx, policy_arn, attaching=True)
    if policy_arn not in entity.attached:
        entity.attached.append(policy_arn)
        policy.attachment_count += 1
        ctx.changed = True
    return {}


def detach_policy(kind: Kind[E], ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    name = str(required(ctx, params, kind.name_param))
    policy_arn = str(required(ctx, params, "PolicyArn"))
    action = f"iam:Detach{kind.title}Policy"
    entity = named(ctx, kind, name, action, context=_policy_arn_context(policy_arn), modifying=True)
    if policy_arn not in entity.attached:
        raise ApiError("NoSuchEntity", f"Policy {policy_arn} was not found.", 404)
    entity.attached.remove(policy_arn)
    policy = iam_of(ctx).policies.get(policy_arn)
    if policy is not None and policy.attachment_count > 0:
        policy.attachment_count -= 1
    ctx.changed = True
    return {}


def list_attached_policies(kind: Kind[E], ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    name = str(required(ctx, params, kind.name_param))
    entity = named(ctx, kind, name, f"iam:ListAttached{kind.title}Policies")
    return {"AttachedPolicies": attached_policies(iam_of(ctx), entity.attached), "IsTruncated": False}


# -- inline policies --------------------------------------------------------------------------------------------------


def put_inline_policy(kind: Kind[E], ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    name = str(required(ctx, params, kind.name_param))
    policy_name = str(required(ctx, params, "PolicyName"))
    text = required(ctx, params, "PolicyDocument")
    entity = named(ctx, kind, name, f"iam:Put{kind.title}Policy", modifying=True)
    entity.inline[policy_name] = document(text, PolicyType.IDENTITY, policy_name)
    ctx.changed = True
    return {}


def get_inline_policy(kind: Kind[E], ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    name = str(required(ctx, params, kind.name_param))
    policy_name = str(required(ctx, params, "PolicyName"))
    entity = named(ctx, kind, name, f"iam:Get{kind.title}Policy")
    doc = entity.inline.get(policy_name)
    if doc is None:
        raise no_such(f"{kind.word} policy", policy_name)
    return {kind.name_param: name, "PolicyName": policy_name, "PolicyDocument": doc.raw}


def delete_inline_policy(kind: Kind[E], ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    name = str(required(ctx, params, kind.name_param))
    policy_name = str(required(ctx, params, "PolicyName"))
    entity = named(ctx, kind, name, f"iam:Delete{kind.title}Policy", modifying=True)
    if policy_name not in entity.inline:
        raise no_such(f"{kind.word} policy", policy_name)
    del entity.inline[policy_name]
    ctx.changed = True
    return {}


def list_inline_policies(kind: Kind[E], ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    name = str(required(ctx, params, kind.name_param))
    entity = named(ctx, kind, name, f"iam:List{kind.title}Policies")
    return {"PolicyNames": sorted(entity.inline), "IsTruncated": False}


# -- permissions boundaries -------------------------------------------------------------------------------------------


def put_boundary(kind: Kind[Bounded], ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    name = str(required(ctx, params, kind.name_param))
    policy_arn = str(required(ctx, params, "PermissionsBoundary"))
    action = f"iam:Put{kind.title}PermissionsBoundary"
    # iam:PermissionsBoundary lets a policy say which boundaries a principal may set (same reference as above).
    context = {"iam:permissionsboundary": (policy_arn,)}
    entity = named(ctx, kind, name, action, context=context, modifying=True)
    policy_of(ctx, policy_arn, attaching=True)
    entity.boundary_arn = policy_arn
    ctx.changed = True
    return {}


def delete_boundary(kind: Kind[Bounded], ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    name = str(required(ctx, params, kind.name_param))
    entity = named(ctx, kind, name, f"iam:Delete{kind.title}PermissionsBoundary", modifying=True)
    entity.boundary_arn = None
    ctx.changed = True
    return {}


# Each call with the kinds the endpoint serves it for. IAM also has DeleteGroupPolicy, ListGroupPolicies and
# DeleteRolePermissionsBoundary (groups have no boundary); adding a kind here serves them.
_Call = Callable[[Any, Ctx, dict[str, Any]], dict[str, Any]]

_SERVED: dict[str, tuple[_Call, tuple[Kind[Any], ...]]] = {
    "Attach{}Policy": (attach_policy, (USER, ROLE, GROUP)),
    "Detach{}Policy": (detach_policy, (USER, ROLE, GROUP)),
    "ListAttached{}Policies": (list_attached_policies, (USER, ROLE, GROUP)),
    "Put{}Policy": (put_inline_policy, (USER, ROLE, GROUP)),
    "Get{}Policy": (get_inline_policy, (USER, ROLE, GROUP)),
    "Delete{}Policy": (delete_inline_policy, (USER, ROLE)),
    "List{}Policies": (list_inline_policies, (USER, ROLE)),
    "Put{}PermissionsBoundary": (put_boundary, (USER, ROLE)),
    "Delete{}PermissionsBoundary": (delete_boundary, (USER,)),
}

HANDLERS: dict[str, Handler] = {
    operation.format(kind.title): partial(call, kind) for operation, (call, kinds) in _SERVED.items() for kind in kinds
}
