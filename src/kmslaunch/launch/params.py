"""Launch parameters as ``aws ec2 run-instances --cli-input-json`` takes them, validated with paths."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kmslaunch.policy.errors import InputError
from kmslaunch.world.ec2 import EbsSpec


@dataclass(frozen=True, slots=True)
class RunParams:
    image_id: str | None
    instance_type: str
    min_count: int
    max_count: int
    block_devices: tuple[EbsSpec, ...]
    launch_template: Mapping[str, str] | None
    client_token: str | None
    availability_zone: str | None
    tags: Mapping[str, str]
    dry_run: bool = False


def _expect(value: object, kind: type | tuple[type, ...], source: str, path: str, what: str) -> Any:
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise InputError(source, path, f"expected {what}, got {type(value).__name__}")
    return value


def parse_block_devices(raw: object, source: str, path: str) -> tuple[EbsSpec, ...]:
    """BlockDeviceMappings of RunInstances, images, launch templates and launch configurations."""
    if raw is None:
        return ()
    items = _expect(raw, list, source, path, "a list of block device mappings")
    out: list[EbsSpec] = []
    for i, item in enumerate(items):
        p = f"{path}[{i}]"
        bdm = _expect(item, Mapping, source, p, "an object")
        device = _expect(bdm.get("DeviceName"), str, source, f"{p}.DeviceName", "a device name")
        ebs = bdm.get("Ebs")
        if ebs is None:
            continue  # instance store (VirtualName) or NoDevice: nothing to encrypt
        ebs = _expect(ebs, Mapping, source, f"{p}.Ebs", "an object")

        def opt(name: str, kind: type, what: str, ebs: Mapping[str, Any] = ebs, p: str = p) -> Any:
            v = ebs.get(name)
            return None if v is None else _expect(v, kind, source, f"{p}.Ebs.{name}", what)

        size = opt("VolumeSize", int, "a size in GiB")
        out.append(
            EbsSpec(
                device_name=device,
                snapshot_id=opt("SnapshotId", str, "a snapshot id"),
                volume_size=size,
                volume_type=opt("VolumeType", str, "a volume type"),
                encrypted=opt("Encrypted", bool, "true or false"),
                kms_key_id=opt("KmsKeyId", str, "a key id, key ARN, alias name or alias ARN"),
                delete_on_termination=bool(opt("DeleteOnTermination", bool, "true or false") in (None, True)),
            )
        )
    return tuple(out)


def parse_run_params(raw: object, source: str) -> RunParams:
    data = _expect(raw, Mapping, source, "", "a JSON object (run-instances --cli-input-json)")
    lt = data.get("LaunchTemplate")
    if lt is not None:
        lt = _expect(lt, Mapping, source, "LaunchTemplate", "an object")
        if not (lt.get("LaunchTemplateId") or lt.get("LaunchTemplateName")):
            raise InputError(source, "LaunchTemplate", "needs LaunchTemplateId or LaunchTemplateName")
        lt = {k: str(v) for k, v in lt.items()}
    image = data.get("ImageId")
    if image is not None:
        _expect(image, str, source, "ImageId", "an AMI id")
    if image is None and lt is None:
        raise InputError(source, "ImageId", "missing: give ImageId or a LaunchTemplate")
    min_count = _expect(data.get("MinCount", 1), int, source, "MinCount", "a whole number")
    max_count = _expect(data.get("MaxCount", min_count), int, source, "MaxCount", "a whole number")
    if not 1 <= min_count <= max_count:
        raise InputError(source, "MinCount", "expected 1 <= MinCount <= MaxCount")
    if max_count > 50:
        raise InputError(source, "MaxCount", "kmslaunch simulates at most 50 instances per launch")
    placement = data.get("Placement") or {}
    _expect(placement, Mapping, source, "Placement", "an object")
    tags: dict[str, str] = {}
    for i, spec in enumerate(data.get("TagSpecifications") or []):
        for j, tag in enumerate(spec.get("Tags") or [] if isinstance(spec, Mapping) else []):
            if not isinstance(tag, Mapping) or "Key" not in tag:
                raise InputError(source, f"TagSpecifications[{i}].Tags[{j}]", "expected {Key, Value}")
            tags[str(tag["Key"])] = str(tag.get("Value", ""))
    return RunParams(
        image_id=image,
        instance_type=str(data.get("InstanceType") or ""),
        min_count=min_count,
        max_count=max_count,
        block_devices=parse_block_devices(data.get("BlockDeviceMappings"), source, "BlockDeviceMappings"),
        launch_template=lt,
        client_token=data.get("ClientToken"),
        availability_zone=placement.get("AvailabilityZone"),
        tags=tags,
        dry_run=_expect(data.get("DryRun", False), bool, source, "DryRun", "true or false"),
    )
