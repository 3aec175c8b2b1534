"""The EBS operations around launches: CreateVolume, AttachVolume, CopySnapshot and CopyImage, each from its
parameters to what the matching describe call shows, with every KMS call EC2 makes decided by the engine.

Like launches (``run.py``), a request EC2 refuses outright (UnauthorizedOperation, a resource that does not exist
or is in the wrong state, a key that cannot be used where asked) fails synchronously with EC2's error and creates
nothing. The KMS calls come after the API call has answered: a refused one shows on the resource afterwards
(https://docs.aws.amazon.com/ebs/latest/userguide/ebs-encryption-requirements.html; reference
aws-encrypted-launch.md §1, "CreateVolume checks the key asynchronously: the call appears to succeed, the volume
then fails").

Error codes and words are EC2's (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html):
``InvalidVolume.NotFound``, ``InvalidInstanceID.NotFound``, ``InvalidSnapshot.NotFound``, ``InvalidAMIID.NotFound``,
``VolumeInUse``, ``IncorrectState``, ``InvalidVolume.ZoneMismatch``, ``InvalidParameterDependency``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kmslaunch.policy.errors import InputError
from kmslaunch.policy.principals import Principal
from kmslaunch.world.clock import iso
from kmslaunch.world.ec2 import Attachment, Image, Snapshot, Volume
from kmslaunch.world.instances import InstanceState
from kmslaunch.world.kms import Key
from kmslaunch.world.world import World

from .errors import Ec2Error
from .execute import execute
from .plan import AWS_INTERNAL, EC2_INVOKED_BY, KeySource, KmsCall, VolumePlan, _base_context, plan_calls, resolve_key
from .result import CallResult, CallVerdict, LaunchKind, LaunchResult, Outcome
from .run import _check_ec2, _principal
from .trail import event
from .views import volume_json

# assumption attach-volume-failure
CUSTOMER_KEY_REVOKED = "Client.CustomerKeyHasBeenRevoked"
ATTACH_CLIENT_ERROR = "Client.InternalError"


def _user_agent(command: str) -> str:
    return f"aws-cli/2.17.0 md/command#ec2.{command}"


# ---------------------------------------------------------------------------------------------------------
# Parameters


def _opt(params: Mapping[str, Any], name: str, kind: type, what: str, source: str) -> Any:
    value = params.get(name)
    if value is None:
        return None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise InputError(source, name, f"expected {what}, got {type(value).__name__}")
    return value


def _required(params: Mapping[str, Any], name: str, what: str, source: str) -> str:
    value = _opt(params, name, str, what, source)
    if not value:
        raise Ec2Error("MissingParameter", f"The request must contain the parameter {name}")
    return str(value)


def _check_kms_key_id(kms_key_id: str | None, encrypted: bool | None) -> None:
    """CreateVolume, CopySnapshot and CopyImage: "If KmsKeyId is specified, the encrypted state must be true"
    (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CopySnapshot.html)."""
    if kms_key_id and encrypted is not True:
        raise Ec2Error(
            "InvalidParameterDependency", "The parameter KmsKeyId requires the parameter Encrypted to be set."
        )


# ---------------------------------------------------------------------------------------------------------
# Resources the account can see


def _visible_snapshot(world: World, account: str, region: str, snapshot_id: str) -> Snapshot:
    """A snapshot of the account, or one another account shared with it: its createVolumePermission names the
    account (or ``all``) (https://docs.aws.amazon.com/ebs/latest/userguide/ebs-modifying-snapshot-permissions.html);
    otherwise EC2 answers as if it did not exist."""
    snap = world.find_snapshot(region, snapshot_id)
    if snap is None or (
        snap.owner != account
        and account not in snap.create_volume_permissions
        and "all" not in snap.create_volume_permissions
    ):
        raise Ec2Error("InvalidSnapshot.NotFound", f"The snapshot '{snapshot_id}' does not exist.")
    return snap


def _visible_image(world: World, account: str, region: str, image_id: str) -> Image:
    image = world.find_image(region, image_id)
    if image is None or (image.owner != account and not image.public and account not in image.launch_permissions):
        raise Ec2Error("InvalidAMIID.NotFound", f"The image id '[{image_id}]' does not exist")
    return image


# ---------------------------------------------------------------------------------------------------------
# Keys


@dataclass(frozen=True, slots=True)
class _Target:
    """The encryption of a new volume or snapshot copy: its key (None when unencrypted) and how it was found."""

    encrypted: bool
    key: Key | None = None
    ref: str | None = None
    source: KeySource | None = None


def _volume_target(
    world: World, account: str, region: str, snapshot: Snapshot | None, encrypted: bool | None, kms_key_id: str | None
) -> _Target:
    """CreateVolume's key, resolved as for launches (plan.py): KmsKeyId, else the snapshot's key, else the
    region's default EBS key when the volume is encrypted (explicitly or by encryption by default)."""
    defaults = world.account(account).region(region).ec2.defaults
    from_encrypted = snapshot is not None and snapshot.encrypted
    if not (encrypted or from_encrypted or defaults.encryption_by_default):
        return _Target(False)
    if kms_key_id:
        ref, source = kms_key_id, KeySource.PARAMETER
    elif snapshot is not None and snapshot.encrypted and snapshot.kms_key_id:
        ref, source = snapshot.kms_key_id, KeySource.SNAPSHOT
    else:
        ref, source = defaults.default_kms_key_id, KeySource.DEFAULT
    return _Target(True, resolve_key(world, account, region, ref), ref, source)


def _copy_target(
    world: World, account: str, region: str, source: Snapshot, encrypted: bool | None, kms_key_id: str | None
) -> _Target:
    """The key of a snapshot copy in ``region`` (assumption copy-snapshot-target-key): KmsKeyId; else the
    source's key when the account owns it in this region; else the region's default EBS key, when the source is
    encrypted, Encrypted is set, or encryption by default is on. KmsKeyId must name a key of the destination
    region: "The key must exist in the destination region" (resolve_key refuses any other)."""
    defaults = world.account(account).region(region).ec2.defaults
    if not (source.encrypted or encrypted or defaults.encryption_by_default):
        return _Target(False)
    if kms_key_id:
        ref, how = kms_key_id, KeySource.PARAMETER
    elif source.encrypted and source.kms_key_id and _key_home(source.kms_key_id) == (account, region):
        ref, how = source.kms_key_id, KeySource.SNAPSHOT
    else:
        ref, how = defaults.default_kms_key_id, KeySource.DEFAULT
    return _Target(True, resolve_key(world, account, region, ref), ref, how)


def _key_home(key_arn: str) -> tuple[str, str]:
    """(account, region) of a key ARN."""
    parts = key_arn.split(":")
    return (parts[4], parts[3]) if len(parts) > 5 else ("", "")


# ---------------------------------------------------------------------------------------------------------
# KMS calls made as the caller through EC2


def _forward_context(region: str, caller_ip: str | None, now: datetime) -> dict[str, tuple[str, ...]]:
    """The context of a call EC2 makes as the caller (forward access), as plan.plan_calls builds it:
    kms:ViaService ec2.<region>.amazonaws.com, aws:ViaAWSService true, the caller's IP
    (https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-via-service)."""
    ctx = _base_context(region, iso(now), int(now.timestamp()))
    ctx["kms:viaservice"] = (f"ec2.{region}.amazonaws.com",)
    ctx["aws:viaawsservice"] = ("true",)
    if caller_ip:
        ctx["aws:sourceip"] = (caller_ip,)  # assumption forward-access-source-ip
    return ctx


def _caller_call(
    operation: str,
    who: Principal,
    key_arn: str,
    resource_id: str,
    permissions: tuple[tuple[str, str], ...],
    via_region: str,
    caller_ip: str | None,
    now: datetime,
    why: str,
    *,
    crypto: bool = True,
) -> KmsCall:
    ctx = _forward_context(via_region, caller_ip, now)
    if crypto:
        ctx["kms:encryptionalgorithm"] = ("SYMMETRIC_DEFAULT",)
    # DescribeKey takes no encryption context; every other call carries aws:ebs:id of the new resource.
    ec = {"aws:ebs:id": resource_id} if crypto else {}
    return KmsCall(
        operation, who, key_arn, resource_id, permissions, ctx, ec, EC2_INVOKED_BY, caller_ip or EC2_INVOKED_BY, why
    )


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
            _caller_call(
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
            _caller_call(
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
            _caller_call(
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
            _caller_call(
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
        _caller_call(
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
            _caller_call(
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


def _refused(results: list[CallResult]) -> CallResult | None:
    return next((r for r in results if r.refused), None)


def _kms_error(refused: CallResult) -> dict[str, str]:
    return {"Code": refused.error_code or "AccessDeniedException", "Message": refused.error_message or ""}


# ---------------------------------------------------------------------------------------------------------
# Results


def _rejected(
    world: World,
    kind: LaunchKind,
    who: Principal,
    account: str,
    region: str,
    exc: Ec2Error,
    request: dict[str, Any],
    source_ip: str | None,
    notes: list[str],
) -> LaunchResult:
    """A request EC2 refuses synchronously: its CloudTrail record with the error, nothing created."""
    rec = event(
        world,
        who=who,
        event_source="ec2.amazonaws.com",
        event_name=kind.value,
        region=region,
        recipient_account=account,
        source_ip=source_ip or AWS_INTERNAL,
        user_agent=_user_agent(_COMMANDS[kind]),
        request=request,
        response=None,
        error_code=f"Client.{exc.code}" if exc.code == "UnauthorizedOperation" else exc.code,
        error_message=exc.message,
    )
    world.account(account).region(region).trail.events.append(rec)
    return LaunchResult(
        kind,
        account,
        region,
        who.arn,
        Outcome("rejected", None, {"Code": exc.code, "Message": exc.message}),
        trail=(rec,),
        notes=tuple(notes),
    )


_COMMANDS = {
    LaunchKind.CREATE_VOLUME: "create-volume",
    LaunchKind.ATTACH_VOLUME: "attach-volume",
    LaunchKind.COPY_SNAPSHOT: "copy-snapshot",
    LaunchKind.COPY_IMAGE: "copy-image",
}


def _api_event(
    world: World,
    kind: LaunchKind,
    who: Principal,
    account: str,
    region: str,
    request: dict[str, Any],
    response: dict[str, Any],
    source_ip: str | None,
) -> dict[str, Any]:
    return event(
        world,
        who=who,
        event_source="ec2.amazonaws.com",
        event_name=kind.value,
        region=region,
        recipient_account=account,
        source_ip=source_ip or AWS_INTERNAL,
        user_agent=_user_agent(_COMMANDS[kind]),
        request=request,
        response=response,
    )


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
    kind = LaunchKind.CREATE_VOLUME
    source = "create-volume parameters"
    who = _principal(world, caller)
    notes: list[str] = []
    snapshot_id = _opt(params, "SnapshotId", str, "a snapshot id", source)
    size = _opt(params, "Size", int, "a size in GiB", source)
    encrypted = _opt(params, "Encrypted", bool, "true or false", source)
    kms_key_id = _opt(params, "KmsKeyId", str, "a key id, key ARN, alias name or alias ARN", source)
    volume_type = _opt(params, "VolumeType", str, "a volume type", source) or "gp3"
    az = _opt(params, "AvailabilityZone", str, "an Availability Zone", source)
    request = {k[0].lower() + k[1:]: v for k, v in params.items()}
    try:
        resource = f"arn:{world.partition}:ec2:{region}:{account}:volume/*"
        _check_ec2(world, who, account, region, "ec2:CreateVolume", resource, source_ip, notes)
        if not az:
            raise Ec2Error("MissingParameter", "The request must contain the parameter AvailabilityZone")
        _check_kms_key_id(kms_key_id, encrypted)
        snapshot = _visible_snapshot(world, account, region, snapshot_id) if snapshot_id else None
        if size is None and snapshot is None:
            raise Ec2Error("MissingParameter", "The request must contain the parameter size or snapshotId")
        target = _volume_target(world, account, region, snapshot, encrypted, kms_key_id)
    except Ec2Error as exc:
        return _rejected(world, kind, who, account, region, exc, request, source_ip, notes)

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
    trail = [_api_event(world, kind, who, account, region, request, response, source_ip)]
    calls: list[KmsCall] = []
    if target.key is not None:
        source_key = snapshot.kms_key_id if snapshot is not None and snapshot.encrypted else None
        calls = _data_key_calls(who, target.key, source_key, vol.volume_id, region, source_ip, now)
    results = execute(world, calls, region, trail)
    refused = _refused(results)
    vol.state = "available" if refused is None else "error"
    world.account(account).region(region).ec2.volumes[vol.volume_id] = vol
    world.account(account).region(region).trail.events.extend(trail)
    plan = VolumePlan(
        "", vol.volume_id, vol.size, vol.volume_type, vol.encrypted, target.key, target.ref, target.source, snapshot
    )
    return LaunchResult(
        kind,
        account,
        region,
        who.arn,
        Outcome(vol.state, None, _kms_error(refused) if refused else None),
        calls=tuple(results),
        trail=tuple(trail),
        volumes=(plan,),
        view={"Volumes": [volume_json(vol)]},
        notes=tuple(notes),
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
) -> LaunchResult:
    """``aws ec2 attach-volume``: for an encrypted volume, EC2 grants the instance identity Decrypt on the
    volume's key as the caller, and the instance identity decrypts the data key (assumption attach-volume-calls).
    The API answers ``attaching``; a refused call makes the attachment fail and the volume stays ``available``
    (assumption attach-volume-failure)."""
    kind = LaunchKind.ATTACH_VOLUME
    who = _principal(world, caller)
    notes: list[str] = []
    ec2 = world.account(account).region(region).ec2
    request = {"volumeId": volume_id, "instanceId": instance_id, "device": device}
    try:
        # AttachVolume is authorized on both the volume and the instance
        # (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonec2.html).
        for res in (f"volume/{volume_id}", f"instance/{instance_id}"):
            arn = f"arn:{world.partition}:ec2:{region}:{account}:{res}"
            _check_ec2(world, who, account, region, "ec2:AttachVolume", arn, source_ip, notes)
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
        return _rejected(world, kind, who, account, region, exc, request, source_ip, notes)

    now = world.clock.now()
    response = {
        "volumeId": volume_id,
        "instanceId": instance_id,
        "device": device,
        "status": "attaching",
        "attachTime": iso(now),
    }
    trail = [_api_event(world, kind, who, account, region, request, response, source_ip)]
    plan = VolumePlan(device, volume_id, vol.size, vol.volume_type, vol.encrypted, key, vol.kms_key_id)
    calls: list[KmsCall] = []
    if key is not None:
        calls = plan_calls(
            [plan],
            who,
            source_ip,
            account,
            region,
            instance_id,
            iso(now),
            int(now.timestamp()),
            world.partition,
            reuse_data_keys=True,
        )
        if inst.state is InstanceState.STOPPED:
            # No hypervisor holds the volume yet: the instance identity decrypts at the next start
            # (assumption attach-volume-calls).
            calls = [c for c in calls if c.operation != "Decrypt"]
    results = execute(world, calls, region, trail)
    refused = _refused(results)
    if refused is None:
        vol.state = "in-use"
        vol.attachments.append(Attachment(instance_id, device, "attached", iso(now), False))
        inst.block_devices.append((device, volume_id))
        outcome = Outcome("in-use")
    else:
        outcome = Outcome("failed", None, _attach_error(refused, volume_id))
    world.account(account).region(region).trail.events.extend(trail)
    return LaunchResult(
        kind,
        account,
        region,
        who.arn,
        outcome,
        calls=tuple(results),
        trail=tuple(trail),
        volumes=(plan,),
        instance_ids=(instance_id,),
        view={"Volumes": [volume_json(vol)]},
        notes=tuple(notes),
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
