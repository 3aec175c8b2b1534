"""IAM groups and their members: CreateGroup, GetGroup, ListGroups, AddUserToGroup, RemoveUserFromGroup,
ListGroupsForUser."""

from __future__ import annotations

from typing import Any

from kmslaunch.world.iam import Group

from ..base import ApiError, Ctx, Handler, required
from .common import GROUP, USER, arn, existing, exists, iam_of, list_resource, named, now, path_param
from .shapes import group_out, user_out


def create_group(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    name = str(required(ctx, params, "GroupName"))
    path = path_param(params)
    group_arn = arn(ctx, "group", path, name)
    ctx.authorize("iam:CreateGroup", group_arn)
    iam = iam_of(ctx)
    if name in iam.groups:
        raise exists(f"Group with name {name} already exists.")
    group = Group(arn=group_arn, name=name, group_id=ctx.world.ids.unique_id("AGPA"), path=path, create_date=now(ctx))
    iam.groups[name] = group
    ctx.changed = True
    return {"Group": group_out(iam, group)}


def get_group(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    name = str(required(ctx, params, "GroupName"))
    group = named(ctx, GROUP, name, "iam:GetGroup")
    iam = iam_of(ctx)
    members = [user_out(iam, u) for _, u in sorted(iam.users.items()) if name in u.groups]
    return {"Group": group_out(iam, group), "Users": members, "IsTruncated": False}


def list_groups(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    ctx.authorize("iam:ListGroups", list_resource(ctx, "group"))
    prefix = str(params.get("PathPrefix") or "/")
    iam = iam_of(ctx)
    groups = [group_out(iam, g) for _, g in sorted(iam.groups.items()) if g.path.startswith(prefix)]
    return {"Groups": groups, "IsTruncated": False}


def add_user_to_group(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    gname = str(required(ctx, params, "GroupName"))
    uname = str(required(ctx, params, "UserName"))
    named(ctx, GROUP, gname, "iam:AddUserToGroup")
    user = existing(ctx, USER, uname)
    if gname not in user.groups:
        user.groups.append(gname)
        ctx.changed = True
    return {}


def remove_user_from_group(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    gname = str(required(ctx, params, "GroupName"))
    uname = str(required(ctx, params, "UserName"))
    named(ctx, GROUP, gname, "iam:RemoveUserFromGroup")
    user = existing(ctx, USER, uname)
    if gname not in user.groups:
        raise ApiError("NoSuchEntity", f"User {uname} is not in group {gname}.", 404)
    user.groups.remove(gname)
    ctx.changed = True
    return {}


def list_groups_for_user(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    name = str(required(ctx, params, "UserName"))
    user = named(ctx, USER, name, "iam:ListGroupsForUser")
    iam = iam_of(ctx)
    return {"Groups": [group_out(iam, iam.groups[g]) for g in user.groups if g in iam.groups], "IsTruncated": False}


HANDLERS: dict[str, Handler] = {
    "CreateGroup": create_group,
    "GetGroup": get_group,
    "ListGroups": list_groups,
    "AddUserToGroup": add_user_to_group,
    "RemoveUserFromGroup": remove_user_from_group,
    "ListGroupsForUser": list_groups_for_user,
}
