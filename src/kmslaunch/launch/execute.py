"""Making the KMS calls of a launch: each authorized by the engine, the key's state checked as KMS checks it,
CloudTrail written, EC2's grant created when CreateGrant succeeds."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from kmslaunch.policy.grants import Grant
from kmslaunch.policy.messages import access_denied_message
from kmslaunch.world.authz import authorize_in_world
from kmslaunch.world.clock import iso
from kmslaunch.world.kms import Key, KeyState
from kmslaunch.world.unknowns import Could, Unknown
from kmslaunch.world.world import World

from .plan import KmsCall
from .result import CallResult, CallVerdict, verdict_of
from .trail import event

# Key states that refuse cryptographic operations and CreateGrant; DescribeKey, RetireGrant and RevokeGrant work
# in every state (https://docs.aws.amazon.com/kms/latest/developerguide/key-state.html).
_UNUSABLE = {
    KeyState.DISABLED: ("DisabledException", "{arn} is disabled."),
    KeyState.PENDING_DELETION: ("KMSInvalidStateException", "{arn} is pending deletion."),
    KeyState.PENDING_IMPORT: ("KMSInvalidStateException", "{arn} is pending import."),
    KeyState.UNAVAILABLE: ("KMSInvalidStateException", "{arn} is unavailable."),
    KeyState.PENDING_REPLICA_DELETION: ("KMSInvalidStateException", "{arn} is pending replica deletion."),
}
_STATE_FREE = frozenset({"kms:DescribeKey", "kms:RetireGrant", "kms:RevokeGrant", "kms:ListGrants"})


def key_state_error(key: Key, action: str) -> tuple[str, str] | None:
    """KMS's error for using a key in its current state, or None when the state allows the action."""
    if action in _STATE_FREE or key.state not in _UNUSABLE:
        return None
    code, message = _UNUSABLE[key.state]
    return code, message.format(arn=key.arn)


def execute(world: World, calls: list[KmsCall], region: str, trail: list[dict[str, Any]]) -> list[CallResult]:
    """Make the calls in order; stop at the first refused one (assumption call-order)."""
    results: list[CallResult] = []
    for call in calls:
        refused: CallResult | None = None
        for action, key_arn in call.permissions:
            key = world.key_by_arn(key_arn)
            auth = authorize_in_world(
                world,
                call.principal,
                action,
                key_arn,
                key=key,
                context=call.context,
                encryption_context=call.encryption_context,
            )
            missing = _unknown_key(world, key_arn) if key is None else None
            if missing is not None:
                # The key lives in an account whose KMS the snapshot does not hold (an Amazon or Marketplace
                # AMI's snapshot key, another account's key): kmslaunch cannot decide the call, so it says so
                # and goes on with what it can decide, never calling it allowed.
                auth = replace(auth, unknowns=(*auth.unknowns, missing))
                result = CallResult(call, action, key_arn, CallVerdict.UNKNOWN, auth)
            elif not auth.decision.allowed:
                msg = access_denied_message(call.principal.arn, action, key_arn, auth.decision)
                result = CallResult(
                    call, action, key_arn, verdict_of(auth.decision.verdict), auth, "AccessDeniedException", msg
                )
            else:
                # assumption key-state-after-authorization
                state_error = key_state_error(key, action) if key is not None else None
                if state_error:
                    result = CallResult(call, action, key_arn, CallVerdict.KEY_STATE, auth, *state_error)
                else:
                    result = CallResult(call, action, key_arn, CallVerdict.ALLOWED, auth)
            results.append(result)
            if result.refused:
                refused = result
                break
        response = None
        if refused is None and call.operation == "CreateGrant" and call.grant is not None:
            response = _create_grant(world, call)
        trail.append(_record(world, call, region, refused, response))
        if refused is not None:
            break
    return results


def _unknown_key(world: World, key_arn: str) -> Unknown | None:
    """The unknown a key not in the world stands for, or None when the world knows the key does not exist."""
    parts = key_arn.split(":", 5)
    if len(parts) == 6 and parts[4] in world.accounts:
        region = world.accounts[parts[4]].regions.get(parts[3])
        if region is not None and region.kms.known:
            return None
    account = parts[4] if len(parts) == 6 else "its owner"
    return Unknown(
        f"the key policy and grants of {key_arn} (account {account}'s KMS keys are not in the snapshot)",
        Could.EITHER,
        f"collect account {account} too (kmslaunch collect --role-arn ...), or ask its owner for the key policy",
        "key-policy",
    )


def _create_grant(world: World, call: KmsCall) -> dict[str, Any]:
    """EC2's grant, left on the key as ``list-grants`` shows it."""
    assert call.grant is not None
    key = world.key_by_arn(call.key_arn)
    grant_id = world.ids.grant_id()
    if key is not None:
        constraints = call.grant.get("constraints", {}).get("encryptionContextSubset")
        key.grants.append(
            Grant(
                grant_id=grant_id,
                grantee=str(call.grant["granteePrincipal"]),
                operations=frozenset(call.grant["operations"]),
                key_arn=key.arn,
                retiring=str(call.grant.get("retiringPrincipal")),
                name="",
                issuing_account=f"arn:{world.partition}:iam::{call.principal.account}:root",
                creation_date=iso(world.clock.now()),
                context_subset=dict(constraints) if constraints else None,
            )
        )
    return {"grantId": grant_id, "keyId": call.key_arn}


def _record(
    world: World, call: KmsCall, region: str, refused: CallResult | None, response: dict[str, Any] | None
) -> dict[str, Any]:
    if call.operation == "CreateGrant":
        request: dict[str, Any] = dict(call.grant or {})
    elif call.operation == "Decrypt":
        request = {"encryptionContext": dict(call.encryption_context), "encryptionAlgorithm": "SYMMETRIC_DEFAULT"}
    elif call.operation == "ReEncrypt":
        request = {
            "sourceEncryptionContext": dict(call.encryption_context),
            "destinationKeyId": call.key_arn,
            "destinationEncryptionContext": dict(call.encryption_context),
            "sourceEncryptionAlgorithm": "SYMMETRIC_DEFAULT",
            "destinationEncryptionAlgorithm": "SYMMETRIC_DEFAULT",
        }
    elif call.operation == "DescribeKey":
        request = {"keyId": call.key_arn}
    else:
        request = {"keyId": call.key_arn, "encryptionContext": dict(call.encryption_context), "keySpec": "AES_256"}
    error_code = None
    if refused is not None:
        # CloudTrail records KMS's AccessDeniedException as "AccessDenied".
        error_code = "AccessDenied" if refused.error_code == "AccessDeniedException" else refused.error_code
    account = call.key_arn.split(":")[4]
    return event(
        world,
        who=call.principal,
        event_source="kms.amazonaws.com",
        event_name=call.operation,
        region=region,
        recipient_account=account,
        source_ip=call.source_ip,
        user_agent=call.invoked_by,
        request=request,
        response=response,
        invoked_by=call.invoked_by,
        error_code=error_code,
        error_message=refused.error_message if refused else None,
        resources=[{"accountId": account, "type": "AWS::KMS::Key", "ARN": call.key_arn}],
        read_only=call.operation == "DescribeKey",
    )
