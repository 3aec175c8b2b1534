"""The diagnosis of a launch: the refused call in words, what CloudTrail says of it, and the verified fixes."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kmslaunch.launch.replay import event_time, in_launch_window, run_instances_event
from kmslaunch.launch.request import LaunchRequest, simulate
from kmslaunch.launch.result import CallResult, CallVerdict, LaunchResult
from kmslaunch.policy.decision import Element, Layer, Verdict
from kmslaunch.policy.evaluate import build_context
from kmslaunch.policy.explain import conditions_met, describe_mismatch, describe_ref
from kmslaunch.policy.model import PolicyType
from kmslaunch.world.fork import fork
from kmslaunch.world.world import World

from .fixes import FixPlan, preferred, shown
from .rounds import find_fix, find_parameter_fix

DOCS = {
    "identity": "https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html#key-policy-default-allow-root-enable-iam",
    "slr": "https://docs.aws.amazon.com/autoscaling/ec2/userguide/key-policy-requirements-EBS-encryption.html",
    "infrastructure": "https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/iam-roles-for-amazon-ec2.html",
    "key-state": "https://docs.aws.amazon.com/kms/latest/developerguide/key-state.html",
    "cross-account": "https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-modifying-external-accounts.html",
    "evaluation": "https://docs.aws.amazon.com/kms/latest/developerguide/determining-access.html",
    "scp": "https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_scps.html",
    "ebs": "https://docs.aws.amazon.com/ebs/latest/userguide/ebs-encryption-requirements.html",
    "boundary": "https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_boundaries.html",
}


@dataclass(frozen=True)
class Finding:
    """One refused call, said plainly."""

    call: CallResult
    who: str
    layer: str
    headline: str
    details: tuple[str, ...]
    doc: str

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.call.action,
            "principal": self.call.call.principal.arn,
            "who": self.who,
            "resource": self.call.resource,
            "decision": self.call.verdict.value,
            "layer": self.layer,
            "headline": self.headline,
            "details": list(self.details),
            "doc": self.doc,
        }


@dataclass(frozen=True)
class Evidence:
    """A refused KMS call recorded by CloudTrail in the snapshot, set against the prediction."""

    event_name: str
    event_time: str
    principal: str
    error_code: str
    error_message: str
    aws_layer: str | None
    agrees: bool
    note: str

    def to_json(self) -> dict[str, Any]:
        return {
            "event_name": self.event_name,
            "event_time": self.event_time,
            "principal": self.principal,
            "error_code": self.error_code,
            "error_message": self.error_message,
            "aws_layer": self.aws_layer,
            "agrees": self.agrees,
            "note": self.note,
        }


@dataclass(frozen=True)
class Diagnosis:
    result: LaunchResult
    findings: tuple[Finding, ...]
    evidence: tuple[Evidence, ...]
    plans: tuple[FixPlan, ...]
    unknown: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())

    @property
    def fix(self) -> FixPlan | None:
        """The verified fix that keeps the user's key and launch parameters, if there is one."""
        return preferred(self.plans)

    @property
    def launch_change_only(self) -> FixPlan | None:
        """The verified alternative, when it is the only verified plan: the launch itself must change."""
        if self.fix is not None:
            return None
        return next((p for p in self.plans if p.verified and p.alternative), None)

    def to_json(self) -> dict[str, Any]:
        out = self.result.to_json()
        out["diagnosis"] = [f.to_json() for f in self.findings]
        out["cloudtrail_evidence"] = [e.to_json() for e in self.evidence]
        first = shown(self.plans)
        out["fixes"] = first.to_json() if first else []
        out["fix_plans"] = [p.summary() for p in self.plans]
        out["unknown"] = list(self.unknown)
        return out


def _who(c: CallResult) -> str:
    p = c.call.principal
    if p.is_ec2_infrastructure:
        return (
            "the instance's own identity (aws:ec2-infrastructure): EC2 decrypts the volume's data key as the instance"
        )
    if p.is_service_linked_role:
        return f"the service-linked role {p.name}: the service launches as it, not as the user who configured it"
    return f"the caller {p.arn}, through EC2 (forward access: EC2 calls KMS with the caller's permissions)"


def _layer_words(layer: Layer | None, key_arn: str) -> str:
    return {
        Layer.KEY_POLICY: f"the key policy of {key_arn}",
        Layer.IDENTITY_POLICY: "the caller's IAM policies",
        Layer.SCP: "a service control policy",
        Layer.RCP: "a resource control policy",
        Layer.PERMISSIONS_BOUNDARY: "the caller's permissions boundary",
        Layer.SESSION_POLICY: "the session policy",
        Layer.VPC_ENDPOINT_POLICY: "the VPC endpoint's policy",
        None: "the key's state",
    }.get(layer, "a policy")


def explain_refusal(c: CallResult) -> Finding:
    """The refused call in words a cloud engineer reads in ten seconds."""
    who = _who(c)
    d = c.authorized.decision
    p = c.call.principal
    details: list[str] = []
    if c.verdict is CallVerdict.KEY_STATE:
        return Finding(
            c,
            who,
            "key-state",
            f"{c.action} was refused because the key is not usable: {c.error_message}",
            (f"KMS says {c.error_code}; EC2 shows Client.InvalidKMSKey.InvalidState.",),
            DOCS["key-state"],
        )
    first = d.denied_by[0] if d.denied_by else None
    if d.verdict is Verdict.EXPLICIT_DENY:
        ctx = build_context(c.authorized.request, c.authorized.policies)
        headline = f"{c.action} by {p.arn} was explicitly denied by {_layer_words(first, c.resource)}"
        for ref in d.decided_by:
            details.append(f"Deny: {describe_ref(ref)}")
            for met in conditions_met(c.authorized.policies, ref, ctx):
                details.append(f"  {met}")
        if p.is_ec2_infrastructure and "aws:sourceip" in ctx:
            details.append(
                f"aws:SourceIp of this call is {ctx['aws:sourceip'][0]}, an address of EC2's infrastructure: the "
                "instance's identity makes it, not you, so a condition on your network cannot hold for it"
            )
        doc = DOCS["infrastructure"] if p.is_ec2_infrastructure else DOCS["evaluation"]
        return Finding(c, who, first.value if first else "policy", headline, tuple(details), doc)
    # Implicit deny.
    layers = ", ".join(layer.value for layer in d.denied_by)
    if first is Layer.IDENTITY_POLICY:
        delegating = [r for r in d.partial if r.layer is PolicyType.KEY]
        if p.is_service_linked_role and p.account != c.resource.split(":")[4]:
            headline = (
                f"{c.action} by the service-linked role {p.name} was refused: the key belongs to account "
                f"{c.resource.split(':')[4]}, and a service-linked role's IAM policies cannot allow KMS: it can use "
                f"another account's key only through a grant made in its own account {p.account}"
            )
            doc = DOCS["slr"]
        elif p.is_service_linked_role:
            headline = (
                f"{c.action} by the service-linked role {p.name} was refused: the key policy only lets IAM decide, "
                "and a service-linked role's IAM policies cannot allow KMS: the key policy must name the role"
            )
            doc = DOCS["slr"]
        else:
            headline = f"{c.action} was refused: no IAM policy of {p.name or p.arn} allows it on this key"
            doc = DOCS["identity"]
        for r in delegating:
            details.append(f"the key policy lets IAM decide: {describe_ref(r)}")
    elif first is Layer.KEY_POLICY:
        headline = f"{c.action} was refused: the key policy of {c.resource} neither names {p.arn} nor lets IAM decide"
        doc = DOCS["cross-account"] if p.account != c.resource.split(":")[4] else DOCS["evaluation"]
        if p.is_service_linked_role and p.account != c.resource.split(":")[4]:
            headline += "; a service-linked role of another account needs a grant"
            doc = DOCS["slr"]
    elif first is Layer.PERMISSIONS_BOUNDARY:
        boundary = c.authorized.policies.boundary
        name = boundary.name if boundary is not None else "its permissions boundary"
        headline = (
            f"{c.action} was refused: the permissions boundary {name} of {p.name or p.arn} does not allow it, "
            "and a boundary caps whatever the identity policies allow"
        )
        doc = DOCS["boundary"]
    else:
        headline = f"{c.action} was refused: {layers} lacks an allow"
        doc = DOCS["scp"] if first in (Layer.SCP, Layer.RCP) else DOCS["evaluation"]
    shown = 0
    for n in d.near_misses:
        if n.mismatch.element is Element.ACTION and shown >= 2:
            continue
        details.append(f"near miss: {describe_ref(n.statement)}: {describe_mismatch(n.mismatch)}")
        shown += 1
        if shown >= 5:
            break
    for r in d.partial:
        if r.layer is not PolicyType.KEY:
            details.append(f"allowed, but not enough alone: {describe_ref(r)}")
    return Finding(c, who, first.value if first else "policy", headline, tuple(details), doc)


_WORDING = (
    (re.compile(r"no identity-based policy allows"), "identity-policy"),
    (re.compile(r"no resource-based policy allows"), "key-policy"),
    (re.compile(r"explicit deny in a resource-based policy"), "key-policy"),
    (re.compile(r"explicit deny in an identity-based policy"), "identity-policy"),
    (re.compile(r"service control policy"), "scp"),
    (re.compile(r"resource control policy"), "rcp"),
    (re.compile(r"permissions boundary"), "permissions-boundary"),
    (re.compile(r"session policy"), "session-policy"),
)


def _aws_layer(ev: dict[str, Any]) -> str | None:
    code = str(ev.get("errorCode") or "")
    if code in ("DisabledException", "KMSInvalidStateException"):
        return "key-state"
    msg = str(ev.get("errorMessage") or "")
    for pattern, layer in _WORDING:
        if pattern.search(msg):
            return layer
    return None


def _event_key(ev: dict[str, Any]) -> str | None:
    for r in ev.get("resources") or []:
        if isinstance(r, dict) and r.get("type") == "AWS::KMS::Key":
            return str(r.get("ARN"))
    rp = ev.get("requestParameters") or {}
    return str(rp.get("keyId")) if isinstance(rp, dict) and rp.get("keyId") else None


_EC2_ID = re.compile(r"\b(?:i|vol)-[0-9a-f]{8,17}\b")


def _of_this_launch(ev: dict[str, Any], ids: set[str], started: datetime | None) -> bool:
    """A record is the replayed launch's when it names the instance or one of its volumes (the grantee of
    CreateGrant, the instance identity's session, ``aws:ebs:id``); one naming another instance or volume is not;
    one naming none is when it falls in the launch's time window after its RunInstances record."""
    named = set(_EC2_ID.findall(json.dumps(ev)))
    if named & ids:
        return True
    if named:
        return False
    return in_launch_window(ev, started)  # assumption replayed-launch-trail-window


def match_cloudtrail(pristine: World, result: LaunchResult, instance_id: str | None) -> list[Evidence]:
    """Refused KMS calls in the snapshot's CloudTrail for this launch's keys, read as evidence.

    With ``instance_id`` (a replayed instance) only that launch's records count: those naming the instance or its
    volumes, and those naming none made within ``LAUNCH_WINDOW`` of the instance's RunInstances record.
    """
    trail = pristine.account(result.account).region(result.region).trail
    events = trail.events
    predicted = result.refused_calls[0] if result.refused_calls else None
    keys = {c.resource for c in result.calls}
    ids = {instance_id, *(v.volume_id for v in result.volumes)} if instance_id else set()
    started = None
    if instance_id:
        run = run_instances_event(pristine, result.account, result.region, instance_id)
        started = event_time(run.get("eventTime")) if run else None
    out: list[Evidence] = []
    for ev in events:
        if ev.get("eventSource") != "kms.amazonaws.com" or not ev.get("errorCode"):
            continue
        key = _event_key(ev)
        if key not in keys:
            continue
        if instance_id and not _of_this_launch(ev, ids, started):
            continue
        who = str((ev.get("userIdentity") or {}).get("arn") or "")
        layer = _aws_layer(ev)
        if predicted is None:
            agrees, note = False, "AWS refused this call, but kmslaunch predicts the launch succeeds"
        else:
            same_call = ev.get("eventName") == predicted.call.operation
            same_who = who == predicted.call.principal.arn or (
                predicted.call.principal.is_ec2_infrastructure and "aws:ec2-infrastructure" in who
            )
            same_layer = layer == (predicted.denied_by[0] if predicted.denied_by else None)
            agrees = same_call and same_who and same_layer
            if agrees:
                note = "AWS's record agrees with the prediction"
            else:
                parts = []
                if not same_call:
                    parts.append(f"AWS refused {ev.get('eventName')}, kmslaunch predicts {predicted.call.operation}")
                if not same_who:
                    parts.append(f"AWS's caller was {who}, kmslaunch's {predicted.call.principal.arn}")
                if not same_layer:
                    parts.append(f"AWS's wording points at {layer}, kmslaunch at {', '.join(predicted.denied_by)}")
                note = "disagreement: " + "; ".join(parts) + " (the policies may have changed since)"
        out.append(
            Evidence(
                str(ev.get("eventName")),
                str(ev.get("eventTime")),
                who,
                str(ev.get("errorCode")),
                str(ev.get("errorMessage") or ""),
                layer,
                agrees,
                note,
            )
        )
    return out


def diagnose(
    pristine: World, req: LaunchRequest, *, unknown: tuple[str, ...] = (), instance_id: str | None = None
) -> Diagnosis:
    """Simulate the launch on a copy of the world, explain what was refused, and find verified fixes."""
    world = fork(pristine)
    result = simulate(world, req)
    findings = tuple(explain_refusal(c) for c in result.refused_calls)
    evidence = tuple(match_cloudtrail(pristine, result, instance_id))
    plans: tuple[FixPlan, ...] = ()
    if not result.succeeded and result.outcome.state != "rejected":
        alternative = find_parameter_fix(pristine, req, result)
        plans = (find_fix(pristine, req, unchanged=(world, result)),) + ((alternative,) if alternative else ())
    return Diagnosis(result, findings, evidence, plans, unknown)
