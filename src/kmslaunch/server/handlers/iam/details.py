"""GetAccountAuthorizationDetails: the account's IAM in the snapshot's shapes (``kmslaunch.snapshot.save`` writes
the same ones to ``iam/get-account-authorization-details.json``), cut by the request's Filter."""

from __future__ import annotations

from typing import Any

from kmslaunch.snapshot.save import group_detail, policy_detail, role_detail, user_detail

from ..base import Ctx, Handler
from .common import iam_of
from .shapes import dated

_ALL = ["User", "Role", "Group", "LocalManagedPolicy", "AWSManagedPolicy"]


def get_account_authorization_details(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    ctx.authorize("iam:GetAccountAuthorizationDetails", "*")
    iam = iam_of(ctx)
    wanted = set(params.get("Filter") or _ALL)
    out: dict[str, Any] = {"IsTruncated": False}
    if "User" in wanted:
        out["UserDetailList"] = [dated(user_detail(iam, iam.users[n])) for n in sorted(iam.users)]
    if "Group" in wanted:
        out["GroupDetailList"] = [dated(group_detail(iam, iam.groups[n])) for n in sorted(iam.groups)]
    if "Role" in wanted:
        out["RoleDetailList"] = [dated(role_detail(iam, iam.roles[n])) for n in sorted(iam.roles)]
    if {"LocalManagedPolicy", "AWSManagedPolicy"} & wanted:
        out["Policies"] = [
            policy_detail(p)
            for _, p in sorted(iam.policies.items())
            if ("AWSManagedPolicy" if p.aws_managed else "LocalManagedPolicy") in wanted
        ]
    return out


HANDLERS: dict[str, Handler] = {"GetAccountAuthorizationDetails": get_account_authorization_details}
