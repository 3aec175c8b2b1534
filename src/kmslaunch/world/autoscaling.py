"""EC2 Auto Scaling: groups (launch template or launch configuration), their service-linked role, and the
scaling activities that record each launch."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kmslaunch.world.ec2 import EbsSpec


def default_slr_arn(account: str, suffix: str | None = None, partition: str = "aws") -> str:
    """``AWSServiceRoleForAutoScaling`` or a custom-suffix one
    (https://docs.aws.amazon.com/autoscaling/ec2/userguide/autoscaling-service-linked-role.html)."""
    name = "AWSServiceRoleForAutoScaling" + (f"_{suffix}" if suffix else "")
    return f"arn:{partition}:iam::{account}:role/aws-service-role/autoscaling.amazonaws.com/{name}"


@dataclass
class LaunchConfiguration:
    name: str
    arn: str
    image_id: str
    instance_type: str
    block_devices: tuple[EbsSpec, ...] = ()
    created_time: str = ""
    # A launch configuration with a SpotPrice launches Spot Instances
    # (https://docs.aws.amazon.com/autoscaling/ec2/userguide/launch-template-spot-instances.html).
    spot_price: str | None = None


@dataclass
class ScalingActivity:
    activity_id: str
    group_name: str
    description: str
    cause: str
    start_time: str
    end_time: str
    status_code: str  # "Successful", "Failed", …
    status_message: str = ""
    progress: int = 100
    details: str = "{}"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "ActivityId": self.activity_id,
            "AutoScalingGroupName": self.group_name,
            "Description": self.description,
            "Cause": self.cause,
            "StartTime": self.start_time,
            "EndTime": self.end_time,
            "StatusCode": self.status_code,
            "Progress": self.progress,
            "Details": self.details,
        }
        if self.status_message:
            out["StatusMessage"] = self.status_message
        return out


@dataclass
class AutoScalingGroup:
    name: str
    arn: str
    service_linked_role_arn: str
    launch_template: dict[str, str] | None = None  # {"LaunchTemplateId"|"LaunchTemplateName", "Version"}
    launch_configuration: str | None = None
    min_size: int = 0
    max_size: int = 1
    desired_capacity: int = 0
    availability_zones: list[str] = field(default_factory=list)
    instances: list[str] = field(default_factory=list)
    created_time: str = ""
    activities: list[ScalingActivity] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def eks_nodegroup(self) -> tuple[str, str] | None:
        """(cluster, node group) when EKS created the group for a managed node group: EKS tags it
        ``eks:cluster-name`` and ``eks:nodegroup-name``
        (https://docs.aws.amazon.com/eks/latest/userguide/managed-node-groups.html)."""
        cluster, nodegroup = self.tags.get("eks:cluster-name"), self.tags.get("eks:nodegroup-name")
        return (cluster, nodegroup) if cluster and nodegroup else None


@dataclass
class AutoScaling:
    groups: dict[str, AutoScalingGroup] = field(default_factory=dict)
    launch_configurations: dict[str, LaunchConfiguration] = field(default_factory=dict)
