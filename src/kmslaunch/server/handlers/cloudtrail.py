"""CloudTrail LookupEvents: the caller's account's trail in the request's region, newest first, as
``aws cloudtrail lookup-events`` prints it (https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_LookupEvents.html).

Every call the endpoint answers or refuses is in the trail (the dispatcher records it), so a refused call shows
with its ``errorCode``, as CloudTrail records AccessDenied. IAM, STS (global endpoint) and Organizations calls are
in us-east-1, where AWS records them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from kmslaunch.snapshot.save import lookup_event

from .base import ApiError, Ctx, Handler

_MAX_RESULTS = 50
_ATTRIBUTES = (
    "EventId",
    "EventName",
    "ReadOnly",
    "Username",
    "ResourceType",
    "ResourceName",
    "EventSource",
    "AccessKeyId",
)

# The request parameters that name a resource, and the resource type LookupEvents reports for each (CloudTrail's
# "Resources" element, https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_Resource.html).
_RESOURCE_PARAMETERS = {
    "userName": "AWS::IAM::User",
    "roleName": "AWS::IAM::Role",
    "roleArn": "AWS::IAM::Role",
    "groupName": "AWS::IAM::Group",
    "policyArn": "AWS::IAM::Policy",
    "accessKeyId": "AWS::IAM::AccessKey",
    "keyId": "AWS::KMS::Key",
    "targetKeyId": "AWS::KMS::Key",
    "destinationKeyId": "AWS::KMS::Key",
    "aliasName": "AWS::KMS::Alias",
    "policyId": "AWS::Organizations::Policy",
    "accountId": "AWS::Organizations::Account",
}


def _resources(rec: dict[str, Any]) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for r in rec.get("resources") or []:
        if isinstance(r, dict) and isinstance(r.get("ARN"), str):
            out.append({"ResourceType": str(r.get("type") or ""), "ResourceName": r["ARN"]})
    params = rec.get("requestParameters")
    if isinstance(params, dict):
        for key, kind in _RESOURCE_PARAMETERS.items():
            value = params.get(key)
            if isinstance(value, str) and value:
                out.append({"ResourceType": kind, "ResourceName": value})
    return out


def _event_time(rec: dict[str, Any]) -> datetime:
    try:
        return datetime.fromisoformat(str(rec.get("eventTime") or "").replace("Z", "+00:00"))
    except ValueError:
        return datetime(1970, 1, 1, tzinfo=UTC)


def _lookup(rec: dict[str, Any]) -> dict[str, Any]:
    """One LookupEvents entry: the snapshot's shape, with the time as a time and the resources it names."""
    out = lookup_event(rec)
    who = rec.get("userIdentity")
    if isinstance(who, dict) and who.get("type") == "Root":
        out.setdefault("Username", "root")  # lookup-events names the root user "root"
    out["EventTime"] = _event_time(rec)
    out["Resources"] = _resources(rec)
    return out


def _value(entry: dict[str, Any], key: str) -> list[str]:
    if key in ("ResourceName", "ResourceType"):
        return [r[key] for r in entry["Resources"]]
    value = entry.get(key)
    return [str(value)] if value is not None else []


def lookup_events(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    ctx.authorize("cloudtrail:LookupEvents", "*")
    attributes = params.get("LookupAttributes") or []
    if len(attributes) > 1:
        raise ApiError("InvalidLookupAttributesException", "You cannot specify more than one lookup attribute.")
    wanted: tuple[str, str] | None = None
    for a in attributes:
        key = str(a.get("AttributeKey") or "")
        if key not in _ATTRIBUTES:
            raise ApiError("InvalidLookupAttributesException", f"Lookup attribute key {key!r} is not valid.")
        wanted = (key, str(a.get("AttributeValue") or ""))
    start, end = params.get("StartTime"), params.get("EndTime")
    if start is not None and end is not None and start > end:
        raise ApiError("InvalidTimeRangeException", "Start time must not be after end time.")
    limit = int(params.get("MaxResults") or _MAX_RESULTS)
    if not 1 <= limit <= _MAX_RESULTS:
        raise ApiError("InvalidMaxResultsException", f"MaxResults must be between 1 and {_MAX_RESULTS}.")
    events = ctx.world.account(ctx.account).region(ctx.region).trail.events
    # The token is a position in the trail, which only grows at its end: new events never shift a later page.
    position = len(events)
    token = params.get("NextToken")
    if token:
        try:
            position = int(str(token).removeprefix("KL"))
        except ValueError:
            position = -1
        if not 0 <= position <= len(events):
            raise ApiError("InvalidNextTokenException", "Invalid NextToken.")
    out: list[dict[str, Any]] = []
    while position > 0 and len(out) < limit:
        position -= 1
        rec = events[position]
        entry = _lookup(rec)
        when = entry["EventTime"]
        if (start is not None and when < start) or (end is not None and when > end):
            continue
        if wanted is not None and wanted[1] not in _value(entry, wanted[0]):
            continue
        out.append(entry)
    result: dict[str, Any] = {"Events": out}
    if position > 0 and len(out) == limit:
        result["NextToken"] = f"KL{position}"
    return result


HANDLERS: dict[str, Handler] = {"LookupEvents": lookup_events}
