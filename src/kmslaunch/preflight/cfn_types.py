"""CloudFormation resource types in the AWS API's shapes: which kind each type is, and how its properties are named
in the call CloudFormation makes (``KINDS`` in ``model.py``).

Most properties already have the API's names; where they differ (``SpotFleetRequestConfigData``, an instance's
``IamInstanceProfile`` given as a bare name, a nodegroup's ``LaunchTemplate.Id``, ``ManagedPolicyName``), they are
translated here. CloudFormation accepts ``"true"`` and ``"8"`` where the API takes a boolean or a number (CDK writes
``MaxSize: "2"``): those are converted. A property no kind models is listed in ``ignored``, never dropped silently.
Resource type pages: https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-template-resource-type-ref.html
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from kmslaunch.policy.errors import InputError
from kmslaunch.preflight.intrinsics import shape
from kmslaunch.preflight.model import Concat, Pseudo, Ref, Unknown

_SYMBOLIC = (Ref, Pseudo, Unknown, Concat)


@dataclass
class Properties:
    """One resource's evaluated properties, taken one by one into the API shape; what is never taken is ignored."""

    file: str
    path: str  # Resources.<logical>.Properties
    logical: str
    stack: str | None
    given: Mapping[str, object]
    out: dict[str, object] = field(default_factory=dict)
    taken: set[str] = field(default_factory=set)

    def fail(self, path: str, message: str) -> InputError:
        return InputError(self.file, path, message)

    def take(
        self,
        name: str,
        api: str | None = None,
        convert: Callable[[Properties, object, str], object] | None = None,
    ) -> None:
        """Copy property ``name`` to the API key ``api`` (the same name when None), converted, when present."""
        self.taken.add(name)
        if name not in self.given:
            return
        value = self.given[name]
        self.out[api or name] = convert(self, value, f"{self.path}.{name}") if convert else value

    def name(self, name: str, api: str | None = None) -> None:
        """A physical name: when the template gives none, CloudFormation generates one from the stack name, the
        logical id and a random suffix (https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-properties-name.html)."""
        self.take(name, api)
        if name not in self.given:
            stack = self.stack or "{stack name}"
            self.out[api or name] = Unknown(
                f"no {name} in the template: CloudFormation generates the name {stack}-{self.logical}-{{random}} "
                "when it creates the stack"
            )

    def ignored(self) -> tuple[str, ...]:
        return tuple(sorted(k for k in self.given if k not in self.taken))


# -- conversions -------------------------------------------------------------------------------------------------


def boolean(props: Properties, value: object, path: str) -> object:
    if isinstance(value, bool | Ref | Pseudo | Unknown | Concat):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise props.fail(path, f"expected a boolean (true or false), got {value!r}")


def integer(props: Properties, value: object, path: str) -> object:
    if isinstance(value, _SYMBOLIC):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    raise props.fail(path, f"expected a whole number, got {value!r}")


def document(props: Properties, value: object, path: str) -> object:
    """A policy document: CloudFormation takes a JSON object or a string holding one."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as err:
            raise props.fail(path, f"expected a policy document, got a string that is not JSON ({err.msg})") from None
    if isinstance(value, dict | Unknown):
        return value
    raise props.fail(path, f"expected a policy document (a map with Statement), got {shape(value)}")


def string_list(props: Properties, value: object, path: str) -> object:
    if isinstance(value, Unknown):
        return value
    if not isinstance(value, list):
        raise props.fail(path, f"expected a list, got {shape(value)}")
    return value


def inline_policies(props: Properties, value: object, path: str) -> object:
    if isinstance(value, Unknown):
        return value
    if not isinstance(value, list):
        raise props.fail(path, "expected a list of {PolicyName, PolicyDocument}")
    out: list[object] = []
    for i, item in enumerate(value):
        if not isinstance(item, dict) or "PolicyDocument" not in item or "PolicyName" not in item:
            raise props.fail(f"{path}[{i}]", "expected a map with PolicyName and PolicyDocument")
        out.append(
            {
                "PolicyName": item["PolicyName"],
                "PolicyDocument": document(props, item["PolicyDocument"], f"{path}[{i}]"),
            }
        )
    return out


def _ebs(props: Properties, value: object, path: str) -> object:
    if isinstance(value, Unknown):
        return value
    if not isinstance(value, dict):
        raise props.fail(path, "expected the volume's settings (a map with Encrypted, KmsKeyId, VolumeSize...)")
    out = dict(value)
    for key in ("Encrypted", "DeleteOnTermination"):
        if key in out:
            out[key] = boolean(props, out[key], f"{path}.{key}")
    for key in ("VolumeSize", "Iops", "Throughput"):
        if key in out:
            out[key] = integer(props, out[key], f"{path}.{key}")
    return out


def _mappings(no_device: Callable[[Properties, object, str], object]) -> Callable[[Properties, object, str], object]:
    def convert(props: Properties, value: object, path: str) -> object:
        if isinstance(value, Unknown):
            return value
        if not isinstance(value, list):
            raise props.fail(path, "expected a list of block device mappings")
        out: list[object] = []
        for i, item in enumerate(value):
            where = f"{path}[{i}]"
            if isinstance(item, Unknown):
                out.append(item)
                continue
            if not isinstance(item, dict) or "DeviceName" not in item:
                raise props.fail(where, "expected a block device mapping (a map with DeviceName and Ebs)")
            mapping = dict(item)
            if "Ebs" in mapping:
                mapping["Ebs"] = _ebs(props, mapping["Ebs"], f"{where}.Ebs")
            if "NoDevice" in mapping:
                mapping["NoDevice"] = no_device(props, mapping["NoDevice"], f"{where}.NoDevice")
            out.append(mapping)
        return out

    return convert


def _ec2_no_device(props: Properties, value: object, path: str) -> object:
    # AWS::EC2::Instance writes NoDevice as an empty map; RunInstances takes an empty string.
    return "" if value == {} else value


# The EC2 flavour (RunInstances, launch templates, Spot Fleet) and the Auto Scaling one (NoDevice is a boolean).
ec2_mappings = _mappings(_ec2_no_device)
autoscaling_mappings = _mappings(boolean)


def launch_template_data(props: Properties, value: object, path: str) -> object:
    """LaunchTemplateData has the API's keys already; its block device mappings are checked and converted."""
    if isinstance(value, Unknown):
        return value
    if not isinstance(value, dict):
        raise props.fail(path, "expected the launch template's data (a map with ImageId, BlockDeviceMappings...)")
    out = dict(value)
    if "BlockDeviceMappings" in out:
        out["BlockDeviceMappings"] = ec2_mappings(props, out["BlockDeviceMappings"], f"{path}.BlockDeviceMappings")
    return out


def instance_profile(props: Properties, value: object, path: str) -> object:
    """AWS::EC2::Instance names its instance profile by name (``Ref`` of a profile is its name); RunInstances
    takes ``{Name}`` or ``{Arn}``."""
    if isinstance(value, Ref):
        return {"Arn" if value.attribute == "Arn" else "Name": value}
    if isinstance(value, str) and value.startswith("arn:"):
        return {"Arn": value}
    if isinstance(value, Concat) and isinstance(value.parts[0], str) and value.parts[0].startswith("arn:"):
        return {"Arn": value}
    return {"Name": value}


def nodegroup_launch_template(props: Properties, value: object, path: str) -> object:
    # CloudFormation's {Id, Name, Version}; CreateNodegroup's launchTemplate {id, name, version}.
    if not isinstance(value, dict):
        raise props.fail(path, "expected a launch template specification (a map with Id or Name, and Version)")
    return {key[0].lower() + key[1:]: item for key, item in value.items()}


def spot_fleet_config(props: Properties, value: object, path: str) -> object:
    if not isinstance(value, dict):
        raise props.fail(path, "expected the Spot Fleet request's configuration (a map)")
    out = dict(value)
    specs = out.get("LaunchSpecifications")
    if isinstance(specs, list):
        converted: list[object] = []
        for i, spec in enumerate(specs):
            if isinstance(spec, dict) and "BlockDeviceMappings" in spec:
                where = f"{path}.LaunchSpecifications[{i}].BlockDeviceMappings"
                converted.append(
                    {**spec, "BlockDeviceMappings": ec2_mappings(props, spec["BlockDeviceMappings"], where)}
                )
            else:
                converted.append(spec)
        out["LaunchSpecifications"] = converted
    return out


# -- one function per type ---------------------------------------------------------------------------------------


def _default_key_policy() -> dict[str, object]:
    """The key policy KMS attaches when the template gives none: the account may use IAM policies to allow every
    KMS operation on the key (https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html)."""
    root = Concat(("arn:", Pseudo("AWS::Partition"), ":iam::", Pseudo("AWS::AccountId"), ":root"))
    return {
        "Version": "2012-10-17",
        "Id": "key-default-1",
        "Statement": [
            {
                "Sid": "Enable IAM User Permissions",
                "Effect": "Allow",
                "Principal": {"AWS": root},
                "Action": "kms:*",
                "Resource": "*",
            }
        ],
    }


def kms_key(p: Properties) -> None:
    p.take("KeyPolicy", convert=document)
    if "KeyPolicy" not in p.given:
        p.out["KeyPolicy"] = _default_key_policy()
    p.take("Enabled", convert=boolean)
    p.take("EnableKeyRotation", convert=boolean)
    p.take("MultiRegion", convert=boolean)
    for name in ("KeySpec", "KeyUsage", "Description"):
        p.take(name)


def kms_alias(p: Properties) -> None:
    p.take("AliasName")
    p.take("TargetKeyId")


def iam_role(p: Properties) -> None:
    p.name("RoleName")
    p.take("Path")
    p.take("AssumeRolePolicyDocument", convert=document)
    p.take("PermissionsBoundary")
    p.take("ManagedPolicyArns", convert=string_list)
    p.take("Policies", convert=inline_policies)


def iam_user(p: Properties) -> None:
    p.name("UserName")
    p.take("Path")
    p.take("PermissionsBoundary")
    p.take("ManagedPolicyArns", convert=string_list)
    p.take("Policies", convert=inline_policies)


def iam_policy(p: Properties) -> None:
    """AWS::IAM::Policy: an inline policy embedded in each role and user it names."""
    p.take("PolicyName")
    p.take("PolicyDocument", convert=document)
    p.take("Roles", convert=string_list)
    p.take("Users", convert=string_list)


def iam_managed_policy(p: Properties) -> None:
    p.name("ManagedPolicyName", "PolicyName")
    p.take("Path")
    p.take("PolicyDocument", convert=document)
    p.take("Roles", convert=string_list)
    p.take("Users", convert=string_list)


def iam_instance_profile(p: Properties) -> None:
    p.name("InstanceProfileName")
    p.take("Path")
    p.take("Roles", convert=string_list)


def iam_service_linked_role(p: Properties) -> None:
    p.take("AWSServiceName")
    p.take("CustomSuffix")


def instance(p: Properties) -> None:
    p.take("ImageId")
    p.take("InstanceType")
    p.take("BlockDeviceMappings", convert=ec2_mappings)
    p.take("IamInstanceProfile", convert=instance_profile)
    p.take("LaunchTemplate")


def launch_template(p: Properties) -> None:
    p.name("LaunchTemplateName")
    p.take("LaunchTemplateData", convert=launch_template_data)


def launch_configuration(p: Properties) -> None:
    p.name("LaunchConfigurationName")
    p.take("ImageId")
    p.take("InstanceType")
    p.take("BlockDeviceMappings", convert=autoscaling_mappings)
    p.take("IamInstanceProfile")


def autoscaling_group(p: Properties) -> None:
    p.name("AutoScalingGroupName")
    for name in ("LaunchTemplate", "MixedInstancesPolicy", "LaunchConfigurationName", "ServiceLinkedRoleARN"):
        p.take(name)
    for name in ("MinSize", "MaxSize", "DesiredCapacity"):
        p.take(name, convert=integer)


def eks_nodegroup(p: Properties) -> None:
    p.take("ClusterName")
    p.name("NodegroupName")
    p.take("NodeRole")
    p.take("LaunchTemplate", convert=nodegroup_launch_template)
    p.take("DiskSize", convert=integer)
    p.take("AmiType")


def ec2_fleet(p: Properties) -> None:
    for name in ("LaunchTemplateConfigs", "Type", "TargetCapacitySpecification"):
        p.take(name)


def spot_fleet(p: Properties) -> None:
    p.take("SpotFleetRequestConfigData", "SpotFleetRequestConfig", convert=spot_fleet_config)


def ebs_volume(p: Properties) -> None:
    p.take("AvailabilityZone")
    p.take("Size", convert=integer)
    p.take("Encrypted", convert=boolean)
    p.take("KmsKeyId")
    p.take("SnapshotId")
    p.take("VolumeType")
    p.take("Iops", convert=integer)
    p.take("Throughput", convert=integer)


# Resource type -> (kind, the function that takes its properties).
TYPES: Mapping[str, tuple[str, Callable[[Properties], None]]] = {
    "AWS::EC2::Instance": ("instance", instance),
    "AWS::EC2::LaunchTemplate": ("launch_template", launch_template),
    "AWS::AutoScaling::LaunchConfiguration": ("launch_configuration", launch_configuration),
    "AWS::AutoScaling::AutoScalingGroup": ("autoscaling_group", autoscaling_group),
    "AWS::EKS::Nodegroup": ("eks_nodegroup", eks_nodegroup),
    "AWS::EC2::EC2Fleet": ("ec2_fleet", ec2_fleet),
    "AWS::EC2::SpotFleet": ("spot_fleet", spot_fleet),
    "AWS::EC2::Volume": ("ebs_volume", ebs_volume),
    "AWS::KMS::Key": ("kms_key", kms_key),
    "AWS::KMS::Alias": ("kms_alias", kms_alias),
    "AWS::IAM::Role": ("iam_role", iam_role),
    "AWS::IAM::Policy": ("iam_policy", iam_policy),
    "AWS::IAM::ManagedPolicy": ("iam_policy", iam_managed_policy),
    "AWS::IAM::User": ("iam_user", iam_user),
    "AWS::IAM::InstanceProfile": ("iam_instance_profile", iam_instance_profile),
    "AWS::IAM::ServiceLinkedRole": ("iam_service_linked_role", iam_service_linked_role),
}


# The attributes a template refers to, per modelled type: ``Ref(logical, "Ref")`` and ``Fn::GetAtt``'s names
# (``Arn``, ``LatestVersionNumber``...), each with the Terraform attribute that holds the same value (``arn``,
# ``latest_version``...), so that one resolver answers references from both readers. What ``Ref`` returns is
# each type's page, "Return values": a key's id, a role's name, a managed policy's ARN, a launch template's id.
ATTRIBUTES: Mapping[str, Mapping[str, str]] = {
    "AWS::EC2::Instance": {"Ref": "id", "InstanceId": "id"},
    "AWS::EC2::LaunchTemplate": {
        "Ref": "id",
        "LaunchTemplateId": "id",
        "LatestVersionNumber": "latest_version",
        "DefaultVersionNumber": "default_version",
    },
    "AWS::AutoScaling::LaunchConfiguration": {"Ref": "name"},
    "AWS::AutoScaling::AutoScalingGroup": {"Ref": "name"},
    # Ref is "cluster/nodegroup"; Terraform's id is "cluster:nodegroup".
    "AWS::EKS::Nodegroup": {"Arn": "arn", "NodegroupName": "node_group_name", "ClusterName": "cluster_name"},
    "AWS::EC2::EC2Fleet": {"Ref": "id", "FleetId": "id"},
    "AWS::EC2::SpotFleet": {"Ref": "id"},
    "AWS::EC2::Volume": {"Ref": "id", "VolumeId": "id"},
    "AWS::KMS::Key": {"Ref": "key_id", "KeyId": "key_id", "Arn": "arn"},
    "AWS::KMS::Alias": {"Ref": "name"},
    "AWS::IAM::Role": {"Ref": "name", "Arn": "arn", "RoleId": "unique_id"},
    "AWS::IAM::Policy": {},  # its Ref is an id CloudFormation makes, which nothing else takes
    "AWS::IAM::ManagedPolicy": {"Ref": "arn", "PolicyArn": "arn"},
    "AWS::IAM::User": {"Ref": "name", "Arn": "arn"},
    "AWS::IAM::InstanceProfile": {"Ref": "name", "Arn": "arn"},
    "AWS::IAM::ServiceLinkedRole": {"Ref": "name"},
}
