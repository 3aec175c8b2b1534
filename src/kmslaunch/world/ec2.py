"""EC2 and EBS: images with block device mappings, snapshots, volumes, instances, launch templates, the
region's EBS encryption defaults, and VPC endpoints with their policies."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kmslaunch.world.documents import Document
from kmslaunch.world.instances import InstanceEvent, InstanceState, transition


@dataclass(frozen=True, slots=True)
class EbsSpec:
    """One EBS entry of a block device mapping, as RunInstances, images and launch templates carry it."""

    device_name: str
    snapshot_id: str | None = None
    volume_size: int | None = None
    volume_type: str | None = None
    encrypted: bool | None = None
    kms_key_id: str | None = None
    delete_on_termination: bool = True

    def to_json(self) -> dict[str, Any]:
        ebs: dict[str, Any] = {"DeleteOnTermination": self.delete_on_termination}
        if self.snapshot_id is not None:
            ebs["SnapshotId"] = self.snapshot_id
        if self.volume_size is not None:
            ebs["VolumeSize"] = self.volume_size
        if self.volume_type is not None:
            ebs["VolumeType"] = self.volume_type
        if self.encrypted is not None:
            ebs["Encrypted"] = self.encrypted
        if self.kms_key_id is not None:
            ebs["KmsKeyId"] = self.kms_key_id
        return {"DeviceName": self.device_name, "Ebs": ebs}


@dataclass
class Image:
    image_id: str
    owner: str
    name: str
    block_devices: tuple[EbsSpec, ...]
    root_device_name: str = "/dev/xvda"
    state: str = "available"
    public: bool = False
    launch_permissions: list[str] = field(default_factory=list)  # account ids
    creation_date: str = ""
    architecture: str = "x86_64"
    description: str = ""


@dataclass
class Snapshot:
    snapshot_id: str
    owner: str
    volume_size: int
    encrypted: bool
    kms_key_id: str | None = None  # key ARN, as DescribeSnapshots shows it
    state: str = "completed"
    volume_id: str = "vol-ffffffff"
    start_time: str = ""
    description: str = ""
    create_volume_permissions: list[str] = field(default_factory=list)


@dataclass
class Attachment:
    instance_id: str
    device: str
    state: str = "attached"
    attach_time: str = ""
    delete_on_termination: bool = True


@dataclass
class Volume:
    volume_id: str
    size: int
    volume_type: str
    availability_zone: str
    encrypted: bool
    kms_key_id: str | None = None
    snapshot_id: str | None = None
    state: str = "available"
    create_time: str = ""
    attachments: list[Attachment] = field(default_factory=list)


@dataclass
class Instance:
    instance_id: str
    image_id: str
    instance_type: str
    launched_by: str  # the principal ARN of the RunInstances call, or of the service that launched it
    launch_time: str
    availability_zone: str
    state: InstanceState = InstanceState.PENDING
    state_reason: dict[str, str] | None = None
    state_transition_reason: str = ""
    block_devices: list[tuple[str, str]] = field(default_factory=list)  # (device name, volume id)
    root_device_name: str = "/dev/xvda"
    tags: dict[str, str] = field(default_factory=dict)
    launch_template: dict[str, str] | None = None
    client_token: str | None = None
    source_ip: str | None = None

    def apply(self, event: InstanceEvent) -> InstanceState:
        """Move through the lifecycle table; IncorrectInstanceState when the event is not allowed."""
        self.state = transition(self.instance_id, self.state, event)
        return self.state


@dataclass
class LaunchTemplate:
    template_id: str
    name: str
    versions: dict[int, dict[str, Any]] = field(default_factory=dict)  # LaunchTemplateData per version
    default_version: int = 1
    create_time: str = ""
    created_by: str = ""

    @property
    def latest_version(self) -> int:
        return max(self.versions) if self.versions else 0

    def data(self, version: str | int | None) -> dict[str, Any] | None:
        """LaunchTemplateData for a version spec: a number, ``$Latest``, ``$Default`` or nothing (default)."""
        if version in (None, "$Default"):
            v = self.default_version
        elif version == "$Latest":
            v = self.latest_version
        else:
            try:
                v = int(version)
            except ValueError:
                return None
        return self.versions.get(v)


@dataclass
class EbsDefaults:
    """GetEbsEncryptionByDefault and GetEbsDefaultKmsKeyId; ``alias/aws/ebs`` until changed
    (https://docs.aws.amazon.com/ebs/latest/userguide/encryption-by-default.html)."""

    encryption_by_default: bool = False
    default_kms_key_id: str = "alias/aws/ebs"
    known: bool = True  # both answers read
    by_default_known: bool = True  # GetEbsEncryptionByDefault read (the key may still be unknown)


@dataclass
class VpcEndpoint:
    """A VPC endpoint as DescribeVpcEndpoints shows it; ``policy`` is its endpoint policy (interface and gateway
    endpoints of AWS services have one, the default allowing full access:
    https://docs.aws.amazon.com/vpc/latest/privatelink/vpc-endpoints-access.html)."""

    endpoint_id: str
    vpc_id: str
    service_name: str  # com.amazonaws.us-east-1.kms
    endpoint_type: str = "Interface"
    state: str = "available"
    policy: Document | None = None
    owner_id: str = ""
    creation_timestamp: str = ""


@dataclass
class Ec2:
    """One account's EC2 in one region."""

    images: dict[str, Image] = field(default_factory=dict)
    snapshots: dict[str, Snapshot] = field(default_factory=dict)
    volumes: dict[str, Volume] = field(default_factory=dict)
    instances: dict[str, Instance] = field(default_factory=dict)
    launch_templates: dict[str, LaunchTemplate] = field(default_factory=dict)  # by id
    defaults: EbsDefaults = field(default_factory=EbsDefaults)
    vpc_endpoints: dict[str, VpcEndpoint] = field(default_factory=dict)  # by id
    vpc_endpoints_known: bool = True  # False when a snapshot had no describe-vpc-endpoints.json

    def endpoint_for(self, service: str, vpc_id: str | None = None) -> VpcEndpoint | None:
        """The available interface endpoint of ``service`` (``kms``) in the region, of ``vpc_id`` when given."""
        for e in self.vpc_endpoints.values():
            if e.endpoint_type != "Interface" or e.state.lower() != "available":
                continue
            if e.service_name.rsplit(".", 1)[-1] == service and (vpc_id is None or e.vpc_id == vpc_id):
                return e
        return None

    def template(self, template_id: str | None = None, name: str | None = None) -> LaunchTemplate | None:
        if template_id:
            return self.launch_templates.get(template_id)
        return next((t for t in self.launch_templates.values() if t.name == name), None)
