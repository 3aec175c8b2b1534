"""Authorization sweep: a user with no policy calls every operation the endpoint serves, and escalation attempts.

The operations are enumerated from the dispatch tables (server/handlers HANDLERS), so a handler added later is swept
without a new line here. Each call carries the operation's required members, generated from botocore's input shape,
with the ids of resources the root user made first wherever a member names one (a key, a user, a role, a policy, an
instance...): the call reaches its handler's authorization, not only a NotFound. Only what AWS lets any caller do
succeeds (ALLOWED); every other call is refused in the protocol's shape, AccessDenied (query),
AccessDeniedException (JSON), UnauthorizedOperation (EC2), naming the caller. The account is an organization's
management account, so Organizations' calls reach their authorization too.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import botocore.session
import pytest
from botocore.credentials import Credentials
from botocore.model import Shape

from kmslaunch.server.handlers import HANDLERS
from kmslaunch.server.state import DEFAULT_ACCOUNT, State
from kmslaunch.server.store import Store
from wirecalls import ROOT, build, call, send

ACCOUNT = DEFAULT_ACCOUNT
_MODELS = botocore.session.get_session()

# What AWS lets a caller with no permission do: "No permissions are required to perform this operation"
# (https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html).
ALLOWED = {("sts", "GetCallerIdentity")}

DENIED = {"query": "AccessDenied", "json": "AccessDeniedException", "ec2": "UnauthorizedOperation"}

ALLOW_ALL = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})
TRUST_EC2 = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    }
)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[State, Credentials, dict[str, Any]]]:
    """The root user's resources, and the keys of user ``nobody`` (no policy at all)."""
    state = State(Store(tmp_path_factory.mktemp("sweep") / "s.sqlite"), examples=True)
    call(state, "iam", "CreateUser", {"UserName": "nobody"})
    key = call(state, "iam", "CreateAccessKey", {"UserName": "nobody"})["AccessKey"]
    nobody = Credentials(key["AccessKeyId"], key["SecretAccessKey"])
    call(state, "iam", "CreateUser", {"UserName": "other"})
    call(state, "organizations", "CreateOrganization", {"FeatureSet": "ALL"})
    call(state, "iam", "CreateGroup", {"GroupName": "admins"})
    call(state, "iam", "CreateRole", {"RoleName": "target-role", "AssumeRolePolicyDocument": TRUST_EC2})
    policy = call(state, "iam", "CreatePolicy", {"PolicyName": "everything", "PolicyDocument": ALLOW_ALL})
    kms_key = call(state, "kms", "CreateKey", {})["KeyMetadata"]
    blob = call(state, "kms", "Encrypt", {"KeyId": kms_key["KeyId"], "Plaintext": b"secret"})["CiphertextBlob"]
    grant = call(
        state,
        "kms",
        "CreateGrant",
        {
            "KeyId": kms_key["KeyId"],
            "GranteePrincipal": f"arn:aws:iam::{ACCOUNT}:user/other",
            "Operations": ["Decrypt"],
        },
    )
    images = call(state, "ec2", "DescribeImages", {"Owners": ["self"]})["Images"]
    image = images[0]["ImageId"]
    volume = call(state, "ec2", "CreateVolume", {"AvailabilityZone": "us-east-1a", "Size": 8})["VolumeId"]
    snapshot = call(state, "ec2", "CreateSnapshot", {"VolumeId": volume})["SnapshotId"]
    instance = call(state, "ec2", "RunInstances", {"ImageId": image, "MinCount": 1, "MaxCount": 1})["Instances"][0]
    call(
        state,
        "autoscaling",
        "CreateLaunchConfiguration",
        {"LaunchConfigurationName": "lc", "ImageId": image, "InstanceType": "t3.micro"},
    )
    call(
        state,
        "autoscaling",
        "CreateAutoScalingGroup",
        {
            "AutoScalingGroupName": "asg",
            "LaunchConfigurationName": "lc",
            "MinSize": 0,
            "MaxSize": 1,
            "AvailabilityZones": ["us-east-1a"],
        },
    )
    values: dict[str, Any] = {
        "UserName": "other",
        "GroupName": "admins",
        "RoleName": "target-role",
        "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/target-role",
        "RoleSessionName": "sweep",
        "PolicyArn": policy["Policy"]["Arn"],
        "PermissionsBoundary": policy["Policy"]["Arn"],
        "PolicyName": "inline",
        "PolicyDocument": ALLOW_ALL,
        "AssumeRolePolicyDocument": TRUST_EC2,
        "AWSServiceName": "autoscaling.amazonaws.com",
        "VersionId": "v1",
        "AccessKeyId": key["AccessKeyId"],
        "Status": "Inactive",
        "KeyId": kms_key["KeyId"],
        "TargetKeyId": kms_key["KeyId"],
        "DestinationKeyId": kms_key["KeyId"],
        "AliasName": "alias/sweep",
        "Policy": json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                        "Action": "kms:*",
                        "Resource": "*",
                    }
                ],
            }
        ),
        "CiphertextBlob": blob,
        "Plaintext": b"x",
        "GranteePrincipal": f"arn:aws:iam::{ACCOUNT}:user/nobody",
        "Operations": ["Decrypt"],
        "GrantId": grant["GrantId"],
        "NumberOfBytes": 16,
        "ImageId": image,
        "SourceImageId": image,
        "SourceRegion": "us-east-1",
        "SnapshotId": snapshot,
        "SourceSnapshotId": snapshot,
        "VolumeId": volume,
        "InstanceId": instance["InstanceId"],
        "InstanceIds": [instance["InstanceId"]],
        "Device": "/dev/sdf",
        "AvailabilityZone": "us-east-1a",
        "MinCount": 1,
        "MaxCount": 1,
        "MinSize": 0,
        "MaxSize": 1,
        "DesiredCapacity": 0,
        "AutoScalingGroupName": "asg",
        "LaunchConfigurationName": "lc",
        "LaunchTemplateName": "lt",
        "LaunchTemplateData": {"ImageId": image},
        "Name": "sweep",
        "Content": ALLOW_ALL,
        "Description": "sweep",
        "Type": "SERVICE_CONTROL_POLICY",
        "PolicyType": "SERVICE_CONTROL_POLICY",
    }
    yield state, nobody, values
    state.store.close()


def _value(name: str, shape: Shape, values: dict[str, Any], depth: int = 0) -> Any:
    """A minimal valid value for a member: a known resource's id by member name, else one the shape accepts."""
    if name in values:
        return values[name]
    kind = shape.type_name
    if kind == "structure":
        members = shape.members  # type: ignore[attr-defined]
        return {m: _value(m, members[m], values, depth + 1) for m in shape.required_members if depth < 4}
    if kind == "list":
        return [_value(name, shape.member, values, depth + 1)]  # type: ignore[attr-defined]
    if kind == "map":
        return {"k": "v"}
    if kind == "string":
        enum = shape.metadata.get("enum")
        return enum[0] if enum else "x" * max(1, int(shape.metadata.get("min", 1)))
    if kind in ("integer", "long"):
        return max(1, int(shape.metadata.get("min", 1)))
    if kind == "boolean":
        return False
    if kind == "blob":
        return b"x"
    if kind == "timestamp":
        return datetime.now(UTC)
    return "x"


# Members the model leaves optional but the call means nothing without (the model has no way to say "one of").
OPTIONAL_NEEDED = {
    ("kms", "Decrypt"): ("CiphertextBlob",),
    ("kms", "ReEncrypt"): ("CiphertextBlob",),
    ("kms", "CreateGrant"): ("GranteePrincipal",),
    ("kms", "RetireGrant"): ("KeyId", "GrantId"),
}


def _params(service: str, operation: str, values: dict[str, Any]) -> dict[str, Any]:
    shape = _MODELS.get_service_model(service).operation_model(operation).input_shape
    if shape is None:
        return {}
    names = (*shape.required_members, *OPTIONAL_NEEDED.get((service, operation), ()))
    return {m: _value(m, shape.members[m], values) for m in names}


SWEPT = sorted((service, op) for service, handlers in HANDLERS.items() for op in handlers)


def test_the_sweep_covers_every_operation_served() -> None:
    assert len(SWEPT) == sum(len(h) for h in HANDLERS.values())
    assert ("kms", "PutKeyPolicy") in SWEPT and ("iam", "UpdateAccessKey") in SWEPT


@pytest.mark.parametrize(("service", "operation"), SWEPT, ids=[f"{s}:{o}" for s, o in SWEPT])
def test_a_user_without_policies(
    world: tuple[State, Credentials, dict[str, Any]], service: str, operation: str
) -> None:
    state, nobody, values = world
    protocol = _MODELS.get_service_model(service).metadata["protocol"]
    wire = build(service, operation, _params(service, operation, values), nobody)
    status, parsed = send(state, service, operation, wire)
    if (service, operation) in ALLOWED:
        assert status == 200, parsed
        return
    error = parsed.get("Error", {})
    assert status < 500, parsed
    assert status != 200, f"{service}:{operation} succeeded for a user with no policy"
    assert error.get("Code") == DENIED[protocol], parsed
    assert f"arn:aws:iam::{ACCOUNT}:user/nobody" in error.get("Message", ""), parsed


# Escalation: each is what a user with a little access tries next ------------------------------------------------


@pytest.fixture
def limited(world: tuple[State, Credentials, dict[str, Any]]) -> Iterator[tuple[State, Credentials, str]]:
    """User ``limited``: may read IAM, use the key (kms:Encrypt, kms:DescribeKey) and call sts:AssumeRole, whose
    trust policy must still name it (target-role trusts EC2 only), nothing that widens access."""
    state, _, values = world
    call(state, "iam", "CreateUser", {"UserName": "limited"})
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["iam:Get*", "iam:List*", "kms:Encrypt", "kms:DescribeKey", "sts:AssumeRole"],
                "Resource": "*",
            }
        ],
    }
    call(
        state, "iam", "PutUserPolicy", {"UserName": "limited", "PolicyName": "p", "PolicyDocument": json.dumps(policy)}
    )
    key = call(state, "iam", "CreateAccessKey", {"UserName": "limited"})["AccessKey"]
    yield state, Credentials(key["AccessKeyId"], key["SecretAccessKey"]), values["KeyId"]
    for k in call(state, "iam", "ListAccessKeys", {"UserName": "limited"})["AccessKeyMetadata"]:
        call(state, "iam", "DeleteAccessKey", {"UserName": "limited", "AccessKeyId": k["AccessKeyId"]})
    call(state, "iam", "DeleteUserPolicy", {"UserName": "limited", "PolicyName": "p"})
    call(state, "iam", "DeleteUser", {"UserName": "limited"})


ESCALATIONS = [
    ("iam", "CreateAccessKey", {"UserName": "other"}, "iam:CreateAccessKey"),
    (
        "iam",
        "AttachUserPolicy",
        {"UserName": "limited", "PolicyArn": "arn:aws:iam::aws:policy/AdministratorAccess"},
        "iam:AttachUserPolicy",
    ),
    ("iam", "PutUserPolicy", {"UserName": "limited", "PolicyName": "mine", "PolicyDocument": ALLOW_ALL}, "iam:Put"),
    (
        "iam",
        "UpdateAccessKey",
        {"UserName": "other", "AccessKeyId": "AKIAOTHERUSERKEY0000", "Status": "Active"},
        "iam:Update",
    ),
    (
        "kms",
        "PutKeyPolicy",
        {"Policy": ALLOW_ALL.replace('"Action"', '"Principal": "*", "Action"')},
        "kms:PutKeyPolicy",
    ),
    (
        "kms",
        "CreateGrant",
        {"GranteePrincipal": f"arn:aws:iam::{ACCOUNT}:user/limited", "Operations": ["Decrypt", "CreateGrant"]},
        "kms:CreateGrant",
    ),
    (
        "sts",
        "AssumeRole",
        {"RoleArn": f"arn:aws:iam::{ACCOUNT}:role/target-role", "RoleSessionName": "escalate"},
        "sts:",
    ),
]


@pytest.mark.parametrize(("service", "operation", "params", "action"), ESCALATIONS, ids=[e[1] for e in ESCALATIONS])
def test_escalation_is_refused(
    limited: tuple[State, Credentials, str], service: str, operation: str, params: dict[str, Any], action: str
) -> None:
    state, creds, key_id = limited
    if service == "kms":
        params = {"KeyId": key_id, **params}
    protocol = _MODELS.get_service_model(service).metadata["protocol"]
    status, parsed = send(state, service, operation, build(service, operation, params, creds))
    assert status in (400, 403), parsed
    assert parsed["Error"]["Code"] == DENIED[protocol], parsed
    assert action in parsed["Error"]["Message"], parsed
    # Nothing changed: the user still has only its one inline policy, the key its policy.
    assert call(state, "iam", "ListAttachedUserPolicies", {"UserName": "limited"})["AttachedPolicies"] == []
    assert call(state, "iam", "ListUserPolicies", {"UserName": "limited"})["PolicyNames"] == ["p"]


# The key policy lockout safety check --------------------------------------------------------------------------

_ONLY_OTHER = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/other"},
                "Action": "kms:*",
                "Resource": "*",
            }
        ],
    }
)


def test_put_key_policy_that_locks_the_caller_out_is_refused(world: tuple[State, Credentials, dict[str, Any]]) -> None:
    state, _, _ = world
    key_id = call(state, "kms", "CreateKey", {})["KeyMetadata"]["KeyId"]
    before = call(state, "kms", "GetKeyPolicy", {"KeyId": key_id, "PolicyName": "default"})["Policy"]
    status, parsed = send(
        state, "kms", "PutKeyPolicy", build("kms", "PutKeyPolicy", {"KeyId": key_id, "Policy": _ONLY_OTHER}, ROOT)
    )
    assert (status, parsed["Error"]["Code"]) == (400, "MalformedPolicyDocumentException"), parsed
    assert "will not allow you to update the key policy in the future" in parsed["Error"]["Message"]
    assert call(state, "kms", "GetKeyPolicy", {"KeyId": key_id, "PolicyName": "default"})["Policy"] == before
    # BypassPolicyLockoutSafetyCheck: the caller takes the risk, and is then locked out as AWS warns.
    call(state, "kms", "PutKeyPolicy", {"KeyId": key_id, "Policy": _ONLY_OTHER, "BypassPolicyLockoutSafetyCheck": True})
    status, parsed = send(state, "kms", "DescribeKey", build("kms", "DescribeKey", {"KeyId": key_id}, ROOT))
    assert parsed["Error"]["Code"] == "AccessDeniedException", parsed


def test_create_key_with_a_policy_that_locks_the_caller_out(world: tuple[State, Credentials, dict[str, Any]]) -> None:
    state, _, values = world
    keys_before = len(call(state, "kms", "ListKeys", {})["Keys"])
    status, parsed = send(state, "kms", "CreateKey", build("kms", "CreateKey", {"Policy": _ONLY_OTHER}, ROOT))
    assert (status, parsed["Error"]["Code"]) == (400, "MalformedPolicyDocumentException"), parsed
    assert len(call(state, "kms", "ListKeys", {})["Keys"]) == keys_before  # no key was made
    made = call(state, "kms", "CreateKey", {"Policy": values["Policy"]})  # one that keeps the account in control
    assert made["KeyMetadata"]["KeyId"]
    call(state, "kms", "CreateKey", {"Policy": _ONLY_OTHER, "BypassPolicyLockoutSafetyCheck": True})
