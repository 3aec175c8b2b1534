"""IAM users: CreateUser, GetUser (the caller when no name is given), ListUsers, DeleteUser."""

from __future__ import annotations

from typing import Any

from kmslaunch.policy.principals import PrincipalType
from kmslaunch.world.iam import User

from ..base import ApiError, Ctx, Handler, required
from .access_keys import access_keys
from .common import USER, arn, boundary_param, exists, iam_of, list_resource, named, now, path_param, tags_param
from .shapes import user_out


def create_user(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    name = str(required(ctx, params, "UserName"))
    path = path_param(params)
    user_arn = arn(ctx, "user", path, name)
    ctx.authorize("iam:CreateUser", user_arn)
    iam = iam_of(ctx)
    if name in iam.users:
        raise exists(f"User with name {name} already exists.")
    boundary = boundary_param(ctx, params)
    user = User(
        arn=user_arn,
        name=name,
        user_id=ctx.world.ids.unique_id("AIDA"),
        path=path,
        boundary_arn=boundary,
        tags=tags_param(params),
        create_date=now(ctx),
    )
    iam.users[name] = user
    ctx.changed = True
    return {"User": user_out(iam, user)}


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
    user = named(ctx, USER, str(name), "iam:GetUser")
    return {"User": user_out(iam_of(ctx), user)}


def list_users(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    ctx.authorize("iam:ListUsers", list_resource(ctx, "user"))
    prefix = str(params.get("PathPrefix") or "/")
    iam = iam_of(ctx)
    users = [user_out(iam, u) for _, u in sorted(iam.users.items()) if u.path.startswith(prefix)]
    for u in users:
        u.pop("PermissionsBoundary", None)
    return {"Users": users, "IsTruncated": False}


def delete_user(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    name = str(required(ctx, params, "UserName"))
    user = named(ctx, USER, name, "iam:DeleteUser")
    # IAM refuses to delete a user that still has keys, groups or policies
    # (https://docs.aws.amazon.com/IAM/latest/UserGuide/id_users_remove.html#id_users_deleting_cli).
    conflict = None
    if access_keys(ctx, user):
        conflict = "must delete access keys first"
    elif user.groups:
        conflict = "must remove users from group first"
    elif user.inline:
        conflict = "must delete policies first"
    elif user.attached:
        conflict = "must detach all policies first"
    if conflict:
        raise ApiError("DeleteConflict", f"Cannot delete entity, {conflict}.", 409)
    del iam_of(ctx).users[name]
    ctx.changed = True
    return {}


HANDLERS: dict[str, Handler] = {
    "CreateUser": create_user,
    "GetUser": get_user,
    "ListUsers": list_users,
    "DeleteUser": delete_user,
}
