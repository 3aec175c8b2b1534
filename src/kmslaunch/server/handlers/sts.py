"""STS: GetCallerIdentity and AssumeRole (the caller's IAM policy and the role's trust policy must both allow:
https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_use_permissions-to-switch.html)."""

from __future__ import annotations

import dataclasses
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from kmslaunch.policy.errors import InputError, PolicyValidationError
from kmslaunch.policy.evaluate import Request, authorize
from kmslaunch.policy.messages import access_denied_message
from kmslaunch.policy.model import PolicyType
from kmslaunch.policy.parse import parse_policy
from kmslaunch.world.authz import policy_set

from .base import ApiError, Ctx, Handler, required


def get_caller_identity(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    # Authorized like every call: the engine's rule says it needs no permission and cannot be denied
    # (https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html).
    ctx.authorize("sts:GetCallerIdentity", "*")
    who = ctx.caller
    userid = who.userid or (who.account or "")
    return {"UserId": userid, "Account": who.account, "Arn": who.arn}


def assume_role(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    role_arn = str(required(ctx, params, "RoleArn"))
    session = str(required(ctx, params, "RoleSessionName"))
    duration = int(params.get("DurationSeconds") or 3600)
    if not 900 <= duration <= 43200:
        raise ApiError(
            "ValidationError", "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
        )
    parts = role_arn.split(":")
    account = parts[4] if len(parts) > 5 else ""
    role_name = role_arn.rsplit("/", 1)[-1]
    role = ctx.world.accounts[account].iam.roles.get(role_name) if account in ctx.world.accounts else None
    # One decision with the role's trust policy as the resource policy, which must allow in every case; the
    # caller's IAM policies must allow too unless the trust policy names the caller itself.
    session_policy, session_policy_arns = _session_policy_params(params)
    ctx.authorized = True
    ps = dataclasses.replace(
        policy_set(ctx.world, ctx.caller, role_arn, None, ctx.state.session_policies(ctx.access_key_id)),
        resource=role.trust.policy if role is not None and role.trust else None,
        resource_policy_required=True,
    )
    decision = authorize(Request(ctx.caller, "sts:AssumeRole", role_arn, {"aws:sourceip": (ctx.source_ip,)}), ps)
    if role is None or role.arn != role_arn or not decision.allowed:
        raise ApiError("AccessDenied", access_denied_message(ctx.caller.arn, "sts:AssumeRole", role_arn, decision), 403)
    access_key = "ASIA" + secrets.token_hex(8).upper()
    secret = secrets.token_urlsafe(30)
    token = "KL" + secrets.token_urlsafe(96)
    expires = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=duration)
    session_arn = f"arn:aws:sts::{account}:assumed-role/{role_name}/{session}"
    ctx.state.add_credential(
        access_key,
        secret,
        session_arn,
        session_token=token,
        expires_at=expires,
        role_arn=role.arn,
        session_policy=session_policy,
        session_policy_arns=session_policy_arns,
    )
    return {
        "Credentials": {
            "AccessKeyId": access_key,
            "SecretAccessKey": secret,
            "SessionToken": token,
            "Expiration": expires,
        },
        "AssumedRoleUser": {"AssumedRoleId": f"{role.role_id}:{session}", "Arn": session_arn},
    }


def _session_policy_params(params: dict[str, Any]) -> tuple[str | None, tuple[str, ...]]:
    """AssumeRole's Policy and PolicyArns: the session gets at most what they and the role's policies both allow
    (https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html). A Policy that is not a valid policy
    is refused, as STS refuses it."""
    raw = params.get("Policy")
    policy = str(raw) if raw not in (None, "") else None
    if policy is not None:
        try:
            parse_policy(policy, PolicyType.SESSION, "session policy")
        except (PolicyValidationError, InputError, ValueError) as exc:
            raise ApiError("MalformedPolicyDocument", f"The policy is not valid: {exc}", 400) from exc
    arns = tuple(str(d.get("arn")) for d in params.get("PolicyArns") or [] if isinstance(d, dict) and d.get("arn"))
    if len(arns) > 10:
        raise ApiError("ValidationError", "PolicyArns: at most 10 managed session policies", 400)
    return policy, arns


HANDLERS: dict[str, Handler] = {"GetCallerIdentity": get_caller_identity, "AssumeRole": assume_role}
