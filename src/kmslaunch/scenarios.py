"""The documented stories, built in code: the demo tells them, ``examples/`` holds them as snapshots, and the
tests run them. Each returns a world and the launch to simulate in it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kmslaunch.launch.request import LaunchRequest
from kmslaunch.launch.result import LaunchKind
from kmslaunch.world import builder as b
from kmslaunch.world.kms import KeyState, key_document
from kmslaunch.world.world import World

ACCOUNT = "111122223333"
OTHER_ACCOUNT = "444455556666"
REGION = "us-east-1"
ALICE_IP = "203.0.113.10"
CORPORATE_CIDR = "203.0.113.0/24"


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    doc: str
    expect_state: str
    build: Callable[[], tuple[World, LaunchRequest]]


def _kms_user_policy(key_arn: str) -> dict[str, Any]:
    """What AWS's EBS docs ask of a user's IAM policy to launch with a key
    (https://docs.aws.amazon.com/ebs/latest/userguide/ebs-encryption-requirements.html)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "UseKeyForEbs",
                "Effect": "Allow",
                "Action": ["kms:GenerateDataKeyWithoutPlaintext", "kms:Decrypt", "kms:ReEncrypt*", "kms:DescribeKey"],
                "Resource": key_arn,
            },
            {
                "Sid": "GrantsForEbs",
                "Effect": "Allow",
                "Action": "kms:CreateGrant",
                "Resource": key_arn,
                "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}},
            },
        ],
    }


def _alice_launches(alice: str, params: dict[str, Any]) -> LaunchRequest:
    """alice runs one t3.micro from her desk (203.0.113.10), with ``params`` on top."""
    base: dict[str, Any] = {"InstanceType": "t3.micro", "MinCount": 1, "MaxCount": 1}
    return LaunchRequest(
        LaunchKind.RUN_INSTANCES, ACCOUNT, REGION, params={**params, **base}, caller=alice, source_ip=ALICE_IP
    )


def _alice(world: World, extra: dict[str, dict[str, Any]] | None = None) -> str:
    b.aws_managed_policy(world, ACCOUNT, b.EC2_FULL_ACCESS_ARN, b.EC2_FULL_ACCESS)
    return b.add_user(world, ACCOUNT, "alice", managed=[b.EC2_FULL_ACCESS_ARN], inline=extra).arn


def kc_iam_user() -> tuple[World, LaunchRequest]:
    """Knowledge Center: an IAM user with full EC2 access launches with a customer managed key that has the
    default key policy. The key delegates to IAM; IAM allows nothing of KMS."""
    w = World()
    alice = _alice(w)
    key = b.add_key(w, ACCOUNT, REGION, alias="app-data", description="app volumes")
    image = b.add_image(w, ACCOUNT, REGION, name="app-server", encrypted_with=key)
    return w, _alice_launches(alice, {"ImageId": image.image_id})


def kc_source_ip() -> tuple[World, LaunchRequest]:
    """Knowledge Center: the key policy refuses use from outside the corporate network with aws:SourceIp. The
    user's own calls come from inside; the instance identity's Decrypt comes from EC2's address."""
    w = World()
    key = b.add_key(w, ACCOUNT, REGION, alias="corp-data", description="corporate data")
    policy = {
        "Version": "2012-10-17",
        "Id": "corp-network-only",
        "Statement": [
            {
                "Sid": "Enable IAM User Permissions",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                "Action": "kms:*",
                "Resource": "*",
            },
            {
                "Sid": "Deny use outside the corporate network",
                "Effect": "Deny",
                "Principal": "*",
                "Action": ["kms:Decrypt", "kms:GenerateDataKey*", "kms:CreateGrant", "kms:ReEncrypt*"],
                "Resource": "*",
                "Condition": {"NotIpAddress": {"aws:SourceIp": CORPORATE_CIDR}},
            },
        ],
    }
    key.policy = key_document(policy, key.arn)
    alice = _alice(w, {"kms-for-ebs": _kms_user_policy(key.arn)})
    image = b.add_image(w, ACCOUNT, REGION, name="app-server", encrypted_with=key)
    return w, _alice_launches(alice, {"ImageId": image.image_id})


def asg_slr_missing() -> tuple[World, LaunchRequest]:
    """Auto Scaling launches as its service-linked role; the key policy delegates to IAM only, and a
    service-linked role's IAM policies cannot be changed, so its KMS calls are refused."""
    w = World()
    key = b.add_key(w, ACCOUNT, REGION, alias="asg-data")
    image = b.add_image(w, ACCOUNT, REGION, name="web")
    lt = b.add_launch_template(
        w,
        ACCOUNT,
        REGION,
        "web",
        {
            "ImageId": image.image_id,
            "InstanceType": "t3.micro",
            "BlockDeviceMappings": [
                {"DeviceName": "/dev/xvda", "Ebs": {"Encrypted": True, "KmsKeyId": key.arn, "VolumeSize": 8}}
            ],
        },
    )
    b.add_auto_scaling_group(w, ACCOUNT, REGION, "web-asg", launch_template=lt)
    return w, LaunchRequest(LaunchKind.AUTO_SCALING, ACCOUNT, REGION, group="web-asg")


def cross_account_ami() -> tuple[World, LaunchRequest]:
    """An AMI shared from another account, encrypted with that account's key. Launched without a key of its
    own, the volume is encrypted with the workload account's default EBS key, re-encrypted from the owner's key
    (assumption shared-snapshot-default-key). The key policy allows the launching account, but Auto Scaling's
    service-linked role needs a grant made in the launching account to use the owner's key."""
    w = World()
    key = b.add_key(
        w,
        OTHER_ACCOUNT,
        REGION,
        alias="golden-ami",
        policy={
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "Enable IAM User Permissions",
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{OTHER_ACCOUNT}:root"},
                    "Action": "kms:*",
                    "Resource": "*",
                },
                {
                    "Sid": "Allow use of the key by the workload account",
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                    "Action": [
                        "kms:Encrypt",
                        "kms:Decrypt",
                        "kms:ReEncrypt*",
                        "kms:GenerateDataKey*",
                        "kms:DescribeKey",
                        "kms:CreateGrant",
                    ],
                    "Resource": "*",
                },
            ],
        },
    )
    image = b.add_image(w, OTHER_ACCOUNT, REGION, name="golden", encrypted_with=key, shared_with=[ACCOUNT])
    lt = b.add_launch_template(w, ACCOUNT, REGION, "golden", {"ImageId": image.image_id, "InstanceType": "t3.micro"})
    b.add_auto_scaling_group(w, ACCOUNT, REGION, "golden-asg", launch_template=lt)
    w.account(ACCOUNT).region(REGION)  # the workload account's KMS exists (it holds no keys)
    return w, LaunchRequest(LaunchKind.AUTO_SCALING, ACCOUNT, REGION, group="golden-asg")


def disabled_key() -> tuple[World, LaunchRequest]:
    """Every permission is right, but the key is disabled."""
    w = World()
    key = b.add_key(w, ACCOUNT, REGION, alias="retired", state=KeyState.DISABLED)
    alice = _alice(w, {"kms-for-ebs": _kms_user_policy(key.arn)})
    image = b.add_image(w, ACCOUNT, REGION, name="app-server", encrypted_with=key)
    return w, _alice_launches(alice, {"ImageId": image.image_id})


def success() -> tuple[World, LaunchRequest]:
    """The key delegates to IAM, and the user's IAM policy allows what EBS needs: the instance runs, and EC2's
    grant stays on the key."""
    w = World()
    key = b.add_key(w, ACCOUNT, REGION, alias="app-data")
    alice = _alice(w, {"kms-for-ebs": _kms_user_policy(key.arn)})
    image = b.add_image(w, ACCOUNT, REGION, name="app-server")
    return w, LaunchRequest(
        LaunchKind.RUN_INSTANCES,
        ACCOUNT,
        REGION,
        params={
            "ImageId": image.image_id,
            "InstanceType": "t3.micro",
            "MinCount": 1,
            "MaxCount": 1,
            "BlockDeviceMappings": [
                {"DeviceName": "/dev/xvda", "Ebs": {"Encrypted": True, "KmsKeyId": "alias/app-data"}}
            ],
        },
        caller=alice,
        source_ip=ALICE_IP,
    )


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "kc-iam-user",
        "IAM user with full EC2 access, key with the default key policy",
        "https://repost.aws/knowledge-center/ec2-instance-terminating",
        "terminated",
        kc_iam_user,
    ),
    Scenario(
        "kc-source-ip",
        "Key policy that refuses use from outside the corporate network (aws:SourceIp)",
        "https://repost.aws/knowledge-center/ec2-instance-terminating",
        "terminated",
        kc_source_ip,
    ),
    Scenario(
        "asg-slr-missing",
        "Auto Scaling's service-linked role missing from the key policy",
        "https://docs.aws.amazon.com/autoscaling/ec2/userguide/key-policy-requirements-EBS-encryption.html",
        "terminated",
        asg_slr_missing,
    ),
    Scenario(
        "cross-account-ami",
        "AMI shared from another account, its key shared without a grant for Auto Scaling",
        "https://docs.aws.amazon.com/autoscaling/ec2/userguide/key-policy-requirements-EBS-encryption.html",
        "terminated",
        cross_account_ami,
    ),
    Scenario(
        "disabled-key",
        "Key disabled",
        "https://docs.aws.amazon.com/kms/latest/developerguide/key-state.html",
        "terminated",
        disabled_key,
    ),
    Scenario(
        "success",
        "Key policy delegates and the user's IAM policy allows what EBS needs",
        "https://docs.aws.amazon.com/ebs/latest/userguide/ebs-encryption-requirements.html",
        "running",
        success,
    ),
)


def by_name(name: str) -> Scenario:
    for s in SCENARIOS:
        if s.name == name:
            return s
    raise KeyError(name)
