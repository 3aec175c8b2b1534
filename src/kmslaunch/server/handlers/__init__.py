"""One handler module per service; each maps operation names to functions of (Ctx, params) -> output."""

from __future__ import annotations

from . import kms, sts
from .base import Handler

HANDLERS: dict[str, dict[str, Handler]] = {
    "sts": sts.HANDLERS,
    "kms": kms.HANDLERS,
}

# Operations AWS serves without any permission (https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html).
UNAUTHORIZED_OK = frozenset({("sts", "GetCallerIdentity")})
