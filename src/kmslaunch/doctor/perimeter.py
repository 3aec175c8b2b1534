"""The exemption a perimeter Deny needs for the KMS calls EC2 makes, written once for the doctor's fixes and the
audit's lint, so that one statement gets one recommendation.

EC2 makes its KMS calls for a launch from AWS's own network: the caller's GenerateDataKeyWithoutPlaintext and
CreateGrant through EC2 (forward access, ``aws:ViaAWSService`` true), and Decrypt as the instance's identity-only
role ``aws:ec2-infrastructure``. None of them comes through the customer's network, VPC or VPC endpoint. AWS: "If
you use … aws:SourceIp, aws:VpcSourceIp, aws:SourceVpc, or aws:SourceVpce … you must make sure that these policy
statements do not apply to instance-only roles"
(https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/iam-roles-for-amazon-ec2.html), pointing to the data-perimeter
examples (https://github.com/aws-samples/data-perimeter-policy-examples), whose network-perimeter statements carry
``"BoolIfExists": {"aws:ViaAWSService": "false"}`` and
``"ArnNotLikeIfExists": {"aws:PrincipalArn": "arn:aws:iam::*:role/aws:ec2-infrastructure"}``.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

from kmslaunch.policy.model import Effect, Statement
from kmslaunch.policy.principals import Principal

DATA_PERIMETER_EXAMPLES = "https://github.com/aws-samples/data-perimeter-policy-examples"
IDENTITY_ONLY_ROLES = "https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/iam-roles-for-amazon-ec2.html"
EC2_INFRASTRUCTURE_PATTERN = "arn:aws:iam::*:role/aws:ec2-infrastructure"

# Where a call comes from: no call EC2 makes for a launch has the customer's values for these.
NETWORK_KEYS = frozenset({"aws:sourceip", "aws:vpcsourceip", "aws:sourcevpc", "aws:sourcevpce"})
# Who makes a call, or through what: a Deny on these is a perimeter too, exempted call by call.
IDENTITY_KEYS = frozenset(
    {
        "aws:principalarn",
        "aws:principaltype",
        "aws:principalaccount",
        "aws:principalorgid",
        "aws:principalorgpaths",
        "aws:userid",
        "aws:username",
        "aws:viaawsservice",
        "aws:principalisawsservice",
        "kms:viaservice",
        "kms:calleraccount",
    }
)
ORIGIN_KEYS = NETWORK_KEYS | IDENTITY_KEYS


@dataclass(frozen=True, slots=True, order=True)
class ConditionEntry:
    """One condition to add to a Deny: ``"<operator>": {"<key>": "<value>"}``."""

    operator: str
    key: str
    value: str


VIA_AWS_SERVICE = ConditionEntry("BoolIfExists", "aws:ViaAWSService", "false")
EC2_INFRASTRUCTURE = ConditionEntry("ArnNotLikeIfExists", "aws:PrincipalArn", EC2_INFRASTRUCTURE_PATTERN)


def is_network_perimeter(st: Statement) -> bool:
    return st.effect is Effect.DENY and any(c.key_lower in NETWORK_KEYS for c in st.conditions)


def is_perimeter(st: Statement) -> bool:
    """A Deny about where a call comes from or who makes it: the only kind of Deny kmslaunch exempts EC2 from."""
    return st.effect is Effect.DENY and any(c.key_lower in ORIGIN_KEYS for c in st.conditions)


# Operators that leave the same calls out of a Deny as an entry's (with or without IfExists; a pattern matched as
# an ARN or as a string).
_SAME_EFFECT = {
    "BoolIfExists": frozenset({"Bool", "BoolIfExists"}),
    "ArnNotLikeIfExists": frozenset({"ArnNotLike", "ArnNotLikeIfExists", "StringNotLike", "StringNotLikeIfExists"}),
}


def _has(st: Statement, entry: ConditionEntry) -> bool:
    operators = _SAME_EFFECT.get(entry.operator, frozenset({entry.operator}))
    return any(
        c.operator in operators and c.key_lower == entry.key.lower() and entry.value in c.values for c in st.conditions
    )


def perimeter_exemption(st: Statement) -> tuple[ConditionEntry, ...]:
    """What a network-perimeter Deny needs so that no call EC2 makes for a launch is caught: both the calls made
    through EC2 and the instance identity's, at once (a launch makes both kinds), less what it already has."""
    if not is_network_perimeter(st):
        return ()
    return tuple(e for e in (VIA_AWS_SERVICE, EC2_INFRASTRUCTURE) if not _has(st, e))


def exemption_for_call(
    st: Statement, who: Principal, context: dict[str, tuple[str, ...]]
) -> tuple[ConditionEntry, ...] | str:
    """The entries that let this call (made by ``who`` with ``context``) past the perimeter Deny ``st``, or why
    kmslaunch will not loosen it."""
    if not is_perimeter(st):
        return "it refuses the call whatever the call's origin"
    entries: list[ConditionEntry] = list(perimeter_exemption(st))
    if who.is_service_linked_role:
        # A service-linked role makes its calls itself (aws:ViaAWSService false): exempt that role by its ARN.
        entries.append(ConditionEntry("ArnNotLikeIfExists", "aws:PrincipalArn", who.principal_arn))
    elif who.is_ec2_infrastructure:
        entries.append(EC2_INFRASTRUCTURE)
    elif context.get("aws:viaawsservice") == ("true",):
        entries.append(VIA_AWS_SERVICE)
    else:
        return f"it is aimed at {who.arn} itself, not only at the calls EC2 makes"
    out: list[ConditionEntry] = []
    for e in entries:
        if e not in out and not _has(st, e):
            out.append(e)
    return tuple(out)


def add_to_statement(raw: dict[str, Any], entries: tuple[ConditionEntry, ...]) -> dict[str, Any]:
    """A copy of the raw statement with ``entries`` in its Condition (values merged into an existing block)."""
    st = copy.deepcopy(raw)
    cond = st.setdefault("Condition", {})
    for e in entries:
        block = cond.setdefault(e.operator, {})
        current = block.get(e.key)
        if current is None:
            block[e.key] = e.value
        else:
            values = current if isinstance(current, list) else [current]
            if e.value not in values:
                block[e.key] = [*values, e.value]
    return st


def condition_block(entries: tuple[ConditionEntry, ...]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for e in sorted(entries):
        block = out.setdefault(e.operator, {})
        current = block.get(e.key)
        block[e.key] = e.value if current is None else [*(current if isinstance(current, list) else [current]), e.value]
    return out


def recommendation(entries: tuple[ConditionEntry, ...]) -> str:
    """The words the doctor and the lint both use for one exemption."""
    what = []
    if any(e.key == "aws:ViaAWSService" for e in entries):
        what.append("the calls EC2 makes for the caller (aws:ViaAWSService)")
    if any(e.key == "aws:PrincipalArn" and e.value == EC2_INFRASTRUCTURE_PATTERN for e in entries):
        what.append("the instance's own identity (aws:PrincipalArn aws:ec2-infrastructure)")
    if any(e.key == "aws:PrincipalArn" and e.value != EC2_INFRASTRUCTURE_PATTERN for e in entries):
        what.append("the service-linked role that launches (aws:PrincipalArn)")
    return (
        f"add {json.dumps(condition_block(entries))} to the Deny's Condition: it then leaves out "
        + " and ".join(what)
        + ", as AWS's data-perimeter examples do"
    )
