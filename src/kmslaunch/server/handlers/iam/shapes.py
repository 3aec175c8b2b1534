"""What IAM's Get, List and Create calls return for an entity: the snapshot's get-account-authorization-details
shapes (``kmslaunch.snapshot.save``, the AWS CLI's), cut to the members each response carries, in the order IAM
gives them, with timestamps as the wire wants them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from kmslaunch.snapshot.save import group_detail, policy_detail, role_detail, user_detail
from kmslaunch.world.iam import Group, Iam, ManagedPolicy, Role, User

# The members of IAM's User, Role, Group and Policy types
# (https://docs.aws.amazon.com/IAM/latest/APIReference/API_User.html, API_Role.html, API_Group.html, API_Policy.html)
# the endpoint fills; a member a detail lacks is None, which the wire leaves out.
USER_FIELDS = ("Path", "UserName", "UserId", "Arn", "CreateDate", "PermissionsBoundary", "Tags")
ROLE_FIELDS = (
    "Path",
    "RoleName",
    "RoleId",
    "Arn",
    "CreateDate",
    "AssumeRolePolicyDocument",
    "MaxSessionDuration",
    "PermissionsBoundary",
    "Tags",
)
GROUP_FIELDS = ("Path", "GroupName", "GroupId", "Arn", "CreateDate")
POLICY_FIELDS = (
    "PolicyName",
    "PolicyId",
    "Arn",
    "Path",
    "DefaultVersionId",
    "AttachmentCount",
    "PermissionsBoundaryUsageCount",
    "IsAttachable",
)


def when(text: str) -> datetime:
    """A stored timestamp as the wire wants it; the epoch for one the snapshot did not carry."""
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return datetime(1970, 1, 1, tzinfo=UTC)


def dated(detail: dict[str, Any]) -> dict[str, Any]:
    """The snapshot's shape with CreateDate as the wire wants it."""
    detail["CreateDate"] = when(str(detail.get("CreateDate") or ""))
    return detail


def _cut(detail: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    return {f: detail.get(f) for f in fields}


def user_out(iam: Iam, user: User) -> dict[str, Any]:
    return _cut(dated(user_detail(iam, user)), USER_FIELDS)


def role_out(iam: Iam, role: Role) -> dict[str, Any]:
    # The endpoint keeps no MaxSessionDuration: every role has IAM's default, one hour
    # (https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateRole.html).
    return _cut({**dated(role_detail(iam, role)), "MaxSessionDuration": 3600}, ROLE_FIELDS)


def group_out(iam: Iam, group: Group) -> dict[str, Any]:
    return _cut(dated(group_detail(iam, group)), GROUP_FIELDS)


def policy_out(policy: ManagedPolicy) -> dict[str, Any]:
    # The endpoint does not count the identities a policy is the permissions boundary of.
    return _cut({**policy_detail(policy), "PermissionsBoundaryUsageCount": 0}, POLICY_FIELDS)
