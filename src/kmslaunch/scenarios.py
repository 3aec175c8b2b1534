"""The documented stories, built in code: the demo tells them, ``examples/`` holds them as snapshots, and the
tests run them. Each returns a world and the launch to simulate in it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kmslaunch.launch.request import LaunchRequest, simulate
from kmslaunch.launch.result import LaunchKind
from kmslaunch.world import builder as b
from kmslaunch.world.autoscaling import default_slr_arn
from kmslaunch.world.ec2 import EbsSpec, Image
from kmslaunch.world.instances import InstanceEvent
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


AMAZON_AMI_OWNER = "137112412989"  # the account that publishes Amazon Linux AMIs in us-east-1


def public_ami_default_key() -> tuple[World, LaunchRequest]:
    """An Amazon Linux AMI, Amazon's and public: its snapshot is not the account's to list, so describe-images
    is all the snapshot holds of it. The account encrypts new volumes by default with a customer managed key,
    which delegates to IAM; alice's IAM policy allows another key only."""
    w = World()
    default = b.add_key(w, ACCOUNT, REGION, alias="ebs-default", description="EBS encryption by default")
    app = b.add_key(w, ACCOUNT, REGION, alias="app-data", description="app volumes")
    alice = _alice(w, {"kms-for-ebs": _kms_user_policy(app.arn)})
    defaults = w.account(ACCOUNT).region(REGION).ec2.defaults
    defaults.encryption_by_default = True
    defaults.default_kms_key_id = default.arn
    image = Image(
        image_id="ami-0453ec754f44f9a4a",
        owner=AMAZON_AMI_OWNER,
        name="al2023-ami-2023.6.20241212.0-kernel-6.1-x86_64",
        block_devices=(EbsSpec("/dev/xvda", "snap-0b7e3f5cd4bd1e35c", 8, "gp3", False),),
        public=True,
        creation_date="2024-12-13T20:14:36.000Z",
        description="Amazon Linux 2023 AMI 2023.6.20241212.0 x86_64 HVM kernel-6.1",
    )
    # Listed in the account's describe-images (it launches it); Amazon's account is not in the world.
    w.account(ACCOUNT).region(REGION).ec2.images[image.image_id] = image
    return w, _alice_launches(alice, {"ImageId": image.image_id})


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


def _key_policy_naming(role_arn: str) -> dict[str, Any]:
    """The default key policy plus AWS's two statements for a service-linked role
    (https://docs.aws.amazon.com/autoscaling/ec2/userguide/key-policy-requirements-EBS-encryption.html)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Enable IAM User Permissions",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                "Action": "kms:*",
                "Resource": "*",
            },
            {
                "Sid": "Allow service-linked role use of the customer managed key",
                "Effect": "Allow",
                "Principal": {"AWS": role_arn},
                "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
                "Resource": "*",
            },
            {
                "Sid": "Allow attachment of persistent resources",
                "Effect": "Allow",
                "Principal": {"AWS": role_arn},
                "Action": "kms:CreateGrant",
                "Resource": "*",
                "Condition": {"Bool": {"kms:GrantIsForAWSResource": True}},
            },
        ],
    }


def _node_template(w: World, key_arn: str, name: str = "nodes") -> tuple[str, str]:
    """A launch template for m5.large nodes whose root volume is encrypted with ``key_arn``: (id, image id)."""
    image = b.add_image(w, ACCOUNT, REGION, name="node-ami")
    lt = b.add_launch_template(
        w,
        ACCOUNT,
        REGION,
        name,
        {
            "ImageId": image.image_id,
            "InstanceType": "m5.large",
            "BlockDeviceMappings": [
                {"DeviceName": "/dev/xvda", "Ebs": {"Encrypted": True, "KmsKeyId": key_arn, "VolumeSize": 20}}
            ],
        },
    )
    return lt.template_id, image.image_id


def eks_nodegroup() -> tuple[World, LaunchRequest]:
    """An EKS managed node group whose launch template encrypts the root volume with a key whose policy names a
    custom-suffix Auto Scaling role: EKS's group launches as the default AWSServiceRoleForAutoScaling."""
    w = World()
    custom = default_slr_arn(ACCOUNT, "nodes")
    key = b.add_key(w, ACCOUNT, REGION, alias="eks-nodes", policy=_key_policy_naming(custom))
    template_id, _ = _node_template(w, key.arn)
    lt = w.account(ACCOUNT).region(REGION).ec2.launch_templates[template_id]
    group = b.add_auto_scaling_group(w, ACCOUNT, REGION, "eks-general-3ac5b7d2", launch_template=lt, slr_suffix="nodes")
    group.service_linked_role_arn = default_slr_arn(ACCOUNT)
    group.tags.update({"eks:cluster-name": "prod", "eks:nodegroup-name": "general"})
    b.add_service_linked_role(w, ACCOUNT, "autoscaling.amazonaws.com", "AWSServiceRoleForAutoScaling")
    return w, LaunchRequest(LaunchKind.AUTO_SCALING, ACCOUNT, REGION, group=group.name)


def _fleet_input(template_id: str, fleet_type: str) -> dict[str, Any]:
    return {
        "Type": fleet_type,
        "LaunchTemplateConfigs": [
            {
                "LaunchTemplateSpecification": {"LaunchTemplateId": template_id, "Version": "1"},
                "Overrides": [{"InstanceType": "m5.large", "AvailabilityZone": f"{REGION}a"}],
            }
        ],
        "TargetCapacitySpecification": {"TotalTargetCapacity": 1, "DefaultTargetCapacityType": "on-demand"},
    }


def karpenter_create_fleet() -> tuple[World, LaunchRequest]:
    """Karpenter launches nodes with an instant CreateFleet, as its controller role's session: the key delegates
    to IAM, and the role's IAM policy allows EC2 but no KMS."""
    w = World()
    b.aws_managed_policy(w, ACCOUNT, b.EC2_FULL_ACCESS_ARN, b.EC2_FULL_ACCESS)
    b.add_role(w, ACCOUNT, "KarpenterControllerRole", managed=[b.EC2_FULL_ACCESS_ARN])
    key = b.add_key(w, ACCOUNT, REGION, alias="karpenter-nodes")
    template_id, _ = _node_template(w, key.arn, "karpenter-nodes")
    session = f"arn:aws:sts::{ACCOUNT}:assumed-role/KarpenterControllerRole/karpenter"
    return w, LaunchRequest(
        LaunchKind.CREATE_FLEET,
        ACCOUNT,
        REGION,
        params=_fleet_input(template_id, "instant"),
        caller=session,
        source_ip="10.0.12.34",
        form="create-fleet",
    )


def ec2_fleet_maintain() -> tuple[World, LaunchRequest]:
    """A maintain EC2 Fleet: EC2 Fleet launches as AWSServiceRoleForEC2Fleet, which the key policy (delegating
    to IAM only) does not name; the user who created the fleet may use the key, which does not help."""
    w = World()
    key = b.add_key(w, ACCOUNT, REGION, alias="fleet-data")
    alice = _alice(w, {"kms-for-ebs": _kms_user_policy(key.arn)})
    b.add_service_linked_role(w, ACCOUNT, "ec2fleet.amazonaws.com", "AWSServiceRoleForEC2Fleet")
    template_id, _ = _node_template(w, key.arn, "fleet")
    return w, LaunchRequest(
        LaunchKind.EC2_FLEET,
        ACCOUNT,
        REGION,
        params=_fleet_input(template_id, "maintain"),
        caller=alice,
        source_ip=ALICE_IP,
        form="create-fleet",
    )


def spot_request() -> tuple[World, LaunchRequest]:
    """A Spot Instance request: the instances are launched as AWSServiceRoleForEC2Spot, which the key policy
    does not name (it names Auto Scaling's role)."""
    w = World()
    key = b.add_key(w, ACCOUNT, REGION, alias="batch-data", policy=_key_policy_naming(default_slr_arn(ACCOUNT)))
    alice = _alice(w, {"kms-for-ebs": _kms_user_policy(key.arn)})
    b.add_service_linked_role(w, ACCOUNT, "spot.amazonaws.com", "AWSServiceRoleForEC2Spot")
    b.add_service_linked_role(w, ACCOUNT, "autoscaling.amazonaws.com", "AWSServiceRoleForAutoScaling")
    image = b.add_image(w, ACCOUNT, REGION, name="batch")
    params = {
        "InstanceCount": 1,
        "Type": "one-time",
        "LaunchSpecification": {
            "ImageId": image.image_id,
            "InstanceType": "c5.large",
            "BlockDeviceMappings": [
                {"DeviceName": "/dev/xvda", "Ebs": {"Encrypted": True, "KmsKeyId": key.arn, "VolumeSize": 8}}
            ],
        },
    }
    return w, LaunchRequest(
        LaunchKind.SPOT,
        ACCOUNT,
        REGION,
        params=params,
        caller=alice,
        source_ip=ALICE_IP,
        form="request-spot-instances",
    )


SCHEDULER_ROLE = "scheduler-Scheduler-Role"


def instance_scheduler() -> tuple[World, LaunchRequest]:
    """Instance Scheduler on AWS starts a stopped instance as its scheduling role; the instance's volume is
    encrypted with a key the role was never given (the stack's "KMS Key Arns for EC2" left empty)."""
    w, launch = success()
    result = simulate(w, launch)
    (instance_id,) = result.instance_ids
    inst = w.account(ACCOUNT).region(REGION).ec2.instances[instance_id]
    inst.apply(InstanceEvent.STOP)
    inst.apply(InstanceEvent.STOPPED)
    b.add_role(w, ACCOUNT, SCHEDULER_ROLE, inline={"scheduling": _SCHEDULER_POLICY})
    session = f"arn:aws:sts::{ACCOUNT}:assumed-role/{SCHEDULER_ROLE}/instance-scheduler"
    return w, LaunchRequest(LaunchKind.START_INSTANCES, ACCOUNT, REGION, caller=session, instance_id=instance_id)


_SCHEDULER_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": ["ec2:StartInstances", "ec2:StopInstances", "ec2:DescribeInstances", "ec2:CreateTags"],
            "Resource": "*",
        }
    ],
}


def service_catalog_launch_role() -> tuple[World, LaunchRequest]:
    """A Service Catalog product launched through a launch constraint: its launch role, not the end user, calls
    RunInstances (through CloudFormation), and the role has EC2 but no KMS permissions."""
    w = World()
    b.aws_managed_policy(w, ACCOUNT, b.EC2_FULL_ACCESS_ARN, b.EC2_FULL_ACCESS)
    b.add_role(w, ACCOUNT, "SCLaunchRole", managed=[b.EC2_FULL_ACCESS_ARN])
    key = b.add_key(w, ACCOUNT, REGION, alias="catalog-data")
    image = b.add_image(w, ACCOUNT, REGION, name="catalog-web", encrypted_with=key)
    session = f"arn:aws:sts::{ACCOUNT}:assumed-role/SCLaunchRole/servicecatalog"
    return w, LaunchRequest(
        LaunchKind.RUN_INSTANCES,
        ACCOUNT,
        REGION,
        params={"ImageId": image.image_id, "InstanceType": "t3.micro", "MinCount": 1, "MaxCount": 1},
        caller=session,
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
        "public-ami-default-key",
        "Amazon's public AMI under EBS encryption by default with a customer managed default key",
        "https://docs.aws.amazon.com/ebs/latest/userguide/encryption-by-default.html",
        "terminated",
        public_ami_default_key,
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
    Scenario(
        "eks-nodegroup",
        "EKS managed node group, key policy naming a custom-suffix Auto Scaling role",
        "https://docs.aws.amazon.com/eks/latest/userguide/managed-node-groups.html",
        "terminated",
        eks_nodegroup,
    ),
    Scenario(
        "karpenter-create-fleet",
        "Karpenter's instant CreateFleet, as its controller role, without KMS in the role's IAM policy",
        "https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ec2-fleet-prerequisites.html",
        "terminated",
        karpenter_create_fleet,
    ),
    Scenario(
        "ec2-fleet-maintain",
        "EC2 Fleet of type maintain, launched as AWSServiceRoleForEC2Fleet, which the key policy does not name",
        "https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ec2-fleet-prerequisites.html",
        "terminated",
        ec2_fleet_maintain,
    ),
    Scenario(
        "spot-request",
        "Spot Instance request, launched as AWSServiceRoleForEC2Spot, which the key policy does not name",
        "https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/service-linked-roles-spot-instance-requests.html",
        "terminated",
        spot_request,
    ),
    Scenario(
        "instance-scheduler",
        "Instance Scheduler's role starts an instance whose volume's key it may not use",
        "https://docs.aws.amazon.com/solutions/latest/instance-scheduler-on-aws/security-1.html",
        "stopped",
        instance_scheduler,
    ),
    Scenario(
        "service-catalog-launch-role",
        "Service Catalog launch role runs the instance, without KMS permissions",
        "https://docs.aws.amazon.com/servicecatalog/latest/adminguide/constraints-launch.html",
        "terminated",
        service_catalog_launch_role,
    ),
)


def by_name(name: str) -> Scenario:
    for s in SCENARIOS:
        if s.name == name:
            return s
    raise KeyError(name)
