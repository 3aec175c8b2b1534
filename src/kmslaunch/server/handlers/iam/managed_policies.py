"""Customer managed policies and the AWS managed ones the endpoint knows: CreatePolicy, GetPolicy,
GetPolicyVersion, ListPolicies, DeletePolicy. Attaching them is in ``identity_policies``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from kmslaunch.policy.model import PolicyType
from kmslaunch.world.iam import ManagedPolicy

from ..base import ApiError, Ctx, Handler, required
from .aws_policies import AWS_MANAGED_POLICIES, aws_policy, policy_resource
from .common import arn, document, exists, iam_of, path_param, policy_of
from .shapes import policy_out


def create_policy(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    name = str(required(ctx, params, "PolicyName"))
    path = path_param(params)
    text = required(ctx, params, "PolicyDocument")
    policy_arn = arn(ctx, "policy", path, name)
    ctx.authorize("iam:CreatePolicy", policy_arn)
    iam = iam_of(ctx)
    if any(p.name == name and not p.aws_managed for p in iam.policies.values()):
        raise exists(f"A policy called {name} already exists. Duplicate names are not allowed.")
    policy = ManagedPolicy(
        arn=policy_arn,
        name=name,
        document=document(text, PolicyType.IDENTITY, name),
        path=path,
        policy_id=ctx.world.ids.unique_id("ANPA"),
    )
    iam.policies[policy_arn] = policy
    ctx.changed = True
    out = policy_out(policy)
    out["CreateDate"] = out["UpdateDate"] = datetime.now(UTC).replace(microsecond=0)
    return {"Policy": out}


def get_policy(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    policy_arn = str(required(ctx, params, "PolicyArn"))
    ctx.authorize("iam:GetPolicy", policy_resource(policy_arn))
    return {"Policy": policy_out(policy_of(ctx, policy_arn))}


def get_policy_version(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    policy_arn = str(required(ctx, params, "PolicyArn"))
    version = str(required(ctx, params, "VersionId"))
    ctx.authorize("iam:GetPolicyVersion", policy_resource(policy_arn))
    policy = policy_of(ctx, policy_arn)
    if version != policy.default_version_id:
        # Only the default version is kept: it is the one IAM evaluates.
        raise ApiError(
            "NoSuchEntity", f"Policy {policy_arn} version {version} does not exist or is not attachable.", 404
        )
    return {"PolicyVersion": {"Document": policy.document.raw, "VersionId": version, "IsDefaultVersion": True}}


def list_policies(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    ctx.authorize("iam:ListPolicies", "*")
    scope = str(params.get("Scope") or "All")
    only_attached = bool(params.get("OnlyAttached"))
    prefix = str(params.get("PathPrefix") or "/")
    policies = dict(iam_of(ctx).policies)
    if scope in ("All", "AWS"):
        for policy_arn, doc in AWS_MANAGED_POLICIES.items():
            if policy_arn not in policies:
                # Listing shows every AWS managed policy, without copying it into the account.
                policies[policy_arn] = aws_policy(policy_arn, doc)
    out = []
    for policy_arn in sorted(policies):
        p = policies[policy_arn]
        if (scope == "AWS" and not p.aws_managed) or (scope == "Local" and p.aws_managed):
            continue
        if (only_attached and not p.attachment_count) or not p.path.startswith(prefix):
            continue
        out.append(policy_out(p))
    return {"Policies": out, "IsTruncated": False}


def delete_policy(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    policy_arn = str(required(ctx, params, "PolicyArn"))
    ctx.authorize("iam:DeletePolicy", policy_resource(policy_arn))
    policy = policy_of(ctx, policy_arn)
    if policy.aws_managed:
        raise ApiError("InvalidInput", f"Policy {policy_arn} is an AWS managed policy and cannot be deleted.", 400)
    if policy.attachment_count:
        raise ApiError("DeleteConflict", "Cannot delete a policy attached to entities.", 409)
    del iam_of(ctx).policies[policy_arn]
    ctx.changed = True
    return {}


HANDLERS: dict[str, Handler] = {
    "CreatePolicy": create_policy,
    "GetPolicy": get_policy,
    "GetPolicyVersion": get_policy_version,
    "ListPolicies": list_policies,
    "DeletePolicy": delete_policy,
}
