"""A user's long-term access keys: CreateAccessKey, ListAccessKeys, UpdateAccessKey, DeleteAccessKey. The keys are
the endpoint's own credentials (the endpoint verifies signatures with them), so a key created here works at once, and
one made Inactive is refused at the signature check from the next request on, as AWS refuses it: "The security token
included in the request is invalid" (https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_access-keys.html,
"Inactive keys cannot be used to sign requests")."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from kmslaunch.policy.principals import PrincipalType
from kmslaunch.world.iam import User

from ..base import ApiError, Ctx, Handler, required
from .common import USER, named
from .shapes import when


def access_keys(ctx: Ctx, user: User) -> list[Any]:
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
    return named(ctx, USER, str(name), action)


def create_access_key(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    user = _key_user(ctx, params, "iam:CreateAccessKey")
    # "The default limit is two access keys per user"
    # (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html).
    if len(access_keys(ctx, user)) >= 2:
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
            "CreateDate": when(cred.created or ""),
        }
    }


def list_access_keys(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    user = _key_user(ctx, params, "iam:ListAccessKeys")
    keys = [
        {
            "UserName": user.name,
            "AccessKeyId": c.access_key_id,
            "Status": c.status,
            "CreateDate": when(c.created or ""),
        }
        for c in access_keys(ctx, user)
    ]
    return {"AccessKeyMetadata": keys, "IsTruncated": False}


def delete_access_key(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    akid = str(required(ctx, params, "AccessKeyId"))
    user = _key_user(ctx, params, "iam:DeleteAccessKey")
    if akid not in {c.access_key_id for c in access_keys(ctx, user)}:
        raise ApiError("NoSuchEntity", f"The Access Key with id {akid} cannot be found.", 404)
    ctx.state.remove_credential(akid)
    return {}


def update_access_key(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    akid = str(required(ctx, params, "AccessKeyId"))
    status = str(required(ctx, params, "Status"))
    user = _key_user(ctx, params, "iam:UpdateAccessKey")
    cred = next((c for c in access_keys(ctx, user) if c.access_key_id == akid), None)
    if cred is None:
        raise ApiError("NoSuchEntity", f"The Access Key with id {akid} cannot be found.", 404)
    # The model's enum also lists Expired, a status IAM sets itself; a caller sets Active or Inactive.
    if status not in ("Active", "Inactive"):
        raise ApiError("ValidationError", f"Status must be Active or Inactive, not {status}")
    if cred.status != status:
        updated = replace(cred, status=status)
        ctx.state.credentials[akid] = updated
        ctx.state.store.put_credential(updated)
    return {}


HANDLERS: dict[str, Handler] = {
    "CreateAccessKey": create_access_key,
    "ListAccessKeys": list_access_keys,
    "UpdateAccessKey": update_access_key,
    "DeleteAccessKey": delete_access_key,
}
