"""The bundled pre-flight examples: Terraform plans and a hand-written CloudFormation template of launches that
would fail on KMS, each with a control that passes, and the snapshot of the account they are applied to (its IAM,
the AMI, no organization)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kmslaunch.world.autoscaling import default_slr_arn
from kmslaunch.world.builder import add_image, add_key, add_service_linked_role
from kmslaunch.world.ec2 import EbsSpec, Image
from kmslaunch.world.kms import default_key_policy
from kmslaunch.world.world import World

from .planjson import PlanBuilder

ACCOUNT = "111122223333"
REGION = "us-east-1"
AMI = "ami-0a1b2c3d4e5f60718"
SLR = f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
ROOT = f"arn:aws:iam::{ACCOUNT}:root"
USE = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]
GRANT = ["kms:CreateGrant"]


@dataclass(frozen=True)
class PreflightScenario:
    name: str
    title: str
    doc: str
    expect: str  # the verdict of the failing path ("fails") or of every path of the control ("runs")
    build: Callable[[], dict[str, Any]]


def account_world() -> World:
    """The account the plans are applied to, as a snapshot holds it: the AMI, Auto Scaling's service-linked
    role, EBS defaults read, no organization."""
    world = World()
    world.account(ACCOUNT).region(REGION)
    add_image(world, ACCOUNT, REGION, name="app-base", image_id=AMI, snapshot_id="snap-0a1b2c3d4e5f60718")
    add_service_linked_role(world, ACCOUNT, "autoscaling.amazonaws.com", "AWSServiceRoleForAutoScaling")
    return world


def key_policy(slr_statements: bool, via_service: str | None = None) -> str:
    admin = {
        "Sid": "EnableRootPermissions",
        "Effect": "Allow",
        "Principal": {"AWS": ROOT},
        "Action": "kms:*",
        "Resource": "*",
    }
    statements: list[dict[str, Any]] = [admin]
    if slr_statements:
        use: dict[str, Any] = {
            "Sid": "AllowServiceLinkedRoleUseOfTheKey",
            "Effect": "Allow",
            "Principal": {"AWS": SLR},
            "Action": USE,
            "Resource": "*",
        }
        if via_service:
            use["Condition"] = {"StringEquals": {"kms:ViaService": via_service}}
        grant = {
            "Sid": "AllowAttachmentOfPersistentResources",
            "Effect": "Allow",
            "Principal": {"AWS": SLR},
            "Action": GRANT,
            "Resource": "*",
            "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}},
        }
        statements += [use, grant]
    return json.dumps({"Version": "2012-10-17", "Statement": statements}, separators=(",", ":"))


def _template(device: str = "/dev/xvda") -> dict[str, Any]:
    return {
        "name": "app",
        "image_id": AMI,
        "instance_type": "m5.large",
        "update_default_version": True,
        "block_device_mappings": [
            {
                "device_name": device,
                "no_device": "",
                "virtual_name": "",
                "ebs": [
                    {
                        "delete_on_termination": "true",
                        "encrypted": "true",
                        "volume_size": 30,
                        "volume_type": "gp3",
                        "iops": 0,
                        "throughput": 0,
                        "snapshot_id": "",
                    }
                ],
            }
        ],
        "tags": {"team": "platform"},
        # A sensitive variable's value: terraform show -json prints it, and marks it in after_sensitive.
        "user_data": "IyEvYmluL2Jhc2gKL2V0Yy9la3MvYm9vdHN0cmFwLnNo",
    }


def kops_asg(slr_statements: bool) -> dict[str, Any]:
    """A kops-style Auto Scaling group whose template encrypts the root volume with a new key."""
    b = PlanBuilder(REGION, ACCOUNT)
    b.add(
        "aws_kms_key.ebs",
        {
            "description": "EBS volumes of the nodes",
            "is_enabled": True,
            "key_usage": "ENCRYPT_DECRYPT",
            "customer_master_key_spec": "SYMMETRIC_DEFAULT",
            "multi_region": False,
            "enable_key_rotation": True,
            "policy": key_policy(slr_statements),
            "tags": {"team": "platform"},
        },
        refs={"policy": ["data.aws_caller_identity.current.account_id", "data.aws_caller_identity.current"]},
    )
    b.add(
        "aws_kms_alias.ebs",
        {"name": "alias/nodes-ebs"},
        refs={"target_key_id": ["aws_kms_key.ebs.key_id", "aws_kms_key.ebs"]},
    )
    b.add(
        "aws_launch_template.nodes",
        _template(),
        refs={"block_device_mappings[0].ebs[0].kms_key_id": ["aws_kms_key.ebs.arn", "aws_kms_key.ebs"]},
        sensitive=("user_data",),
    )
    b.add(
        "aws_autoscaling_group.nodes",
        {
            "name": "nodes.k8s.example.com",
            "min_size": 1,
            "max_size": 3,
            "desired_capacity": 1,
            "vpc_zone_identifier": ["subnet-0123456789abcdef0"],
            "launch_template": [{"version": "$Latest"}],
        },
        refs={"launch_template[0].id": ["aws_launch_template.nodes.id", "aws_launch_template.nodes"]},
    )
    return b.to_json()


def eks_nodegroup(slr_statements: bool) -> dict[str, Any]:
    """An EKS managed node group (in a module, as terraform-aws-modules/eks writes it) whose launch template
    encrypts the root volume with the module's key."""
    b = PlanBuilder(REGION, ACCOUNT)
    b.add(
        "module.eks.aws_kms_key.ebs",
        {
            "description": "EKS node volumes",
            "is_enabled": True,
            "key_usage": "ENCRYPT_DECRYPT",
            "customer_master_key_spec": "SYMMETRIC_DEFAULT",
            "multi_region": False,
            "policy": key_policy(slr_statements),
        },
        refs={"policy": ["data.aws_caller_identity.current.account_id", "data.aws_caller_identity.current"]},
    )
    b.add(
        "module.eks.aws_iam_role.node",
        {
            "name": "eks-node",
            "path": "/",
            "max_session_duration": 3600,
            "force_detach_policies": False,
            "assume_role_policy": json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
                    ],
                }
            ),
            "inline_policy": [],
            "managed_policy_arns": [],
        },
    )
    b.add(
        "module.eks.module.node_group.aws_launch_template.this[0]",
        _template(),
        refs={"block_device_mappings[0].ebs[0].kms_key_id": ["var.ebs_kms_key_arn"]},
        sensitive=("user_data",),
    )
    b.add(
        "module.eks.module.node_group.aws_eks_node_group.this[0]",
        {
            "cluster_name": "prod",
            "node_group_name": "general",
            "capacity_type": "ON_DEMAND",
            "scaling_config": [{"desired_size": 2, "max_size": 4, "min_size": 1}],
            "launch_template": [{}],
        },
        refs={
            "node_role_arn": ["var.iam_role_arn"],
            "launch_template[0].id": ["aws_launch_template.this[0].id", "aws_launch_template.this"],
            "launch_template[0].version": ["aws_launch_template.this[0].default_version", "aws_launch_template.this"],
        },
    )
    return b.to_json()


def viaservice(correct: bool) -> dict[str, Any]:
    """A launch template whose key lets Auto Scaling's role use it only through EC2, the condition naming the
    account id where EC2's service name has the region (kms:ViaService is ec2.REGION.amazonaws.com:
    https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-via-service)."""
    b = PlanBuilder(REGION, ACCOUNT)
    via = f"ec2.{REGION}.amazonaws.com" if correct else f"ec2.{ACCOUNT}.amazonaws.com"
    b.add(
        "aws_kms_key.app",
        {
            "description": "app volumes",
            "is_enabled": True,
            "key_usage": "ENCRYPT_DECRYPT",
            "customer_master_key_spec": "SYMMETRIC_DEFAULT",
            "multi_region": False,
            "policy": key_policy(True, via),
        },
        refs={"policy": ["data.aws_caller_identity.current.account_id", "data.aws_region.current.name"]},
    )
    b.add(
        "aws_launch_template.app",
        _template(),
        refs={"block_device_mappings[0].ebs[0].kms_key_id": ["aws_kms_key.app.arn", "aws_kms_key.app"]},
    )
    b.add(
        "aws_autoscaling_group.app",
        {"name": "app", "min_size": 1, "max_size": 2, "desired_capacity": 1, "launch_template": [{}]},
        refs={
            "launch_template[0].id": ["aws_launch_template.app.id", "aws_launch_template.app"],
            "launch_template[0].version": ["aws_launch_template.app.latest_version", "aws_launch_template.app"],
        },
    )
    return b.to_json()


def _eks(slr: bool) -> dict[str, Any]:
    data = eks_nodegroup(slr)
    # The node group module receives the key's ARN and the role's as variables: the module call's references.
    cfg = data["configuration"]["root_module"]["module_calls"]["eks"]["module"]
    call = cfg["module_calls"]["node_group"]
    call["expressions"] = {
        "ebs_kms_key_arn": {"references": ["aws_kms_key.ebs.arn", "aws_kms_key.ebs"]},
        "iam_role_arn": {"references": ["aws_iam_role.node.arn", "aws_iam_role.node"]},
    }
    return data


PREFLIGHT_SCENARIOS: tuple[PreflightScenario, ...] = (
    PreflightScenario(
        "preflight-kops-asg-slr",
        "Before apply: an Auto Scaling group whose key policy leaves out Auto Scaling's service-linked role",
        "https://docs.aws.amazon.com/autoscaling/ec2/userguide/key-policy-requirements-EBS-encryption.html",
        "fails",
        lambda: kops_asg(False),
    ),
    PreflightScenario(
        "preflight-kops-asg-slr-control",
        "Before apply: the same group, its key policy allowing the service-linked role (passes)",
        "https://docs.aws.amazon.com/autoscaling/ec2/userguide/key-policy-requirements-EBS-encryption.html",
        "runs",
        lambda: kops_asg(True),
    ),
    PreflightScenario(
        "preflight-eks-nodegroup-cmk",
        "Before apply: an EKS managed node group whose launch template encrypts with a key Auto Scaling cannot use",
        "https://docs.aws.amazon.com/eks/latest/userguide/launch-templates.html",
        "fails",
        lambda: _eks(False),
    ),
    PreflightScenario(
        "preflight-eks-nodegroup-cmk-control",
        "Before apply: the same node group, its key policy allowing the service-linked role (passes)",
        "https://docs.aws.amazon.com/eks/latest/userguide/launch-templates.html",
        "runs",
        lambda: _eks(True),
    ),
    PreflightScenario(
        "preflight-viaservice-account",
        "Before apply: a key policy whose kms:ViaService names the account id instead of the region",
        "https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-via-service",
        "fails",
        lambda: viaservice(False),
    ),
    PreflightScenario(
        "preflight-viaservice-account-control",
        "Before apply: the same key policy with kms:ViaService ec2.us-east-1.amazonaws.com (passes)",
        "https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-via-service",
        "runs",
        lambda: viaservice(True),
    ),
)


# A hand-written CloudFormation template in YAML with short-form tags: the same Auto Scaling group as
# kops_asg, its key policy naming the service-linked role only when SlrInKeyPolicy is true, its AMI from an SSM
# parameter (read when the stack is deployed: --ssm gives it to the check).
AMI_PARAMETER = "/app/base-ami"
ASG_KEY_TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
Description: An Auto Scaling group whose launch template encrypts its volume with a new key
Parameters:
  InstanceType:
    Type: String
    Default: t3.micro
  ImageId:
    Type: AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>
    Default: /app/base-ami
  SlrInKeyPolicy:
    Type: String
    Default: "false"
    AllowedValues: ["true", "false"]
Conditions:
  GrantSlr: !Equals [!Ref SlrInKeyPolicy, "true"]
Resources:
  VolumeKey:
    Type: AWS::KMS::Key
    Properties:
      Description: app volumes
      KeyPolicy:
        Version: "2012-10-17"
        Statement:
          - Sid: EnableRootPermissions
            Effect: Allow
            Principal:
              AWS: !Sub "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"
            Action: kms:*
            Resource: "*"
          - !If
            - GrantSlr
            - Sid: AllowServiceLinkedRoleUseOfTheKey
              Effect: Allow
              Principal:
                AWS: !Sub "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/aws-service-role/\\
                  autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
              Action: [kms:Encrypt, kms:Decrypt, kms:ReEncrypt*, kms:GenerateDataKey*, kms:DescribeKey]
              Resource: "*"
            - !Ref AWS::NoValue
          - !If
            - GrantSlr
            - Sid: AllowAttachmentOfPersistentResources
              Effect: Allow
              Principal:
                AWS: !Sub "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/aws-service-role/\\
                  autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
              Action: kms:CreateGrant
              Resource: "*"
              Condition:
                Bool:
                  kms:GrantIsForAWSResource: true
            - !Ref AWS::NoValue
  AppTemplate:
    Type: AWS::EC2::LaunchTemplate
    Properties:
      LaunchTemplateData:
        ImageId: !Ref ImageId
        InstanceType: !Ref InstanceType
        BlockDeviceMappings:
          - DeviceName: /dev/xvda
            Ebs:
              Encrypted: true
              VolumeSize: 30
              VolumeType: gp3
              KmsKeyId: !GetAtt VolumeKey.Arn
  AppGroup:
    Type: AWS::AutoScaling::AutoScalingGroup
    Properties:
      MinSize: "1"
      MaxSize: "2"
      LaunchTemplate:
        LaunchTemplateId: !Ref AppTemplate
        Version: !GetAtt AppTemplate.LatestVersionNumber
"""


@dataclass(frozen=True)
class TemplateScenario:
    name: str
    title: str
    doc: str
    expect: str
    parameters: tuple[tuple[str, str], ...]


TEMPLATE_SCENARIOS: tuple[TemplateScenario, ...] = (
    TemplateScenario(
        "preflight-cfn-asg-key",
        "Before deploy: a CloudFormation Auto Scaling group whose key policy leaves out Auto Scaling's "
        "service-linked role",
        "https://docs.aws.amazon.com/autoscaling/ec2/userguide/key-policy-requirements-EBS-encryption.html",
        "fails",
        (),
    ),
    TemplateScenario(
        "preflight-cfn-asg-key-control",
        "Before deploy: the same template with SlrInKeyPolicy=true, the key policy naming the role (passes)",
        "https://docs.aws.amazon.com/autoscaling/ec2/userguide/key-policy-requirements-EBS-encryption.html",
        "runs",
        (("SlrInKeyPolicy", "true"),),
    ),
)


# -- The CDK examples: the account a synthesized CDK stack is deployed into ------------------------------------

# The SSM parameter the AMI of the CDK stack in tests/fixtures/cdk (AsgDefaultKeyStack) comes from, and what it
# resolves to in these accounts (an Amazon Linux AMI, listed in the snapshot).
CDK_AMI = "ami-0453ec754f44f9a4a"
CDK_AMI_SSM = {"/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-6.1-x86_64": CDK_AMI}
AMAZON_AMI_OWNER = "137112412989"  # the account that publishes Amazon Linux AMIs in us-east-1


def _slr_key_statements() -> list[dict[str, Any]]:
    """The two statements Auto Scaling's guide asks a key policy to give its service-linked role
    (https://docs.aws.amazon.com/autoscaling/ec2/userguide/key-policy-requirements-EBS-encryption.html)."""
    slr = default_slr_arn(ACCOUNT)
    return [
        {
            "Sid": "Allow service-linked role use of the customer managed key",
            "Effect": "Allow",
            "Principal": {"AWS": slr},
            "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
            "Resource": "*",
        },
        {
            "Sid": "Allow attachment of persistent resources",
            "Effect": "Allow",
            "Principal": {"AWS": slr},
            "Action": "kms:CreateGrant",
            "Resource": "*",
            "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}},
        },
    ]


def preflight_default_key_account(slr_in_key_policy: bool) -> World:
    """The account a CDK stack with an Auto Scaling group is deployed into, before it is: the group's volumes
    are encrypted with no key named, so EBS uses the account's default key, here a customer managed key. With
    CreateKey's default policy only, the key delegates to IAM, and Auto Scaling's service-linked role (whose
    IAM policy cannot be changed) gets nothing from it; ``slr_in_key_policy`` adds the statements the guide asks
    for. The Auto Scaling service-linked role exists; Amazon's public AMI is listed."""
    w = World()
    policy: dict[str, Any] | None = None
    if slr_in_key_policy:
        policy = default_key_policy(ACCOUNT)
        policy["Statement"] = [*policy["Statement"], *_slr_key_statements()]
    default = add_key(w, ACCOUNT, REGION, alias="ebs-default", description="EBS default key", policy=policy)
    w.account(ACCOUNT).region(REGION).ec2.defaults.default_kms_key_id = default.arn
    add_service_linked_role(w, ACCOUNT, "autoscaling.amazonaws.com", "AWSServiceRoleForAutoScaling")
    image = Image(
        image_id=CDK_AMI,
        owner=AMAZON_AMI_OWNER,
        name="al2023-ami-2023.6.20241212.0-kernel-6.1-x86_64",
        block_devices=(EbsSpec("/dev/xvda", "snap-0b7e3f5cd4bd1e35c", 8, "gp3", False),),
        public=True,
        creation_date="2024-12-13T20:14:36.000Z",
        description="Amazon Linux 2023 AMI 2023.6.20241212.0 x86_64 HVM kernel-6.1",
    )
    w.account(ACCOUNT).region(REGION).ec2.images[image.image_id] = image
    return w


# CDK example folder -> the account its snapshot holds (examples/generate.py writes them).
PREFLIGHT_EXAMPLES: dict[str, Callable[[], World]] = {
    "preflight-cdk-asg-default-key": lambda: preflight_default_key_account(slr_in_key_policy=False),
    "preflight-cdk-asg-default-key-control": lambda: preflight_default_key_account(slr_in_key_policy=True),
}
