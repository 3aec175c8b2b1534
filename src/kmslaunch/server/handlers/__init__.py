"""One handler module per service; each maps operation names to functions of (Ctx, params) -> output."""

from __future__ import annotations

from . import autoscaling, cloudtrail, ec2, iam, kms, organizations, sts
from .base import Handler

HANDLERS: dict[str, dict[str, Handler]] = {
    "sts": sts.HANDLERS,
    "kms": kms.HANDLERS,
    "iam": iam.HANDLERS,
    "organizations": organizations.HANDLERS,
    "cloudtrail": cloudtrail.HANDLERS,
    "ec2": ec2.HANDLERS,
    "autoscaling": autoscaling.HANDLERS,
}
