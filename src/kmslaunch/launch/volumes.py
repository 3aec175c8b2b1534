"""The EBS operations around launches: CreateVolume and AttachVolume (the copies are in ``copies.py``), each from
its parameters to what the matching describe call shows, with every KMS call EC2 makes decided by the engine.

Like launches (``run.py``), a request EC2 refuses outright fails synchronously with EC2's error and creates
nothing (``common.Ec2Request.rejected``). The KMS calls come after the API call has answered: a refused one shows
on the resource afterwards (https://docs.aws.amazon.com/ebs/latest/userguide/ebs-encryption-requirements.html;
reference aws-encrypted-launch.md §1, "CreateVolume checks the key asynchronously: the call appears to succeed,
the volume then fails").

Error codes and words are EC2's (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html):
``InvalidVolume.NotFound``, ``InvalidInstanceID.NotFound``, ``InvalidSnapshot.NotFound``,
``VolumeInUse``, ``IncorrectState``, ``InvalidVolume.ZoneMismatch``, ``InvalidParameterDependency``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from kmslaunch.policy.principals import Principal
from kmslaunch.world.clock import iso
from kmslaunch.world.ec2 import Attachment, Snapshot, Volume
from kmslaunch.world.instances import InstanceState
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
    visible_snapshot,
    wire_request,
)
from .errors import Ec2Error
from .execute import execute
from .plan import KeySource, KmsCall, VolumePlan, resolve_key
from .result import CallResult, CallVerdict, LaunchKind, LaunchResult, Outcome
from .views import volume_json

# assumption attach-volume-failure
CUSTOMER_KEY_REVOKED = "Client.CustomerKeyHasBeenRevoked"
ATTACH_CLIENT_ERROR = "Client.InternalError"


# ---------------------------------------------------------------------------------------------------------
# Keys and KMS calls


def _volume_target(
    world: World, account: str, region: str, snapshot: Snapshot | None, encrypted: bool | None, kms_key_id: str | None
) -> KeyTarget:
    """CreateVolume's key, resolved as for launches (plan.py): KmsKeyId, else the snapshot's key, else the
    region's default EBS key when the volume is encrypted (explicitly or by encryption by default)."""
    defaults = world.account(account).region(region).ec2.defaults
    from_encrypted = snapshot is not None and snapshot.encrypted
    if not (encrypted or from_encrypted or defaults.encryption_by_default):
        return KeyTarget(False)
    if kms_key_id:
        ref, source = kms_key_id, KeySource.PARAMETER
    elif snapshot is not None and snapshot.encrypted and snapshot.kms_key_id:
        ref, source = snapshot.kms_key_id, KeySource.SNAPSHOT
    else:
        ref, source = defaults.default_kms_key_id, KeySource.DEFAULT
    return KeyTarget(True, resolve_key(world, account, region, ref), ref, source)


def _data_key_calls(
    who: Principal,
    target: Key,
    source_key: str | None,
    resource_id: str,
    region: str,
    caller_ip: str | None,
    now: datetime,
) -> list[KmsCall]:
    """A new volume's data key (assumption create-volume-calls): GenerateDataKeyWithoutPlaintext unless the
    snapshot has the same key (assumption same-key-reuses-data-key), then ReEncrypt when its key differs
    (assumption reencrypt-on-key-change)."""
    calls: list[KmsCall] = []
    if source_key is None or source_key != target.arn:
        calls.append(
            caller_call(
                "GenerateDataKeyWithoutPlaintext",
                who,
                target.arn,
                resource_id,
                (("kms:GenerateDataKeyWithoutPlaintext", target.arn),),
                region,
                caller_ip,
                now,
                f"EBS creates the data key of {resource_id} under its key, as the caller through EC2",
            )
        )
    if source_key is not None and source_key != target.arn:
        calls.append(
            caller_call(
                "ReEncrypt",
                who,
                target.arn,
                resource_id,
                (("kms:ReEncryptFrom", source_key), ("kms:ReEncryptTo", target.arn)),
                region,
                caller_ip,
                now,
                f"EBS re-encrypts the data of {resource_id} from the snapshot's key to its own",
            )
        )
    return calls


# ---------------------------------------------------------------------------------------------------------
# CreateVolume


def create_volume(
    world: World,
    account: str,
    region: str,
    params: Mapping[str, Any],
    caller: str,
    source_ip: str | None = None,
) -> LaunchResult:
    """``aws ec2 create-volume``: the API answers with the volume ``creating``; the KMS calls follow, and a
    refused one leaves the volume in state ``error`` (assumption create-volume-async-failure)."""
    req = Ec2Request.from_cli(world, LaunchKind.CREATE_VOLUME, caller, account, region, wire_request(params), source_ip)
    source = "create-volume parameters"
    snapshot_id = optional_param(params, "SnapshotId", str, "a snapshot id", source)
    size = optional_param(params, "Size", int, "a size in GiB", source)
    encrypted, kms_key_id = encryption_params(params, source)
    volume_type = optional_param(params, "VolumeType", str, "a volume type", source) or "gp3"
    az = optional_param(params, "AvailabilityZone", str, "an Availability Zone", source)
    try:
        req.check("ec2:CreateVolume", req.arn("volume/*"))
        if not az:
            raise Ec2Error("MissingParameter", "The request must contain the parameter AvailabilityZone")
        check_kms_key_id(kms_key_id, encrypted)
        snapshot = visible_snapshot(world, account, region, snapshot_id) if snapshot_id else None
        if size is None and snapshot is None:
            raise Ec2Error("MissingParameter", "The request must contain the parameter size or snapshotId")
        target = _volume_target(world, account, region, snapshot, encrypted, kms_key_id)
    except Ec2Error as exc:
        return req.rejected(exc)

    now = world.clock.now()
    vol = Volume(
        volume_id=world.ids.ec2("vol"),
        size=size or (snapshot.volume_size if snapshot else 8),
        volume_type=volume_type,
        availability_zone=az,
        encrypted=target.encrypted,
        kms_key_id=target.key.arn if target.key else None,
        snapshot_id=snapshot.snapshot_id if snapshot else None,
        state="creating",
        create_time=iso(now),
    )
    response: dict[str, Any] = {
        "volumeId": vol.volume_id,
        "size": vol.size,
        "snapshotId": vol.snapshot_id or "",
        "availabilityZone": az,
        "status": "creating",
        "createTime": vol.create_time,
        "volumeType": vol.volume_type,
        "encrypted": vol.encrypted,
    }
    if vol.kms_key_id:
        response["kmsKeyId"] = vol.kms_key_id
    trail = [req.api_event(response)]
    calls: list[KmsCall] = []
    if target.key is not None:
        source_key = snapshot.kms_key_id if snapshot is not None and snapshot.encrypted else None
        calls = _data_key_calls(req.who, target.key, source_key, vol.volume_id, region, source_ip, now)
    results = execute(world, calls, region, trail)
    refused = first_refused(results)
    vol.state = "available" if refused is None else "error"
    req.ec2.volumes[vol.volume_id] = vol
    req.record(trail)
    plan = VolumePlan(
        "", vol.volume_id, vol.size, vol.volume_type, vol.encrypted, target.key, target.ref, target.source, snapshot
    )
    return req.result(
        Outcome(vol.state, None, kms_error(refused) if refused else None),
        calls=results,
        trail=trail,
        volumes=[plan],
        view={"Volumes": [volume_json(vol)]},
    )


# ---------------------------------------------------------------------------------------------------------
# AttachVolume


def attach_volume(
    world: World,
    account: str,
    region: str,
    volume_id: str,
    instance_id: str,
    device: str | None,
    caller: str,
    source_ip: str | None = None,
    *,
    dry_run: bool = False,
) -> LaunchResult:
    """``aws ec2 attach-volume``: for an encrypted volume, EC2 grants the instance identity Decrypt on the
    volume's key as the caller, and the instance identity decrypts the data key (assumption attach-volume-calls).
    The API answers ``attaching``; a refused call makes the attachment fail and the volume stays ``available``
    (assumption attach-volume-failure)."""
    request: dict[str, Any] = {"volumeId": volume_id, "instanceId": instance_id, "device": device}
    if dry_run:
        request["dryRun"] = True
    req = Ec2Request.from_cli(world, LaunchKind.ATTACH_VOLUME, caller, account, region, request, source_ip)
    ec2 = req.ec2
    try:
        # AttachVolume is authorized on both the volume and the instance
        # (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonec2.html).
        resources = (f"volume/{volume_id}", f"instance/{instance_id}")
        for res in resources:
            req.check("ec2:AttachVolume", req.arn(res), final=res == resources[-1])
        if not device:
            raise Ec2Error("MissingParameter", "The request must contain the parameter device")
        vol = ec2.volumes.get(volume_id)
        if vol is None:
            raise Ec2Error("InvalidVolume.NotFound", f"The volume '{volume_id}' does not exist.")
        inst = ec2.instances.get(instance_id)
        if inst is None:
            raise Ec2Error("InvalidInstanceID.NotFound", f"The instance ID '{instance_id}' does not exist")
        # assumption attach-volume-states
        if inst.state not in (InstanceState.RUNNING, InstanceState.STOPPED):
            raise Ec2Error("IncorrectState", f"Instance '{instance_id}' is not 'running' or 'stopped'.")
        if vol.state == "in-use":
            raise Ec2Error("VolumeInUse", f"{volume_id} is already attached to an instance")
        if vol.state != "available":
            raise Ec2Error("IncorrectState", f"{volume_id} is not 'available'.")
        if vol.availability_zone != inst.availability_zone:
            raise Ec2Error(
                "InvalidVolume.ZoneMismatch",
                f"The volume '{volume_id}' is not in the same availability zone as instance '{instance_id}'",
            )
        if any(d == device for d, _ in inst.block_devices):
            raise Ec2Error(
                "InvalidParameterValue",
                f"Invalid value '{device}' for unixDevice. Attachment point {device} is already in use",
            )
        key = resolve_key(world, account, region, vol.kms_key_id) if vol.encrypted and vol.kms_key_id else None
    except Ec2Error as exc:
        return req.rejected(exc)

    now = world.clock.now()
    response = {
        "volumeId": volume_id,
        "instanceId": instance_id,
        "device": device,
        "status": "attaching",
        "attachTime": iso(now),
    }
    trail = [req.api_event(response)]
    plan = VolumePlan(device, volume_id, vol.size, vol.volume_type, vol.encrypted, key, vol.kms_key_id)
    calls: list[KmsCall] = []
    if key is not None:
        calls = req.volume_calls([plan], instance_id, now, reuse_data_keys=True)
        if inst.state is InstanceState.STOPPED:
            # No hypervisor holds the volume yet: the instance identity decrypts at the next start
            # (assumption attach-volume-calls).
            calls = [c for c in calls if c.operation != "Decrypt"]
    results = execute(world, calls, region, trail)
    refused = first_refused(results)
    if refused is None:
        vol.state = "in-use"
        vol.attachments.append(Attachment(instance_id, device, "attached", iso(now), False))
        inst.block_devices.append((device, volume_id))
        outcome = Outcome("in-use")
    else:
        outcome = Outcome("failed", None, _attach_error(refused, volume_id))
    req.record(trail)
    return req.result(
        outcome,
        calls=results,
        trail=trail,
        volumes=[plan],
        instance_ids=[instance_id],
        view={"Volumes": [volume_json(vol)]},
    )


def _attach_error(refused: CallResult, volume_id: str) -> dict[str, str]:
    """What a failed attachment shows (assumption attach-volume-failure)."""
    if refused.verdict is CallVerdict.KEY_STATE:
        return {
            "Code": CUSTOMER_KEY_REVOKED,
            "Message": f"Volume {volume_id} cannot be attached. The encrypted volume was unable to access the KMS key.",
        }
    return {
        "Code": ATTACH_CLIENT_ERROR,
        "Message": f"{ATTACH_CLIENT_ERROR}: Client error on attach: EC2 could not use the KMS key of {volume_id}",
    }
