"""CopySnapshot and CopyImage: the KMS calls of copying encrypted EBS snapshots, and of the images made of them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kmslaunch.policy.principals import Principal
from kmslaunch.world.clock import iso
from kmslaunch.world.ec2 import EbsSpec, Image, Snapshot
from kmslaunch.world.world import World

from .errors import Ec2Error
from .execute import execute
from .plan import VolumePlan
from .result import CallResult, LaunchKind, LaunchResult, Outcome
from .run import _check_ec2, _principal, state_reason_for

# assumption attach-volume-failure
from .volumes import (
    _api_event,
    _check_kms_key_id,
    _copy_calls,
    _copy_target,
    _kms_error,
    _opt,
    _refused,
    _rejected,
    _required,
    _Target,
    _visible_image,
    _visible_snapshot,
    image_json,
    snapshot_json,
)

# ---------------------------------------------------------------------------------------------------------
# CopySnapshot and CopyImage


@dataclass(frozen=True, slots=True)
class _Copied:
    snapshot: Snapshot
    plan: VolumePlan
    results: tuple[CallResult, ...]
    refused: CallResult | None


def _copy_one(
    world: World,
    who: Principal,
    account: str,
    region: str,
    source: Snapshot,
    source_region: str,
    target: _Target,
    description: str,
    source_ip: str | None,
    trail: list[dict[str, Any]],
    device: str = "",
    new_id: str | None = None,
) -> _Copied:
    """One snapshot copy: its KMS calls, and the new snapshot ``completed`` or ``error``
    (assumption copy-snapshot-failure)."""
    now = world.clock.now()
    new_id = new_id or world.ids.ec2("snap")
    calls = _copy_calls(who, source, source_region, target.key, new_id, region, source_ip, now)
    results = execute(world, calls, region, trail)
    refused = _refused(results)
    snap = Snapshot(
        snapshot_id=new_id,
        owner=account,
        volume_size=source.volume_size,
        encrypted=target.encrypted,
        kms_key_id=target.key.arn if target.key else None,
        state="completed" if refused is None else "error",
        # Copies have an arbitrary source volume id (API_CopySnapshot).
        volume_id="vol-ffffffff",
        start_time=iso(now),
        description=description,
    )
    world.account(account).region(region).ec2.snapshots[new_id] = snap
    plan = VolumePlan(
        device, new_id, source.volume_size, "", target.encrypted, target.key, target.ref, target.source, source
    )
    return _Copied(snap, plan, tuple(results), refused)


def copy_snapshot(
    world: World,
    account: str,
    region: str,
    params: Mapping[str, Any],
    caller: str,
    source_ip: str | None = None,
) -> LaunchResult:
    """``aws ec2 copy-snapshot`` into ``region``: the API answers with the new snapshot id; the copy then
    completes or ends in ``error``. The encryption context of its KMS calls is the NEW snapshot's id
    (https://docs.aws.amazon.com/ebs/latest/userguide/ebs-copy-snapshot.html)."""
    kind = LaunchKind.COPY_SNAPSHOT
    source = "copy-snapshot parameters"
    who = _principal(world, caller)
    notes: list[str] = []
    encrypted = _opt(params, "Encrypted", bool, "true or false", source)
    kms_key_id = _opt(params, "KmsKeyId", str, "a key id, key ARN, alias name or alias ARN", source)
    description = _opt(params, "Description", str, "a description", source) or ""
    request = {k[0].lower() + k[1:]: v for k, v in params.items()}
    try:
        resource = f"arn:{world.partition}:ec2:{region}::snapshot/*"
        _check_ec2(world, who, account, region, "ec2:CopySnapshot", resource, source_ip, notes)
        snapshot_id = _required(params, "SourceSnapshotId", "a snapshot id", source)
        source_region = _required(params, "SourceRegion", "a region", source)
        _check_kms_key_id(kms_key_id, encrypted)
        src = _visible_snapshot(world, account, source_region, snapshot_id)
        target = _copy_target(world, account, region, src, encrypted, kms_key_id)
    except Ec2Error as exc:
        return _rejected(world, kind, who, account, region, exc, request, source_ip, notes)

    new_id = world.ids.ec2("snap")
    trail = [_api_event(world, kind, who, account, region, request, {"snapshotId": new_id}, source_ip)]
    copied = _copy_one(
        world,
        who,
        account,
        region,
        src,
        source_region,
        target,
        description or f"Copied for DestinationSnapshot {new_id} from SourceSnapshot {snapshot_id}",
        source_ip,
        trail,
        new_id=new_id,
    )
    world.account(account).region(region).trail.events.extend(trail)
    error = _kms_error(copied.refused) if copied.refused else None
    return LaunchResult(
        kind,
        account,
        region,
        who.arn,
        Outcome(copied.snapshot.state, None, error),
        calls=copied.results,
        trail=tuple(trail),
        volumes=(copied.plan,),
        view={"Snapshots": [snapshot_json(copied.snapshot, error["Message"] if error else None)]},
        notes=tuple(notes),
    )


def copy_image(
    world: World,
    account: str,
    region: str,
    params: Mapping[str, Any],
    caller: str,
    source_ip: str | None = None,
) -> LaunchResult:
    """``aws ec2 copy-image`` into ``region``: one snapshot copy per EBS block device of the image, then the new
    image ``available``, or ``failed`` at the first refused call (assumption copy-image)."""
    kind = LaunchKind.COPY_IMAGE
    source = "copy-image parameters"
    who = _principal(world, caller)
    notes: list[str] = []
    encrypted = _opt(params, "Encrypted", bool, "true or false", source)
    kms_key_id = _opt(params, "KmsKeyId", str, "a key id, key ARN, alias name or alias ARN", source)
    description = _opt(params, "Description", str, "a description", source) or ""
    request = {k[0].lower() + k[1:]: v for k, v in params.items()}
    try:
        resource = f"arn:{world.partition}:ec2:{region}::image/*"
        _check_ec2(world, who, account, region, "ec2:CopyImage", resource, source_ip, notes)
        image_id = _required(params, "SourceImageId", "an AMI id", source)
        source_region = _required(params, "SourceRegion", "a region", source)
        name = _required(params, "Name", "an AMI name", source)
        _check_kms_key_id(kms_key_id, encrypted)
        image = _visible_image(world, account, source_region, image_id)
        devices: list[tuple[EbsSpec, Snapshot | None, _Target | None]] = []
        for spec in image.block_devices:
            if not spec.snapshot_id:
                devices.append((spec, None, None))
                continue
            # Copying an AMI shared with the account needs read access to its snapshots
            # (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/CopyingAMIs.html).
            shared = _visible_snapshot(world, account, source_region, spec.snapshot_id)
            devices.append((spec, shared, _copy_target(world, account, region, shared, encrypted, kms_key_id)))
    except Ec2Error as exc:
        return _rejected(world, kind, who, account, region, exc, request, source_ip, notes)

    new_image_id = world.ids.ec2("ami")
    trail = [_api_event(world, kind, who, account, region, request, {"imageId": new_image_id}, source_ip)]
    results: list[CallResult] = []
    plans: list[VolumePlan] = []
    new_devices: list[EbsSpec] = []
    refused: CallResult | None = None
    for spec, snap, target in devices:
        if snap is None or target is None:
            new_devices.append(spec)
            continue
        copied = _copy_one(
            world,
            who,
            account,
            region,
            snap,
            source_region,
            target,
            f"Copied for DestinationAmi {new_image_id} from SourceAmi {image_id} for SourceSnapshot "
            f"{snap.snapshot_id}. Task created on {iso(world.clock.now())[:10]}.",
            source_ip,
            trail,
            device=spec.device_name,
        )
        results.extend(copied.results)
        plans.append(copied.plan)
        new_devices.append(
            EbsSpec(
                spec.device_name,
                copied.snapshot.snapshot_id,
                spec.volume_size or snap.volume_size,
                spec.volume_type,
                copied.snapshot.encrypted or None,
                None,
                spec.delete_on_termination,
            )
        )
        if copied.refused is not None:
            refused = copied.refused
            break
    state_reason = state_reason_for(refused) if refused else None
    new_image = Image(
        image_id=new_image_id,
        owner=account,
        name=name,
        block_devices=tuple(new_devices),
        root_device_name=image.root_device_name,
        state="available" if refused is None else "failed",
        creation_date=iso(world.clock.now()),
        architecture=image.architecture,
        description=description,
    )
    world.account(account).region(region).ec2.images[new_image_id] = new_image
    world.account(account).region(region).trail.events.extend(trail)
    return LaunchResult(
        kind,
        account,
        region,
        who.arn,
        Outcome(new_image.state, state_reason, _kms_error(refused) if refused else None),
        calls=tuple(results),
        trail=tuple(trail),
        volumes=tuple(plans),
        view={"Images": [image_json(new_image, state_reason)]},
        notes=tuple(notes),
    )
