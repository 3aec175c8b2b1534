"""Each AWS provider resource type a pre-flight reads, mapped from its Terraform attributes to the AWS API shape
of its kind (``model.KINDS``). Attribute names are the AWS provider's (registry.terraform.io/hashicorp/aws,
https://registry.terraform.io/providers/hashicorp/aws/latest/docs); values may already be symbolic."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .model import Concat, Pseudo, Ref, Unknown

if TYPE_CHECKING:
    from .terraform import _Attrs

_SYMBOLIC = (Ref, Pseudo, Unknown, Concat)
# Attributes that never change a launch's KMS calls: skipped without a mention.
_SKIP = frozenset(
    {
        "id",
        "arn",
        "tags",
        "tags_all",
        "timeouts",
        "region",
        "unique_id",
        "create_date",
        "owner_id",
        "key_id",
        "name_prefix",
        "force_detach_policies",
        "max_session_duration",
        "description",
        "enable_key_rotation",
        "rotation_period_in_days",
        "deletion_window_in_days",
        "bypass_policy_lockout_safety_check",
        "latest_version",
        "default_version",
        "update_default_version",
        "vpc_security_group_ids",
        "security_groups",
        "subnet_id",
        "vpc_zone_identifier",
        "availability_zones",
        "user_data",
        "key_name",
        "network_interfaces",
        "metadata_options",
        "monitoring",
        "tag_specifications",
        "tag",
        "health_check_type",
        "health_check_grace_period",
        "target_group_arns",
        "subnet_ids",
        "labels",
        "taint",
        "update_config",
        "version",
        "release_version",
        "instance_types",
        "target_key_arn",
        "grant_id",
        "grant_token",
        "policy_id",
        "attachment_count",
        "path_prefix",
    }
)


@dataclass(frozen=True)
class Mapped:
    kind: str
    values: Mapping[str, object]
    ignored: tuple[str, ...] = ()


def _clean(values: Mapping[str, Any]) -> dict[str, Any]:
    """Drop what the plan leaves empty, so that an absent attribute reads as absent (AWS's default)."""
    return {k: v for k, v in values.items() if v is not None and v not in ("", [], {})}


def _document(a: _Attrs, name: str) -> Any:
    """A policy document attribute: Terraform holds it as a JSON string (``jsonencode``, a policy document data
    source); parsed here so the world reads a document, symbolic when known only after apply."""
    value = a.get(name)
    if value is None or value == "" or isinstance(value, (*_SYMBOLIC, dict)):
        return value or None
    if not isinstance(value, str):
        raise a.error(name, "expected a JSON policy document as a string")
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise a.error(name, f"expected a JSON policy document: {exc.msg} at column {exc.colno}") from None


def _known(value: Any) -> str | None:
    """An identity attribute when already known (a resource in state); a new one's is the resolver's to give."""
    return value if isinstance(value, str) and value else None


def _tristate(value: Any) -> Any:
    """A launch template's ``encrypted``: the provider keeps it a string, "" meaning unset."""
    if isinstance(value, str):
        return {"true": True, "false": False}.get(value.lower())
    return value


def _ebs(block: Mapping[str, Any] | None, *, tristate: bool = False) -> dict[str, Any]:
    if not block:
        return {}
    encrypted = block.get("encrypted")
    return _clean(
        {
            "Encrypted": _tristate(encrypted) if tristate else encrypted,
            "KmsKeyId": block.get("kms_key_id"),
            "SnapshotId": block.get("snapshot_id"),
            "VolumeSize": block.get("volume_size"),
            "VolumeType": block.get("volume_type"),
            "DeleteOnTermination": _tristate(block.get("delete_on_termination")),
        }
    )


def _template_spec(block: Mapping[str, Any] | None, id_key: str = "id", name_key: str = "name") -> dict[str, Any]:
    """{LaunchTemplateId | LaunchTemplateName, Version} from a launch_template block."""
    if not block:
        return {}
    return _clean(
        {
            "LaunchTemplateId": block.get(id_key),
            "LaunchTemplateName": block.get(name_key),
            "Version": block.get("version"),
        }
    )


def _instance_devices(a: _Attrs) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """The root volume (its device name is the AMI's: resolved later) and the other EBS volumes."""
    root = a.block("root_block_device")
    others = [
        _clean({"DeviceName": b.get("device_name"), "Ebs": _ebs(b)})
        for b in a.blocks("ebs_block_device")
        if b.get("device_name")
    ]
    return (_ebs(root) if root else None), others


def kms_key(a: _Attrs) -> Mapped:
    enabled = a.get("is_enabled")
    values = _clean(
        {
            "KeyPolicy": _document(a, "policy"),
            "Enabled": True if enabled is None else enabled,
            "KeySpec": a.get("customer_master_key_spec") or a.get("key_spec"),
            "KeyUsage": a.get("key_usage"),
            "MultiRegion": a.get("multi_region"),
            "Description": a.get("description"),
            # Known for a key already in state (an update, a no-op): the key's identity.
            "KeyId": _known(a.get("key_id")),
            "Arn": _known(a.get("arn")),
        }
    )
    return Mapped("kms_key", values, a.rest(_SKIP))


def kms_key_policy(a: _Attrs) -> Mapped:
    return Mapped("kms_key_policy", _clean({"KeyId": a.get("key_id"), "Policy": _document(a, "policy")}), a.rest(_SKIP))


def kms_alias(a: _Attrs) -> Mapped:
    name = a.get("name")
    return Mapped("kms_alias", _clean({"AliasName": name, "TargetKeyId": a.get("target_key_id")}), a.rest(_SKIP))


def kms_grant(a: _Attrs) -> Mapped:
    constraints = a.block("constraints") or {}
    values = _clean(
        {
            "KeyId": a.get("key_id"),
            "GranteePrincipal": a.get("grantee_principal"),
            "RetiringPrincipal": a.get("retiring_principal"),
            "Operations": sorted(a.get("operations") or []) if isinstance(a.get("operations"), list) else None,
            "Constraints": _clean(
                {
                    "EncryptionContextEquals": constraints.get("encryption_context_equals"),
                    "EncryptionContextSubset": constraints.get("encryption_context_subset"),
                }
            ),
            "Name": a.get("name"),
            # Known for a grant in state: what a planned delete (RevokeGrant, for impact) names.
            "GrantId": _known(a.get("grant_id")),
        }
    )
    a.get("grant_creation_tokens")
    a.get("retire_on_delete")
    return Mapped("kms_grant", values, a.rest(_SKIP))


def _inline(a: _Attrs) -> list[dict[str, Any]]:
    out = []
    for i, block in enumerate(a.blocks("inline_policy")):
        if not block.get("name") and not block.get("policy"):
            continue  # the provider renders "no inline policies" as one empty block
        doc = block.get("policy")
        if isinstance(doc, str):
            try:
                doc = json.loads(doc)
            except json.JSONDecodeError as exc:
                raise a.error(f"inline_policy[{i}].policy", f"expected a JSON policy document: {exc.msg}") from None
        out.append({"PolicyName": block.get("name"), "PolicyDocument": doc})
    return out


def iam_role(a: _Attrs) -> Mapped:
    managed = a.get("managed_policy_arns")
    values = _clean(
        {
            "RoleName": a.get("name"),
            "Path": a.get("path"),
            "AssumeRolePolicyDocument": _document(a, "assume_role_policy"),
            "PermissionsBoundary": a.get("permissions_boundary"),
            "ManagedPolicyArns": sorted(managed, key=str) if isinstance(managed, list) else managed,
            "Policies": _inline(a),
        }
    )
    return Mapped("iam_role", values, a.rest(_SKIP))


def iam_user(a: _Attrs) -> Mapped:
    values = _clean(
        {"UserName": a.get("name"), "Path": a.get("path"), "PermissionsBoundary": a.get("permissions_boundary")}
    )
    a.get("force_destroy")
    return Mapped("iam_user", values, a.rest(_SKIP))


def iam_policy(a: _Attrs) -> Mapped:
    values = _clean({"PolicyName": a.get("name"), "Path": a.get("path"), "PolicyDocument": _document(a, "policy")})
    return Mapped("iam_policy", values, a.rest(_SKIP))


def _inline_policy(principal: str, key: str) -> Callable[[_Attrs], Mapped]:
    def mapper(a: _Attrs) -> Mapped:
        values = _clean({"PolicyName": a.get("name"), "PolicyDocument": _document(a, "policy"), key: a.get(principal)})
        return Mapped("iam_inline_policy", values, a.rest(_SKIP))

    return mapper


def _attachment(principal: str, key: str) -> Callable[[_Attrs], Mapped]:
    def mapper(a: _Attrs) -> Mapped:
        values = _clean({"PolicyArn": a.get("policy_arn"), key: a.get(principal)})
        return Mapped("iam_policy_attachment", values, a.rest(_SKIP))

    return mapper


def iam_instance_profile(a: _Attrs) -> Mapped:
    role = a.get("role")
    values = _clean({"InstanceProfileName": a.get("name"), "Path": a.get("path"), "Roles": [role] if role else []})
    return Mapped("iam_instance_profile", values, a.rest(_SKIP))


def iam_service_linked_role(a: _Attrs) -> Mapped:
    values = _clean({"AWSServiceName": a.get("aws_service_name"), "CustomSuffix": a.get("custom_suffix")})
    a.get("name")
    a.get("path")
    return Mapped("iam_service_linked_role", values, a.rest(_SKIP))


def _profile(value: Any) -> dict[str, Any] | None:
    """An instance profile given by name (aws_instance, aws_launch_configuration) or ARN."""
    if value in (None, ""):
        return None
    if isinstance(value, str) and value.startswith("arn:"):
        return {"Arn": value}
    if isinstance(value, Ref) and value.attribute == "arn":
        return {"Arn": value}
    return {"Name": value}


def instance(a: _Attrs) -> Mapped:
    root, others = _instance_devices(a)
    values = _clean(
        {
            "ImageId": a.get("ami"),
            "InstanceType": a.get("instance_type"),
            "IamInstanceProfile": _profile(a.get("iam_instance_profile")),
            "LaunchTemplate": _template_spec(a.block("launch_template")),
            "BlockDeviceMappings": others,
            # Not in RunInstances' shape: the root volume's settings, whose device name is the AMI's root device
            # (the resolver puts it in BlockDeviceMappings under that name).
            "RootBlockDevice": root,
        }
    )
    return Mapped("instance", values, a.rest(_SKIP))


def launch_template(a: _Attrs) -> Mapped:
    mappings = []
    for b in a.blocks("block_device_mappings"):
        m = _clean({"DeviceName": b.get("device_name"), "Ebs": _ebs((b.get("ebs") or [None])[0], tristate=True)})
        if b.get("no_device"):
            m["NoDevice"] = ""
        mappings.append(m)
    profile = a.block("iam_instance_profile") or {}
    data = _clean(
        {
            "ImageId": a.get("image_id"),
            "InstanceType": a.get("instance_type"),
            "IamInstanceProfile": _clean({"Arn": profile.get("arn"), "Name": profile.get("name")}),
            "BlockDeviceMappings": mappings,
        }
    )
    values = _clean(
        {
            "LaunchTemplateName": a.get("name"),
            "LaunchTemplateData": data,
            "LaunchTemplateId": _known(a.get("id")),
            "UpdateDefaultVersion": a.get("update_default_version"),
        }
    )
    return Mapped("launch_template", values, a.rest(_SKIP))


def launch_configuration(a: _Attrs) -> Mapped:
    root, others = _instance_devices(a)
    values = _clean(
        {
            "LaunchConfigurationName": a.get("name"),
            "ImageId": a.get("image_id"),
            "InstanceType": a.get("instance_type"),
            "IamInstanceProfile": a.get("iam_instance_profile"),
            "BlockDeviceMappings": others,
            "RootBlockDevice": root,
            "SpotPrice": a.get("spot_price"),
        }
    )
    return Mapped("launch_configuration", values, a.rest(_SKIP))


def autoscaling_group(a: _Attrs) -> Mapped:
    mixed: dict[str, Any] = {}
    policy = a.block("mixed_instances_policy")
    if policy:
        lt = (policy.get("launch_template") or [{}])[0] or {}
        spec = (lt.get("launch_template_specification") or [{}])[0] or {}
        mixed = {
            "LaunchTemplate": {
                "LaunchTemplateSpecification": _template_spec(spec, "launch_template_id", "launch_template_name")
            }
        }
    values = _clean(
        {
            "AutoScalingGroupName": a.get("name"),
            "LaunchTemplate": _template_spec(a.block("launch_template")),
            "MixedInstancesPolicy": mixed,
            "LaunchConfigurationName": a.get("launch_configuration"),
            "ServiceLinkedRoleARN": a.get("service_linked_role_arn"),
            "MinSize": a.get("min_size"),
            "MaxSize": a.get("max_size"),
            "DesiredCapacity": a.get("desired_capacity"),
        }
    )
    return Mapped("autoscaling_group", values, a.rest(_SKIP))


def eks_node_group(a: _Attrs) -> Mapped:
    values = _clean(
        {
            "ClusterName": a.get("cluster_name"),
            "NodegroupName": a.get("node_group_name"),
            "NodeRole": a.get("node_role_arn"),
            "LaunchTemplate": _clean(
                {
                    "id": (a.block("launch_template") or {}).get("id"),
                    "name": (a.block("launch_template") or {}).get("name"),
                    "version": (a.block("launch_template") or {}).get("version"),
                }
            ),
            "DiskSize": a.get("disk_size"),
            "AmiType": a.get("ami_type"),
            "CapacityType": a.get("capacity_type"),
        }
    )
    a.get("scaling_config")
    a.get("remote_access")
    return Mapped("eks_nodegroup", values, a.rest(_SKIP | {"node_group_name_prefix", "status", "resources"}))


def _template_configs(a: _Attrs) -> list[dict[str, Any]]:
    out = []
    for block in a.blocks("launch_template_config"):
        spec = (block.get("launch_template_specification") or [{}])[0] or {}
        out.append(
            {
                "LaunchTemplateSpecification": _template_spec(spec, "launch_template_id", "launch_template_name")
                or _template_spec(spec)
            }
        )
    return out


def ec2_fleet(a: _Attrs) -> Mapped:
    target = a.block("target_capacity_specification") or {}
    values = _clean(
        {
            "LaunchTemplateConfigs": _template_configs(a),
            "Type": a.get("type") or "maintain",
            "TargetCapacitySpecification": _clean(
                {
                    "TotalTargetCapacity": target.get("total_target_capacity"),
                    "DefaultTargetCapacityType": target.get("default_target_capacity_type"),
                }
            ),
        }
    )
    return Mapped("ec2_fleet", values, a.rest(_SKIP | {"on_demand_options", "spot_options", "terminate_instances"}))


def spot_fleet(a: _Attrs) -> Mapped:
    specs = []
    for b in a.blocks("launch_specification"):
        root = (b.get("root_block_device") or [None])[0]
        devices = [
            _clean({"DeviceName": d.get("device_name"), "Ebs": _ebs(d)}) for d in b.get("ebs_block_device") or []
        ]
        specs.append(
            _clean(
                {
                    "ImageId": b.get("ami"),
                    "InstanceType": b.get("instance_type"),
                    "IamInstanceProfile": _clean({"Name": b.get("iam_instance_profile")}),
                    "BlockDeviceMappings": devices,
                    "RootBlockDevice": _ebs(root) if root else None,
                }
            )
        )
    config = _clean(
        {
            "IamFleetRole": a.get("iam_fleet_role"),
            "LaunchTemplateConfigs": _template_configs(a),
            "LaunchSpecifications": specs,
            "TargetCapacity": a.get("target_capacity"),
        }
    )
    skip = _SKIP | {"allocation_strategy", "fleet_type", "spot_price", "wait_for_fulfillment", "valid_until"}
    return Mapped("spot_fleet", {"SpotFleetRequestConfig": config}, a.rest(skip))


def ebs_volume(a: _Attrs) -> Mapped:
    values = _clean(
        {
            "AvailabilityZone": a.get("availability_zone"),
            "Size": a.get("size"),
            "Encrypted": a.get("encrypted"),
            "KmsKeyId": a.get("kms_key_id"),
            "SnapshotId": a.get("snapshot_id"),
            "VolumeType": a.get("type"),
        }
    )
    return Mapped("ebs_volume", values, a.rest(_SKIP | {"iops", "throughput", "final_snapshot"}))


def ebs_default_kms_key(a: _Attrs) -> Mapped:
    return Mapped("ebs_default_kms_key", _clean({"KmsKeyId": a.get("key_arn")}), a.rest(_SKIP))


def ebs_encryption_by_default(a: _Attrs) -> Mapped:
    enabled = a.get("enabled")
    return Mapped(
        "ebs_encryption_by_default",
        {"EbsEncryptionByDefault": True if enabled is None else enabled},
        a.rest(_SKIP),
    )


MAPPERS: Mapping[str, Callable[[_Attrs], Mapped]] = {
    "aws_kms_key": kms_key,
    "aws_kms_key_policy": kms_key_policy,
    "aws_kms_alias": kms_alias,
    "aws_kms_grant": kms_grant,
    "aws_iam_role": iam_role,
    "aws_iam_role_policy": _inline_policy("role", "RoleName"),
    "aws_iam_role_policy_attachment": _attachment("role", "RoleName"),
    "aws_iam_user": iam_user,
    "aws_iam_user_policy": _inline_policy("user", "UserName"),
    "aws_iam_user_policy_attachment": _attachment("user", "UserName"),
    "aws_iam_policy": iam_policy,
    "aws_iam_instance_profile": iam_instance_profile,
    "aws_iam_service_linked_role": iam_service_linked_role,
    "aws_instance": instance,
    "aws_launch_template": launch_template,
    "aws_launch_configuration": launch_configuration,
    "aws_autoscaling_group": autoscaling_group,
    "aws_eks_node_group": eks_node_group,
    "aws_ec2_fleet": ec2_fleet,
    "aws_spot_fleet_request": spot_fleet,
    "aws_ebs_volume": ebs_volume,
    "aws_ebs_default_kms_key": ebs_default_kms_key,
    "aws_ebs_encryption_by_default": ebs_encryption_by_default,
}
