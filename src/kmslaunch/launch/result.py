"""What a simulated launch returns: the outcome AWS shows, every KMS call with its decision, and CloudTrail."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from kmslaunch.policy.decision import Verdict
from kmslaunch.policy.explain import render_decision
from kmslaunch.world.authz import Authorized

from .plan import KmsCall, VolumePlan


class LaunchKind(enum.Enum):
    RUN_INSTANCES = "RunInstances"
    START_INSTANCES = "StartInstances"
    AUTO_SCALING = "AutoScaling"
    EC2_FLEET = "EC2Fleet"
    SPOT_FLEET = "SpotFleet"
    SPOT = "Spot"
    CREATE_VOLUME = "CreateVolume"
    ATTACH_VOLUME = "AttachVolume"
    COPY_SNAPSHOT = "CopySnapshot"
    COPY_IMAGE = "CopyImage"
    CREATE_FLEET = "CreateFleet"  # an instant EC2 Fleet: launched as the caller, not the Fleet role


class CallVerdict(enum.Enum):
    ALLOWED = "allowed"
    EXPLICIT_DENY = "explicitDeny"
    IMPLICIT_DENY = "implicitDeny"
    KEY_STATE = "keyState"


@dataclass(frozen=True, slots=True)
class CallResult:
    """One permission check of one KMS call: ``action`` on ``resource`` (the key ARN)."""

    call: KmsCall
    action: str
    resource: str
    verdict: CallVerdict
    authorized: Authorized
    error_code: str | None = None
    error_message: str | None = None

    @property
    def refused(self) -> bool:
        return self.verdict is not CallVerdict.ALLOWED

    @property
    def denied_by(self) -> tuple[str, ...]:
        if self.verdict is CallVerdict.KEY_STATE:
            return ("key-state",)
        return tuple(layer.value for layer in self.authorized.decision.denied_by)

    def explanation(self) -> str:
        if self.verdict is CallVerdict.KEY_STATE:
            return f"{self.error_code}: {self.error_message}"
        d = self.authorized.decision
        lines = render_decision(d, message=self.error_message)
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        req = self.authorized.request
        ctx = dict(req.context)
        return {
            "api": self.call.operation,
            "action": self.action,
            "principal": self.call.principal.arn,
            "resource": self.resource,
            "volume": self.call.volume_id,
            "why": self.call.why,
            "context": {k: (v[0] if len(v) == 1 else list(v)) for k, v in sorted(ctx.items())},
            "encryption_context": dict(self.call.encryption_context),
            "decision": self.verdict.value,
            "denied_by": list(self.denied_by),
            "error": {"Code": self.error_code, "Message": self.error_message} if self.error_code else None,
            "reasons": self.authorized.decision.to_json()["reasons"],
            "near_misses": self.authorized.decision.to_json()["near_misses"],
            "explanation": self.explanation(),
        }


@dataclass(frozen=True, slots=True)
class Outcome:
    """``state``: running, stopped, terminated, failed (a volume or copy), completed, or rejected (the API
    call itself failed: ``error`` says how, and nothing was created)."""

    state: str
    state_reason: dict[str, str] | None = None
    error: dict[str, str] | None = None

    def to_json(self) -> dict[str, Any]:
        return {"state": self.state, "state_reason": self.state_reason, "error": self.error}


@dataclass(frozen=True, slots=True)
class LaunchResult:
    kind: LaunchKind
    account: str
    region: str
    principal: str
    outcome: Outcome
    calls: tuple[CallResult, ...] = ()
    trail: tuple[dict[str, Any], ...] = ()
    volumes: tuple[VolumePlan, ...] = ()
    instance_ids: tuple[str, ...] = ()
    view: dict[str, Any] | None = None  # what `aws ec2 describe-instances` (or the matching describe) shows
    notes: tuple[str, ...] = ()

    @property
    def succeeded(self) -> bool:
        """The launch ran, or a DryRun request would have (EC2's DryRunOperation)."""
        if self.dry_run_allowed:
            return True
        return self.outcome.state in ("running", "completed", "available", "in-use")

    @property
    def dry_run_allowed(self) -> bool:
        return self.outcome.error is not None and self.outcome.error.get("Code") == "DryRunOperation"

    @property
    def refused_calls(self) -> tuple[CallResult, ...]:
        return tuple(c for c in self.calls if c.refused)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": "kmslaunch-diagnosis/1",
            "launch": {
                "kind": self.kind.value,
                "account": self.account,
                "region": self.region,
                "principal": self.principal,
                "instances": list(self.instance_ids),
            },
            "outcome": self.outcome.to_json(),
            "describe": self.view,
            "volumes": [
                {
                    "device": v.device,
                    "volume": v.volume_id,
                    "encrypted": v.encrypted,
                    "key": v.key.arn if v.key else None,
                    "key_ref": v.key_ref,
                    "key_source": v.key_source.value if v.key_source else None,
                    "snapshot": v.snapshot.snapshot_id if v.snapshot else None,
                }
                for v in self.volumes
            ],
            "calls": [c.to_json() for c in self.calls],
            "cloudtrail": list(self.trail),
            "notes": list(self.notes),
        }


def verdict_of(v: Verdict) -> CallVerdict:
    return {
        Verdict.ALLOWED: CallVerdict.ALLOWED,
        Verdict.EXPLICIT_DENY: CallVerdict.EXPLICIT_DENY,
        Verdict.IMPLICIT_DENY: CallVerdict.IMPLICIT_DENY,
    }[v]
