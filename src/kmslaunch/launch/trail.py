"""CloudTrail records in AWS's shape for the calls of a launch.

Shapes follow real records (reference: aws-encrypted-launch.md §1) and "CloudTrail userIdentity element"
(https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-user-identity.html).
"""

from __future__ import annotations

from typing import Any

from kmslaunch.policy.principals import Principal, PrincipalType
from kmslaunch.world.clock import iso
from kmslaunch.world.world import World


def user_identity(world: World, who: Principal, invoked_by: str | None) -> dict[str, Any]:
    """The ``userIdentity`` element for a caller."""
    ident: dict[str, Any]
    if who.type is PrincipalType.USER:
        user = world.accounts[who.account].iam.users.get(who.name or "") if who.account in world.accounts else None
        ident = {
            "type": "IAMUser",
            "principalId": user.user_id if user else (who.userid or ""),
            "arn": who.arn,
            "accountId": who.account,
            "userName": who.name,
        }
    elif who.type is PrincipalType.ASSUMED_ROLE:
        role_id = (who.userid or "").split(":")[0]
        ident = {
            "type": "AssumedRole",
            "principalId": f"{role_id}:{who.session_name}" if role_id else who.session_name,
            "arn": who.arn,
            "accountId": who.account,
            "sessionContext": {
                "sessionIssuer": {
                    "type": "Role",
                    "principalId": role_id,
                    "arn": who.principal_arn,
                    "accountId": who.account,
                    "userName": who.name,
                },
                "attributes": {"mfaAuthenticated": "false"},
            },
        }
    elif who.type is PrincipalType.ACCOUNT:
        ident = {"type": "Root", "principalId": who.account, "arn": who.arn, "accountId": who.account}
    elif who.type is PrincipalType.SERVICE:
        ident = {"type": "AWSService", "invokedBy": who.service}
    else:
        ident = {"type": "Unknown"}
    if invoked_by and who.type is not PrincipalType.SERVICE:
        ident["invokedBy"] = invoked_by
    return ident


def event(
    world: World,
    *,
    who: Principal,
    event_source: str,
    event_name: str,
    region: str,
    recipient_account: str,
    source_ip: str,
    user_agent: str,
    request: dict[str, Any] | None,
    response: dict[str, Any] | None,
    invoked_by: str | None = None,
    error_code: str | None = None,
    error_message: str | None = None,
    resources: list[dict[str, str]] | None = None,
    read_only: bool = False,
    shared_event: bool = False,
) -> dict[str, Any]:
    """One CloudTrail record."""
    rec: dict[str, Any] = {
        "eventVersion": "1.08",
        "userIdentity": user_identity(world, who, invoked_by),
        "eventTime": iso(world.clock.now()),
        "eventSource": event_source,
        "eventName": event_name,
        "awsRegion": region,
        "sourceIPAddress": source_ip,
        "userAgent": user_agent,
    }
    if error_code:
        rec["errorCode"] = error_code
        rec["errorMessage"] = error_message or ""
    rec["requestParameters"] = request
    rec["responseElements"] = response
    rec["requestID"] = world.ids.request_id()
    rec["eventID"] = world.ids.event_id()
    rec["readOnly"] = read_only
    if resources:
        rec["resources"] = resources
    rec["eventType"] = "AwsApiCall"
    rec["managementEvent"] = True
    rec["recipientAccountId"] = recipient_account
    if shared_event:
        rec["sharedEventID"] = world.ids.event_id()
    rec["eventCategory"] = "Management"
    return rec
