"""The region's EBS encryption defaults (https://docs.aws.amazon.com/ebs/latest/userguide/encryption-by-default.html):
encryption by default on or off, and the default KMS key."""

from __future__ import annotations

from typing import Any

from kmslaunch.launch.errors import Ec2Error, NotInWorld
from kmslaunch.launch.plan import resolve_key
from kmslaunch.world.ec2 import EbsDefaults
from kmslaunch.world.kms import AWS_EBS_ALIAS

from ..base import Ctx, Handler, required
from .common import api_error, ec2_of


def _defaults_to_set(ctx: Ctx) -> EbsDefaults:
    """The region's defaults, about to be set: from now on they are known, and the state is saved."""
    defaults = ec2_of(ctx).defaults
    defaults.known = True
    ctx.changed = True
    return defaults


def _set_encryption_by_default(ctx: Ctx, action: str, on: bool) -> dict[str, Any]:
    ctx.authorize(action, "*")
    _defaults_to_set(ctx).encryption_by_default = on
    return {"EbsEncryptionByDefault": on}


def enable_ebs_encryption_by_default(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    return _set_encryption_by_default(ctx, "ec2:EnableEbsEncryptionByDefault", True)


def disable_ebs_encryption_by_default(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    return _set_encryption_by_default(ctx, "ec2:DisableEbsEncryptionByDefault", False)


def get_ebs_encryption_by_default(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    ctx.authorize("ec2:GetEbsEncryptionByDefault", "*")
    return {"EbsEncryptionByDefault": ec2_of(ctx).defaults.encryption_by_default, "SseType": "sse-ebs"}


def _default_key_arn(ctx: Ctx) -> str:
    """EC2 answers with an ARN: the alias ARN of ``aws/ebs`` until a key is chosen."""
    ref = ec2_of(ctx).defaults.default_kms_key_id
    if ref.startswith("arn:"):
        return ref
    if ref.startswith("alias/"):
        return f"arn:{ctx.world.partition}:kms:{ctx.region}:{ctx.account}:{ref}"
    return f"arn:{ctx.world.partition}:kms:{ctx.region}:{ctx.account}:key/{ref}"


def get_ebs_default_kms_key_id(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    ctx.authorize("ec2:GetEbsDefaultKmsKeyId", "*")
    return {"KmsKeyId": _default_key_arn(ctx)}


def modify_ebs_default_kms_key_id(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    ref = str(required(ctx, params, "KmsKeyId"))
    ctx.authorize("ec2:ModifyEbsDefaultKmsKeyId", "*")
    try:
        key = resolve_key(ctx.world, ctx.account, ctx.region, ref)
    except (Ec2Error, NotInWorld) as exc:
        raise api_error(exc) from exc
    _defaults_to_set(ctx).default_kms_key_id = key.arn
    return {"KmsKeyId": key.arn}


def reset_ebs_default_kms_key_id(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    ctx.authorize("ec2:ResetEbsDefaultKmsKeyId", "*")
    _defaults_to_set(ctx).default_kms_key_id = AWS_EBS_ALIAS
    return {"KmsKeyId": _default_key_arn(ctx)}


HANDLERS: dict[str, Handler] = {
    "EnableEbsEncryptionByDefault": enable_ebs_encryption_by_default,
    "DisableEbsEncryptionByDefault": disable_ebs_encryption_by_default,
    "GetEbsEncryptionByDefault": get_ebs_encryption_by_default,
    "GetEbsDefaultKmsKeyId": get_ebs_default_kms_key_id,
    "ModifyEbsDefaultKmsKeyId": modify_ebs_default_kms_key_id,
    "ResetEbsDefaultKmsKeyId": reset_ebs_default_kms_key_id,
}
