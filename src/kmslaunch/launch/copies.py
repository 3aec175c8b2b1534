"""CopySnapshot and CopyImage: the KMS calls of copying encrypted EBS snapshots, and of the images made of them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kmslaunch.policy.principals import Principal
from kmslaunch.world.clock import iso
from kmslaunch.world.ec2 import EbsSpec, Image, Snapshot
from kmslaunch.world.kms import Key
from kmslaunch.world.world import World

from .common import (
    Ec2Request,
    KeyTarget,
    caller_call,
    check_kms_key_id,
    encryption_params,
    first_refused,
    kms_error,
    optional_param,
    required_param,
    state_reason_for,
    visible_image,
    visible_snapshot,
    wire_request,
)
from .errors import Ec2Error
from .execute import execute
from .plan import KeySource, KmsCall, VolumePlan, resolve_key
from .result import CallResult, LaunchKind, LaunchResult, Outcome

# ---------------------------------------------------------------------------------------------------------
# What the copies show


def snapshot_json(s: Snapshot, state_message: str | None = None) -> dict[str, Any]:
    """One element of ``describe-snapshots``' ``Snapshots[]``."""
    out: dict[str, Any] = {
        "SnapshotId": s.snapshot_id,
        "OwnerId": s.owner,
        "VolumeId": s.volume_id,
        "VolumeSize": s.volume_size,
        "State": s.state,
        "StartTime": s.start_time,
        "Description": s.description,
        "Encrypted": s.encrypted,
    }
    if s.kms_key_id:
        out["KmsKeyId"] = s.kms_key_id
    if state_message:
        out["StateMessage"] = state_message
    return out


def image_json(image: Image, state_reason: dict[str, str] | None = None) -> dict[str, Any]:
    """One element of ``describe-images``' ``Images[]``."""
    out: dict[str, Any] = {
        "ImageId": image.image_id,
        "OwnerId": image.owner,
        "Name": image.name,
        "Description": image.description,
        "State": image.state,
        "CreationDate": image.creation_date,
        "Architecture": image.architecture,
        "RootDeviceName": image.root_device_name,
        "RootDeviceType": "ebs",
        "Public": image.public,
        "BlockDeviceMappings": [d.to_json() for d in image.block_devices],
    }
    if state_reason:
        out["StateReason"] = dict(state_reason)
    return out


# ---------------------------------------------------------------------------------------------------------
# The key of a copy, and the KMS calls of copying


def _copy_target(
    world: World, account: str, region: str, source: Snapshot, encrypted: bool | None, kms_key_id: str | None
) -> KeyTarget:
    """The key of a snapshot copy in ``region`` (assumption copy-snapshot-target-key): KmsKeyId; else the
    source's key when the account owns it in this region; else the region's default EBS key, when the source is
    encrypted, Encrypted is set, or encryption by default is on. KmsKeyId must name a key of the destination
    region: "The key must exist in the destination region" (resolve_key refuses any other)."""
    defaults = world.account(account).region(region).ec2.defaults
    if not (source.encrypted or encrypted or defaults.encryption_by_default):
        return KeyTarget(False)
    if kms_key_id:
        ref, how = kms_key_id, KeySource.PARAMETER
    elif source.encrypted and source.kms_key_id and _key_home(source.kms_key_id) == (account, region):
        ref, how = source.kms_key_id, KeySource.SNAPSHOT
    else:
        ref, how = defaults.default_kms_key_id, KeySource.DEFAULT
    return KeyTarget(True, resolve_key(world, account, region, ref), ref, how)


def _key_home(key_arn: str) -> tuple[str, str]:
    """(account, region) of a key ARN."""
    parts = key_arn.split(":")
    return (parts[4], parts[3]) if len(parts) > 5 else ("", "")


def _copy_calls(
    who: Principal,
    source: Snapshot,
    source_region: str,
    target: Key | None,
    new_id: str,
    region: str,
    caller_ip: str | None,
    now: datetime,
) -> list[KmsCall]:
    """The calls of one snapshot copy, as the caller through EC2 (assumption copy-snapshot-calls)."""
    src = source.kms_key_id if source.encrypted else None
    calls: list[KmsCall] = []
    if src:
        # "To copy an encrypted snapshot ... kms:DescribeKey" (EBS copy snapshot permissions); DescribeKey works
        # in every key state (execute.key_state_error).
        calls.append(
            caller_call(
                "DescribeKey",
                who,
                src,
                new_id,
                (("kms:DescribeKey", src),),
                source_region,
                caller_ip,
                now,
                f"EC2 reads the source key of {source.snapshot_id} before copying it to {new_id}",
                crypto=False,
            )
        )
    if target is None:
        return calls
    if src and source_region != region and src != target.arn:
        # KMS keys are regional and ReEncrypt cannot cross regions: the source's data key is decrypted through
        # EC2 of the source region.
        calls.append(
            caller_call(
                "Decrypt",
                who,
                src,
                new_id,
                (("kms:Decrypt", src),),
                source_region,
                caller_ip,
                now,
                f"EBS decrypts the data key of {source.snapshot_id} in {source_region} to copy it to {region}",
            )
        )
    calls.append(
        caller_call(
            "GenerateDataKeyWithoutPlaintext",
            who,
            target.arn,
            new_id,
            (("kms:GenerateDataKeyWithoutPlaintext", target.arn),),
            region,
            caller_ip,
            now,
            f"EBS creates the data key of the copy {new_id} under its key, as the caller through EC2",
        )
    )
    if src and source_region == region and src != target.arn:
        calls.append(
            caller_call(
                "ReEncrypt",
                who,
                target.arn,
                new_id,
                (("kms:ReEncryptFrom", src), ("kms:ReEncryptTo", target.arn)),
                region,
                caller_ip,
                now,
                f"EBS re-encrypts the data of {source.snapshot_id} from its key to the key of the copy {new_id}",
            )
        )
    return calls


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
    target: KeyTarget,
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
    refused = first_refused(results)
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


def _copy_params(params: Mapping[str, Any], source: str) -> tuple[bool | None, str | None, str]:
    """``Encrypted``, ``KmsKeyId`` and ``Description`` of CopySnapshot and CopyImage."""
    encrypted, kms_key_id = encryption_params(params, source)
    description = optional_param(params, "Description", str, "a description", source) or ""
    return encrypted, kms_key_id, description


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
    req = Ec2Request.from_cli(world, LaunchKind.COPY_SNAPSHOT, caller, account, region, wire_request(params), source_ip)
    source = "copy-snapshot parameters"
    encrypted, kms_key_id, description = _copy_params(params, source)
    try:
        req.check("ec2:CopySnapshot", req.arn("snapshot/*", account=False))
        snapshot_id = required_param(params, "SourceSnapshotId", "a snapshot id", source)
        source_region = required_param(params, "SourceRegion", "a region", source)
        check_kms_key_id(kms_key_id, encrypted)
        src = visible_snapshot(world, account, source_region, snapshot_id)
        target = _copy_target(world, account, region, src, encrypted, kms_key_id)
    except Ec2Error as exc:
        return req.rejected(exc)

    new_id = world.ids.ec2("snap")
    trail = [req.api_event({"snapshotId": new_id})]
    copied = _copy_one(
        world,
        req.who,
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
    req.record(trail)
    error = kms_error(copied.refused) if copied.refused else None
    return req.result(
        Outcome(copied.snapshot.state, None, error),
        calls=copied.results,
        trail=trail,
        volumes=[copied.plan],
        view={"Snapshots": [snapshot_json(copied.snapshot, error["Message"] if error else None)]},
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
    req = Ec2Request.from_cli(world, LaunchKind.COPY_IMAGE, caller, account, region, wire_request(params), source_ip)
    source = "copy-image parameters"
    encrypted, kms_key_id, description = _copy_params(params, source)
    try:
        req.check("ec2:CopyImage", req.arn("image/*", account=False))
        image_id = required_param(params, "SourceImageId", "an AMI id", source)
        source_region = required_param(params, "SourceRegion", "a region", source)
        name = required_param(params, "Name", "an AMI name", source)
        check_kms_key_id(kms_key_id, encrypted)
        image = visible_image(world, account, source_region, image_id)
        devices: list[tuple[EbsSpec, Snapshot | None, KeyTarget | None]] = []
        for spec in image.block_devices:
            if not spec.snapshot_id:
                devices.append((spec, None, None))
                continue
            # Copying an AMI shared with the account needs read access to its snapshots
            # (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/CopyingAMIs.html).
            shared = visible_snapshot(world, account, source_region, spec.snapshot_id)
            devices.append((spec, shared, _copy_target(world, account, region, shared, encrypted, kms_key_id)))
    except Ec2Error as exc:
        return req.rejected(exc)

    new_image_id = world.ids.ec2("ami")
    trail = [req.api_event({"imageId": new_image_id})]
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
            req.who,
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
    req.ec2.images[new_image_id] = new_image
    req.record(trail)
    return req.result(
        Outcome(new_image.state, state_reason, kms_error(refused) if refused else None),
        calls=results,
        trail=trail,
        volumes=plans,
        view={"Images": [image_json(new_image, state_reason)]},
    )
