"""What a plan or a template says it will create, in one vocabulary for Terraform and CloudFormation.

A reader (Terraform plan JSON, CloudFormation template) yields ``PlannedResource`` values: a kind from
``KINDS``, and its attributes in the AWS API's own shapes (the request or describe output the resource maps to),
so that the world is built from them the way it is built from a snapshot. A value the file does not know yet is
a ``Ref`` (it names another resource's attribute: resolved when that resource is in the plan or the snapshot),
a ``Concat`` of parts (``Fn::Sub``, ``Fn::Join``, Terraform interpolation), a ``Pseudo`` parameter
(``AWS::AccountId``: from the snapshot) or an ``Unknown`` (known after apply and nothing says what it will be).
What stays unresolved is reported as unknown, never assumed to allow.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

# The kinds of resources a pre-flight reads, and the AWS API shape their ``values`` follow (keys as in the API).
KINDS: Mapping[str, str] = {
    "kms_key": "KeyPolicy (a policy document), Enabled, KeySpec, KeyUsage, MultiRegion, Description",
    "kms_key_policy": "KeyId, Policy (PutKeyPolicy)",
    "kms_alias": "AliasName, TargetKeyId (CreateAlias)",
    "kms_grant": "KeyId, GranteePrincipal, RetiringPrincipal, Operations, Constraints, Name (CreateGrant)",
    "iam_role": "RoleName, Path, AssumeRolePolicyDocument, PermissionsBoundary, ManagedPolicyArns, "
    "Policies [{PolicyName, PolicyDocument}]",
    "iam_user": "UserName, Path, PermissionsBoundary, ManagedPolicyArns, Policies [{PolicyName, PolicyDocument}]",
    "iam_policy": "PolicyName, Path, PolicyDocument, Roles, Users (the principals it is attached to, if any)",
    "iam_inline_policy": "PolicyName, PolicyDocument, RoleName | UserName",
    "iam_policy_attachment": "PolicyArn, RoleName | UserName",
    "iam_instance_profile": "InstanceProfileName, Path, Roles [role names]",
    "iam_service_linked_role": "AWSServiceName, CustomSuffix",
    "instance": "RunInstances: ImageId, InstanceType, BlockDeviceMappings, IamInstanceProfile {Arn|Name}, "
    "LaunchTemplate {LaunchTemplateId|LaunchTemplateName, Version}",
    "launch_template": "LaunchTemplateName, LaunchTemplateData (as describe-launch-template-versions)",
    "launch_configuration": "CreateLaunchConfiguration: LaunchConfigurationName, ImageId, BlockDeviceMappings, "
    "IamInstanceProfile",
    "autoscaling_group": "CreateAutoScalingGroup: AutoScalingGroupName, LaunchTemplate, MixedInstancesPolicy, "
    "LaunchConfigurationName, ServiceLinkedRoleARN, MinSize, MaxSize, DesiredCapacity",
    "eks_nodegroup": "CreateNodegroup: ClusterName, NodegroupName, NodeRole, LaunchTemplate {id|name, version}, "
    "DiskSize, AmiType",
    "ec2_fleet": "CreateFleet: LaunchTemplateConfigs, Type, TargetCapacitySpecification",
    "spot_fleet": "RequestSpotFleet: SpotFleetRequestConfig "
    "(IamFleetRole, LaunchTemplateConfigs, LaunchSpecifications)",
    "ebs_volume": "CreateVolume: AvailabilityZone, Size, Encrypted, KmsKeyId, SnapshotId",
    "ebs_default_kms_key": "KmsKeyId (ModifyEbsDefaultKmsKeyId)",
    "ebs_encryption_by_default": "EbsEncryptionByDefault (EnableEbsEncryptionByDefault)",
}

Action = Literal["create", "update", "delete", "no-op", "read"]


@dataclass(frozen=True)
class Ref:
    """Another resource's attribute: ``Ref("aws_iam_role.node", "arn")``, ``Ref("NodeRole", "Arn")``; for a
    CloudFormation ``Ref``, ``attribute`` is ``"Ref"`` (what Ref returns depends on the type)."""

    address: str
    attribute: str


@dataclass(frozen=True)
class Pseudo:
    """A value of the deployment rather than of a resource: ``AWS::AccountId``, ``AWS::Region``,
    ``AWS::Partition``, ``AWS::URLSuffix`` (Terraform: ``data.aws_caller_identity``, ``data.aws_region``...)."""

    name: str


@dataclass(frozen=True)
class Unknown:
    """Known only after apply, and nothing in the file says what it will be."""

    why: str


@dataclass(frozen=True)
class Concat:
    """A string built of parts (``Fn::Sub``, ``Fn::Join``, ``"${aws_iam_role.x.arn}/suffix"``)."""

    parts: tuple[str | Ref | Pseudo | Unknown, ...]


# A planned value: JSON-like data in which any leaf may be symbolic.
Symbolic = Ref | Pseudo | Unknown | Concat


@dataclass(frozen=True)
class Source:
    """Where a resource is written, for reports and SARIF: the file, the 1-based line when the reader knows it,
    and the address the user knows it by (``module.eks.aws_kms_key.this``, ``NodeGroupLaunchTemplate``)."""

    file: str
    address: str
    line: int | None = None
    # 1-based column of the address on that line (``terraform show -json`` prints the whole plan on one line).
    column: int | None = None


@dataclass(frozen=True)
class PlannedResource:
    address: str
    kind: str  # a key of KINDS
    values: Mapping[str, object]  # the AWS API shape of KINDS[kind]; leaves may be Symbolic
    source: Source
    action: Action = "create"
    # The native type (``aws_launch_template``, ``AWS::EC2::LaunchTemplate``), for messages.
    native_type: str = ""
    # Attributes a reader met and could not map (reported, never silently dropped).
    ignored: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class Plan:
    """Everything a reader found in one file."""

    file: str
    format: Literal["terraform", "cloudformation"]
    resources: tuple[PlannedResource, ...]
    # Region and account when the file says (a Terraform provider block, a CDK environment), else None.
    region: str | None = None
    account: str | None = None
    # Resource types present in the file that a pre-flight does not model, with their addresses.
    unmodelled: tuple[tuple[str, str], ...] = ()
