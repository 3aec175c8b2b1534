"""What a simulated launch returns: the outcome AWS shows, every KMS call with its decision, and CloudTrail."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from kmslaunch.policy.decision import Verdict
from kmslaunch.policy.explain import render_decision
from kmslaunch.world.authz import Authorized
from kmslaunch.world.unknowns import Unknown, merge

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
    UNKNOWN = "unknown"  # not decided: the key's policies are not in the snapshot (``unknowns`` says which)


class LaunchVerdict(enum.Enum):
    """The answer to "will this launch run?", with what the snapshot could not tell folded in.

    Unknown is never "will launch": a launch that ran with facts missing that could refuse it is RUNS_UNLESS;
    one refused where a missing fact (a grant not listed, a policy not read) could allow it is FAILS_UNLESS.
    """

    RUNS = "runs"
    RUNS_UNLESS = "runs-unless"
    FAILS = "fails"
    FAILS_UNLESS = "fails-unless"


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
        return self.verdict not in (CallVerdict.ALLOWED, CallVerdict.UNKNOWN)

    @property
    def unknowns(self) -> tuple[Unknown, ...]:
        """What the snapshot does not say about this call: from planning it, and from its policies."""
        return merge(self.call.unknowns, self.authorized.unknowns)

    @property
    def denied_by(self) -> tuple[str, ...]:
        if self.verdict is CallVerdict.KEY_STATE:
            return ("key-state",)
        if self.verdict is CallVerdict.UNKNOWN:
            return ()
        return tuple(layer.value for layer in self.authorized.decision.denied_by)

    def explanation(self) -> str:
        if self.verdict is CallVerdict.KEY_STATE:
            return f"{self.error_code}: {self.error_message}"
        if self.verdict is CallVerdict.UNKNOWN:
            return "not decided: " + "; ".join(u.fact for u in self.unknowns)
        d = self.authorized.decision
        lines = render_decision(d, message=self.error_message)
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        req = self.authorized.request
        ctx = dict(req.context)
        unknown = self.verdict is CallVerdict.UNKNOWN
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
            "reasons": [] if unknown else self.authorized.decision.to_json()["reasons"],
            "near_misses": [] if unknown else self.authorized.decision.to_json()["near_misses"],
            "explanation": self.explanation(),
            "unknowns": [u.to_json() for u in self.unknowns],
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
    # Facts of the launch itself the snapshot leaves unknown (EC2's own authorization of the API call, an
    # image's snapshot that belongs to another account); each call's own are in CallResult.unknowns.
    launch_unknowns: tuple[Unknown, ...] = ()

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

    @property
    def unknowns(self) -> tuple[Unknown, ...]:
        """Every fact the launch's decisions were made without."""
        return merge(self.launch_unknowns, *(v.unknowns for v in self.volumes), *(c.unknowns for c in self.calls))

    @property
    def deciding_unknowns(self) -> tuple[Unknown, ...]:
        """The unknowns that could turn the answer: for a launch that ran, those that could refuse a call; for
        one refused, those that could allow the refused call (an explicit deny or a key state stays)."""
        if self.succeeded:
            return tuple(u for u in self.unknowns if u.may_deny)
        refused = self.refused_calls
        if not refused or refused[0].verdict is not CallVerdict.IMPLICIT_DENY:
            return ()
        return tuple(u for u in refused[0].unknowns if u.may_allow)

    @property
    def verdict(self) -> LaunchVerdict:
        unsure = bool(self.deciding_unknowns)
        if self.succeeded:
            return LaunchVerdict.RUNS_UNLESS if unsure else LaunchVerdict.RUNS
        return LaunchVerdict.FAILS_UNLESS if unsure else LaunchVerdict.FAILS

    def verdict_sentence(self) -> str:
        """One line a person reads first: what AWS would show, and what the snapshot could not tell."""
        v = self.verdict
        head = f"{self.kind.value}: {self.outcome.state}"
        facts = "; ".join(u.fact for u in self.deciding_unknowns)
        if v is LaunchVerdict.RUNS_UNLESS:
            return f"{head}, unless what the snapshot does not hold refuses it: {facts}"
        if v is LaunchVerdict.FAILS_UNLESS:
            return f"{head}, unless what the snapshot does not hold allows the refused call: {facts}"
        return head

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
            "verdict": self.verdict.value,
            "verdict_sentence": self.verdict_sentence(),
            "outcome": self.outcome.to_json(),
            "unknowns": [u.to_json() for u in self.unknowns],
            "deciding_unknowns": [u.to_json() for u in self.deciding_unknowns],
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
