"""EC2 and EBS: launches, instance lifecycle, volumes, snapshots, images, launch templates and the region's EBS
encryption defaults. Launches and the EBS operations that use KMS go through ``kmslaunch.launch``, so the
endpoint fails exactly where the simulator does; this module only translates between botocore's shapes and it.

CloudTrail: the launch path writes its own records (the API call, in EC2's own record shape with ``instancesSet``
and ``items``, and every KMS call EC2 makes) into the world's trail, from the verified caller, address and user
agent. The dispatcher records every other API call; for these it leaves the launch path's record alone
(``Ctx.recorded``), so the API call appears once, as AWS records it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from kmslaunch.launch.copies import copy_image, copy_snapshot
from kmslaunch.launch.errors import Ec2Error, NotInWorld
from kmslaunch.launch.params import parse_block_devices, parse_run_params
from kmslaunch.launch.plan import resolve_key
from kmslaunch.launch.result import LaunchResult
from kmslaunch.launch.run import run_instances, start_instances
from kmslaunch.launch.views import instance_json, volume_json
from kmslaunch.launch.volumes import attach_volume, create_volume, image_json, snapshot_json
from kmslaunch.policy.errors import InputError
from kmslaunch.policy.wildcard import glob_match
from kmslaunch.world.clock import iso
from kmslaunch.world.ec2 import EbsSpec, Ec2, Image, Instance, LaunchTemplate, Snapshot
from kmslaunch.world.instances import IncorrectInstanceState, InstanceEvent, InstanceState, transition
from kmslaunch.world.kms import AWS_EBS_ALIAS

from .base import ApiError, Ctx, Handler, required

# Members of EC2's output shapes that botocore models as timestamps (Image.CreationDate is a string).
_TIMESTAMPS = frozenset({"LaunchTime", "AttachTime", "CreateTime", "StartTime"})
# Past participles for IncorrectInstanceState ("… from which it can be stopped.").
_DONE = {InstanceEvent.STOP: "stopped", InstanceEvent.TERMINATE: "terminated", InstanceEvent.START: "started"}
USER_INITIATED = {
    "Code": "Client.UserInitiatedShutdown",
    "Message": "Client.UserInitiatedShutdown: User initiated shutdown",
}


def _ec2(ctx: Ctx) -> Ec2:
    return ctx.world.account(ctx.account).region(ctx.region).ec2


def _arn(ctx: Ctx, resource: str, *, account: bool = True) -> str:
    """An EC2 resource ARN; snapshots and images have no account in theirs
    (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonec2.html#amazonec2-resources-for-iam-policies)."""
    return f"arn:{ctx.world.partition}:ec2:{ctx.region}:{ctx.account if account else ''}:{resource}"


def _when(value: str) -> datetime:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return datetime.now(UTC)


def _wire(value: Any) -> Any:
    """A view built for the CLI's JSON (timestamps as text) in botocore's shape (timestamps as datetimes)."""
    if isinstance(value, dict):
        return {k: _when(v) if k in _TIMESTAMPS and isinstance(v, str) else _wire(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_wire(v) for v in value]
    return value


def _api_error(exc: Ec2Error | InputError | NotInWorld) -> ApiError:
    if isinstance(exc, Ec2Error):
        return ApiError(exc.code, exc.message, exc.status)
    if isinstance(exc, InputError):
        return ApiError("InvalidParameterValue", f"{exc.path}: {exc.message}" if exc.path else exc.message)
    # The endpoint's world is the whole world: what it lacks does not exist.
    return ApiError("InvalidParameterValue", str(exc))


def _set_aside_api_record(ctx: Ctx, result: LaunchResult, operation: str) -> None:
    """When the launch path recorded the API call itself, the dispatcher does not (see the module docstring)."""
    ctx.recorded = any(
        r.get("eventSource") == "ec2.amazonaws.com" and r.get("eventName") == operation for r in result.trail
    )


def _filters(params: Mapping[str, Any]) -> list[tuple[str, list[str]]]:
    return [(str(f.get("Name")), [str(v) for v in f.get("Values") or []]) for f in params.get("Filters") or []]


def _matches(values: Mapping[str, Iterable[str]], filters: list[tuple[str, list[str]]]) -> bool:
    """EC2's filter semantics: every filter must match; a filter matches when any of its values (``*`` and ``?``
    wildcards allowed) matches any of the resource's values; an unknown filter name matches nothing."""
    for name, wanted in filters:
        have = list(values.get(name, ()))
        if not any(glob_match(w, h) for w in wanted for h in have):
            return False
    return True


def _not_found(code: str, noun: str, missing: list[str]) -> ApiError:
    if len(missing) == 1:
        return ApiError(code, f"The {noun} ID '{missing[0]}' does not exist")
    return ApiError(code, f"The {noun} IDs '{', '.join(missing)}' do not exist")


# -- Instances ---------------------------------------------------------------------------------------------------


def _reservation_id(instance_id: str) -> str:
    """The world keeps no reservations: one derived from the first instance's id, as snapshot/save.py does, so
    that the id is the same after a restart and in an exported snapshot."""
    return "r-0" + hashlib.sha256(instance_id.encode()).hexdigest()[:16]


def _as_launched(inst: Instance, ec2: Ec2) -> dict[str, Any]:
    """An instance as RunInstances answers: pending, whatever happened next (the KMS calls come after the API
    call has answered, https://repost.aws/knowledge-center/ec2-instance-terminating)."""
    out = instance_json(inst, ec2)
    out["State"] = {"Code": InstanceState.PENDING.code, "Name": InstanceState.PENDING.label}
    out["StateTransitionReason"] = ""
    out.pop("StateReason", None)
    out["BlockDeviceMappings"] = []
    if inst.client_token:
        out["ClientToken"] = inst.client_token
    return out


def _reservation(
    ctx: Ctx, instances: list[Instance], view: Callable[[Instance, Ec2], dict[str, Any]]
) -> dict[str, Any]:
    ec2 = _ec2(ctx)
    out: dict[str, Any] = _wire(
        {
            "ReservationId": _reservation_id(instances[0].instance_id),
            "OwnerId": ctx.account,
            "Groups": [],
            "Instances": [view(i, ec2) for i in instances],
        }
    )
    return out


def run_instances_handler(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    # The launch path authorizes ec2:RunInstances itself; authorizing here first makes a refusal come back as
    # EC2's UnauthorizedOperation from the endpoint's own check, with the verified caller's context.
    ctx.authorize("ec2:RunInstances", _arn(ctx, "instance/*"))
    try:
        run = parse_run_params(params, "RunInstances")
    except InputError as exc:
        raise _api_error(exc) from exc
    ec2 = _ec2(ctx)
    if run.client_token:
        # Idempotency (https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-idempotency.html): the same token
        # returns the first launch's reservation and launches nothing.
        earlier = [i for i in ec2.instances.values() if i.client_token == run.client_token]
        if earlier:
            if run.image_id and any(i.image_id != run.image_id for i in earlier):
                raise ApiError(
                    "IdempotentParameterMismatch",
                    f"The client token '{run.client_token}' was used with different parameters.",
                )
            return _reservation(ctx, earlier, _as_launched)
    try:
        result = run_instances(
            ctx.world,
            ctx.account,
            ctx.region,
            run,
            ctx.caller.arn,
            source_ip=ctx.source_ip,
            user_agent=ctx.user_agent,
        )
    except NotInWorld as exc:
        raise _api_error(exc) from exc
    ctx.changed = True  # the trail changed even when the launch was refused
    _set_aside_api_record(ctx, result, "RunInstances")
    if result.outcome.state == "rejected":
        err = result.outcome.error or {"Code": "InternalError", "Message": "the launch was refused"}
        raise ApiError(err["Code"], err["Message"], 403 if err["Code"] == "UnauthorizedOperation" else 400)
    return _reservation(ctx, [ec2.instances[i] for i in result.instance_ids], _as_launched)


def _instance_values(inst: Instance) -> dict[str, list[str]]:
    values = {
        "instance-id": [inst.instance_id],
        "instance-state-name": [inst.state.label],
        "instance-state-code": [str(inst.state.code)],
        "image-id": [inst.image_id],
        "instance-type": [inst.instance_type],
        "availability-zone": [inst.availability_zone],
        "client-token": [inst.client_token or ""],
        "state-reason-code": [inst.state_reason["Code"]] if inst.state_reason else [],
        "tag-key": list(inst.tags),
    }
    for k, v in inst.tags.items():
        values[f"tag:{k}"] = [v]
    return values


def describe_instances(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    ctx.authorize("ec2:DescribeInstances", "*")
    ec2 = _ec2(ctx)
    ids = [str(i) for i in params.get("InstanceIds") or []]
    missing = [i for i in ids if i not in ec2.instances]
    if missing:
        raise _not_found("InvalidInstanceID.NotFound", "instance", missing)
    filters = _filters(params)
    chosen = [ec2.instances[i] for i in ids] if ids else list(ec2.instances.values())
    chosen = [i for i in chosen if _matches(_instance_values(i), filters)]
    # One reservation per launch: instances of one RunInstances share its client token.
    groups: dict[str, list[Instance]] = {}
    for inst in chosen:
        groups.setdefault(inst.client_token or inst.instance_id, []).append(inst)
    return {"Reservations": [_reservation(ctx, group, instance_json) for group in groups.values()]}


def _state(s: InstanceState) -> dict[str, Any]:
    return {"Code": s.code, "Name": s.label}


def _instances(ctx: Ctx, params: dict[str, Any], action: str) -> list[Instance]:
    ids = [str(i) for i in required(ctx, params, "InstanceIds")]
    for i in ids:
        ctx.authorize(action, _arn(ctx, f"instance/{i}"))
    ec2 = _ec2(ctx)
    missing = [i for i in ids if i not in ec2.instances]
    if missing:
        raise _not_found("InvalidInstanceID.NotFound", "instance", missing)
    return [ec2.instances[i] for i in ids]


def _check_transitions(instances: list[Instance], event: InstanceEvent) -> None:
    """All or nothing, as EC2 refuses the whole request when one instance cannot make the transition."""
    for inst in instances:
        try:
            transition(inst.instance_id, inst.state, event)
        except IncorrectInstanceState as exc:
            raise ApiError(
                exc.code,
                f"The instance '{inst.instance_id}' is not in a state from which it can be {_DONE[event]}.",
            ) from exc


def _user_initiated(ctx: Ctx, inst: Instance) -> None:
    inst.state_transition_reason = f"User initiated ({ctx.world.clock.now():%Y-%m-%d %H:%M:%S} GMT)"
    inst.state_reason = dict(USER_INITIATED)


def start_instances_handler(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    instances = _instances(ctx, params, "ec2:StartInstances")
    _check_transitions(instances, InstanceEvent.START)
    out = []
    for inst in instances:
        before = inst.state
        result = start_instances(
            ctx.world,
            ctx.account,
            ctx.region,
            inst.instance_id,
            ctx.caller.arn,
            source_ip=ctx.source_ip,
            user_agent=ctx.user_agent,
        )
        ctx.changed = True
        _set_aside_api_record(ctx, result, "StartInstances")
        if result.outcome.state == "rejected":
            err = result.outcome.error or {"Code": "InternalError", "Message": "the start was refused"}
            raise ApiError(err["Code"], err["Message"], 403 if err["Code"] == "UnauthorizedOperation" else 400)
        # StartInstances answers pending; a refused Decrypt shows afterwards, the instance back to stopped.
        now = before if before is InstanceState.RUNNING else InstanceState.PENDING
        out.append({"InstanceId": inst.instance_id, "CurrentState": _state(now), "PreviousState": _state(before)})
    return {"StartingInstances": out}


def stop_instances(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    instances = _instances(ctx, params, "ec2:StopInstances")
    _check_transitions(instances, InstanceEvent.STOP)
    out = []
    for inst in instances:
        before = inst.state
        answered = inst.apply(InstanceEvent.STOP)
        if answered is InstanceState.STOPPING:
            _user_initiated(ctx, inst)
            inst.apply(InstanceEvent.STOPPED)
        out.append({"InstanceId": inst.instance_id, "CurrentState": _state(answered), "PreviousState": _state(before)})
    ctx.changed = True
    return {"StoppingInstances": out}


def terminate_instances(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    instances = _instances(ctx, params, "ec2:TerminateInstances")
    _check_transitions(instances, InstanceEvent.TERMINATE)
    ec2 = _ec2(ctx)
    out = []
    for inst in instances:
        before = inst.state
        answered = inst.apply(InstanceEvent.TERMINATE)
        if answered is InstanceState.SHUTTING_DOWN:
            if before is not InstanceState.SHUTTING_DOWN:
                _user_initiated(ctx, inst)
            inst.apply(InstanceEvent.SHUTDOWN_DONE)
            release_volumes(ec2, inst)
        out.append({"InstanceId": inst.instance_id, "CurrentState": _state(answered), "PreviousState": _state(before)})
    ctx.changed = True
    return {"TerminatingInstances": out}


def release_volumes(ec2: Ec2, inst: Instance) -> None:
    """A terminated instance's volumes: deleted when DeleteOnTermination, otherwise detached and available."""
    for _, vol_id in inst.block_devices:
        vol = ec2.volumes.get(vol_id)
        if vol is None:
            continue
        att = next((a for a in vol.attachments if a.instance_id == inst.instance_id), None)
        if att is not None and att.delete_on_termination:
            del ec2.volumes[vol_id]
            continue
        vol.attachments = [a for a in vol.attachments if a.instance_id != inst.instance_id]
        vol.state = "available" if not vol.attachments else vol.state
    inst.block_devices = []


# -- Volumes -----------------------------------------------------------------------------------------------------


def create_volume_handler(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    ctx.authorize("ec2:CreateVolume", _arn(ctx, "volume/*"))
    try:
        result = create_volume(ctx.world, ctx.account, ctx.region, params, ctx.caller.arn, ctx.source_ip)
    except (InputError, NotInWorld) as exc:
        raise _api_error(exc) from exc
    ctx.changed = True
    _set_aside_api_record(ctx, result, "CreateVolume")
    _raise_rejected(result)
    assert result.view is not None
    vol = dict(result.view["Volumes"][0])
    # CreateVolume answers "creating"; a refused KMS call shows afterwards (describe-volumes: error).
    vol["State"] = "creating"
    vol["OwnerId"] = ctx.account
    return dict(_wire(vol))


def attach_volume_handler(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    volume_id = str(required(ctx, params, "VolumeId"))
    instance_id = str(required(ctx, params, "InstanceId"))
    device = str(required(ctx, params, "Device"))
    ctx.authorize("ec2:AttachVolume", _arn(ctx, f"volume/{volume_id}"))
    ctx.authorize("ec2:AttachVolume", _arn(ctx, f"instance/{instance_id}"))
    result = attach_volume(
        ctx.world, ctx.account, ctx.region, volume_id, instance_id, device, ctx.caller.arn, ctx.source_ip
    )
    ctx.changed = True
    _set_aside_api_record(ctx, result, "AttachVolume")
    _raise_rejected(result)
    return {
        "VolumeId": volume_id,
        "InstanceId": instance_id,
        "Device": device,
        "State": "attaching",
        "AttachTime": datetime.now(UTC).replace(microsecond=0),
        "DeleteOnTermination": False,
    }


def _raise_rejected(result: LaunchResult) -> None:
    if result.outcome.state == "rejected":
        err = result.outcome.error or {"Code": "InternalError", "Message": "the request was refused"}
        raise ApiError(err["Code"], err["Message"], 403 if err["Code"] == "UnauthorizedOperation" else 400)


def describe_volumes(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    ctx.authorize("ec2:DescribeVolumes", "*")
    ec2 = _ec2(ctx)
    ids = [str(i) for i in params.get("VolumeIds") or []]
    missing = [i for i in ids if i not in ec2.volumes]
    if missing:
        raise ApiError("InvalidVolume.NotFound", f"The volume '{missing[0]}' does not exist.")
    filters = _filters(params)
    out = []
    for vol in [ec2.volumes[i] for i in ids] if ids else list(ec2.volumes.values()):
        values = {
            "volume-id": [vol.volume_id],
            "status": [vol.state],
            "encrypted": [str(vol.encrypted).lower()],
            "availability-zone": [vol.availability_zone],
            "snapshot-id": [vol.snapshot_id or ""],
            "attachment.instance-id": [a.instance_id for a in vol.attachments],
        }
        if _matches(values, filters):
            item = volume_json(vol)
            item["OwnerId"] = ctx.account
            out.append(item)
    return {"Volumes": _wire(out)}


# -- Snapshots ---------------------------------------------------------------------------------------------------


def _snapshot_out(snap: Snapshot) -> dict[str, Any]:
    out = snapshot_json(snap)
    out["Progress"] = "100%" if snap.state == "completed" else ""
    return dict(_wire(out))


def create_snapshot(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    volume_id = str(required(ctx, params, "VolumeId"))
    # CreateSnapshot is authorized on the volume and on the new snapshot.
    ctx.authorize("ec2:CreateSnapshot", _arn(ctx, f"volume/{volume_id}"))
    ctx.authorize("ec2:CreateSnapshot", _arn(ctx, "snapshot/*", account=False))
    ec2 = _ec2(ctx)
    vol = ec2.volumes.get(volume_id)
    if vol is None:
        raise ApiError("InvalidVolume.NotFound", f"The volume '{volume_id}' does not exist.")
    # A snapshot of an encrypted volume is encrypted with the volume's key
    # (https://docs.aws.amazon.com/ebs/latest/userguide/ebs-encryption.html).
    snap = Snapshot(
        snapshot_id=ctx.world.ids.ec2("snap"),
        owner=ctx.account,
        volume_size=vol.size,
        encrypted=vol.encrypted,
        kms_key_id=vol.kms_key_id,
        volume_id=vol.volume_id,
        start_time=iso(ctx.world.clock.now()),
        description=str(params.get("Description") or ""),
    )
    ec2.snapshots[snap.snapshot_id] = snap
    ctx.changed = True
    out = _snapshot_out(snap)
    out["State"], out["Progress"] = "pending", ""  # as the API answers; describe-snapshots shows it completed
    return out


def _visible_snapshots(ctx: Ctx) -> dict[str, Snapshot]:
    """The account's snapshots and those other accounts share with it (or with everyone)."""
    out: dict[str, Snapshot] = {}
    for acct in ctx.world.accounts.values():
        region = acct.regions.get(ctx.region)
        if region is None:
            continue
        for snap in region.ec2.snapshots.values():
            shared = ctx.account in snap.create_volume_permissions or "all" in snap.create_volume_permissions
            if snap.owner == ctx.account or shared:
                out[snap.snapshot_id] = snap
    return out


def describe_snapshots(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    ctx.authorize("ec2:DescribeSnapshots", "*")
    visible = _visible_snapshots(ctx)
    ids = [str(i) for i in params.get("SnapshotIds") or []]
    missing = [i for i in ids if i not in visible]
    if missing:
        raise ApiError("InvalidSnapshot.NotFound", f"The snapshot '{missing[0]}' does not exist.")
    owners = {ctx.account if o == "self" else str(o) for o in params.get("OwnerIds") or []}
    restorable = {ctx.account if u == "self" else str(u) for u in params.get("RestorableByUserIds") or []}
    filters = _filters(params)
    out = []
    for snap in [visible[i] for i in ids] if ids else list(visible.values()):
        if owners and snap.owner not in owners:
            continue
        if restorable and not any(u == snap.owner or u in snap.create_volume_permissions for u in restorable):
            continue
        values = {
            "snapshot-id": [snap.snapshot_id],
            "owner-id": [snap.owner],
            "status": [snap.state],
            "encrypted": [str(snap.encrypted).lower()],
            "volume-id": [snap.volume_id],
            "kms-key-id": [snap.kms_key_id or ""],
        }
        if _matches(values, filters):
            out.append(_snapshot_out(snap))
    return {"Snapshots": out}


def modify_snapshot_attribute(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    snapshot_id = str(required(ctx, params, "SnapshotId"))
    ctx.authorize("ec2:ModifySnapshotAttribute", _arn(ctx, f"snapshot/{snapshot_id}", account=False))
    snap = _ec2(ctx).snapshots.get(snapshot_id)
    if snap is None:
        raise ApiError("InvalidSnapshot.NotFound", f"The snapshot '{snapshot_id}' does not exist.")
    attribute = params.get("Attribute") or "createVolumePermission"
    if attribute != "createVolumePermission":
        raise ApiError("InvalidParameterValue", f"Value ({attribute}) for parameter attribute is invalid.")
    add: list[str] = []
    remove: list[str] = []
    # Two ways to say it: OperationType with UserIds/GroupNames, or CreateVolumePermission's Add/Remove lists.
    who = [str(u) for u in params.get("UserIds") or []] + [str(g) for g in params.get("GroupNames") or []]
    if params.get("OperationType") == "add":
        add += who
    elif params.get("OperationType") == "remove":
        remove += who
    elif who:
        raise ApiError("MissingParameter", "The request must contain the parameter OperationType")
    perm = params.get("CreateVolumePermission") or {}
    for items, into in ((perm.get("Add") or [], add), (perm.get("Remove") or [], remove)):
        into += [str(p.get("UserId") or p.get("Group")) for p in items if p.get("UserId") or p.get("Group")]
    for a in add:
        if a not in snap.create_volume_permissions:
            snap.create_volume_permissions.append(a)
    snap.create_volume_permissions = [p for p in snap.create_volume_permissions if p not in remove]
    ctx.changed = True
    return {}


def copy_snapshot_handler(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    ctx.authorize("ec2:CopySnapshot", _arn(ctx, "snapshot/*", account=False))
    try:
        result = copy_snapshot(ctx.world, ctx.account, ctx.region, params, ctx.caller.arn, ctx.source_ip)
    except (InputError, NotInWorld) as exc:
        raise _api_error(exc) from exc
    ctx.changed = True
    _set_aside_api_record(ctx, result, "CopySnapshot")
    _raise_rejected(result)
    assert result.view is not None
    return {"SnapshotId": result.view["Snapshots"][0]["SnapshotId"]}


# -- Images ------------------------------------------------------------------------------------------------------


def register_image(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    name = str(required(ctx, params, "Name"))
    ctx.authorize("ec2:RegisterImage", _arn(ctx, "image/*", account=False))
    try:
        specs = parse_block_devices(params.get("BlockDeviceMappings"), "RegisterImage", "BlockDeviceMappings")
    except InputError as exc:
        raise _api_error(exc) from exc
    ec2 = _ec2(ctx)
    taken = next((i for i in ec2.images.values() if i.name == name), None)
    if taken is not None:
        raise ApiError("InvalidAMIName.Duplicate", f"AMI name {name} is already in use by AMI {taken.image_id}")
    visible = _visible_snapshots(ctx)
    devices = []
    for spec in specs:
        if spec.snapshot_id is None:
            devices.append(spec)
            continue
        snap = visible.get(spec.snapshot_id)
        if snap is None:
            raise ApiError("InvalidSnapshot.NotFound", f"The snapshot '{spec.snapshot_id}' does not exist.")
        # The image's mapping shows the snapshot's encryption, as describe-images does.
        devices.append(
            EbsSpec(
                spec.device_name,
                spec.snapshot_id,
                spec.volume_size or snap.volume_size,
                spec.volume_type or "gp3",
                True if snap.encrypted else spec.encrypted,
                spec.kms_key_id,
                spec.delete_on_termination,
            )
        )
    image = Image(
        image_id=ctx.world.ids.ec2("ami"),
        owner=ctx.account,
        name=name,
        block_devices=tuple(devices),
        root_device_name=str(params.get("RootDeviceName") or (devices[0].device_name if devices else "/dev/xvda")),
        creation_date=iso(ctx.world.clock.now()),
        architecture=str(params.get("Architecture") or "x86_64"),
        description=str(params.get("Description") or ""),
    )
    ec2.images[image.image_id] = image
    ctx.changed = True
    return {"ImageId": image.image_id}


def copy_image_handler(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    ctx.authorize("ec2:CopyImage", _arn(ctx, "image/*", account=False))
    try:
        result = copy_image(ctx.world, ctx.account, ctx.region, params, ctx.caller.arn, ctx.source_ip)
    except (InputError, NotInWorld) as exc:
        raise _api_error(exc) from exc
    ctx.changed = True
    _set_aside_api_record(ctx, result, "CopyImage")
    _raise_rejected(result)
    assert result.view is not None
    return {"ImageId": result.view["Images"][0]["ImageId"]}


def describe_images(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    ctx.authorize("ec2:DescribeImages", "*")
    visible: dict[str, Image] = {}
    for acct in ctx.world.accounts.values():
        region = acct.regions.get(ctx.region)
        for image in region.ec2.images.values() if region else ():
            if image.owner == ctx.account or image.public or ctx.account in image.launch_permissions:
                visible[image.image_id] = image
    ids = [str(i) for i in params.get("ImageIds") or []]
    missing = [i for i in ids if i not in visible]
    if missing:
        raise ApiError("InvalidAMIID.NotFound", f"The image id '[{', '.join(missing)}]' does not exist")
    owners = {ctx.account if o == "self" else str(o) for o in params.get("Owners") or []}
    filters = _filters(params)
    out = []
    for image in [visible[i] for i in ids] if ids else list(visible.values()):
        if owners and image.owner not in owners:
            continue
        values = {
            "image-id": [image.image_id],
            "name": [image.name],
            "owner-id": [image.owner],
            "state": [image.state],
            "is-public": [str(image.public).lower()],
            "block-device-mapping.snapshot-id": [d.snapshot_id for d in image.block_devices if d.snapshot_id],
        }
        if _matches(values, filters):
            out.append(image_json(image))
    return {"Images": out}


# -- Launch templates ----------------------------------------------------------------------------------------------


def _template_out(t: LaunchTemplate) -> dict[str, Any]:
    return {
        "LaunchTemplateId": t.template_id,
        "LaunchTemplateName": t.name,
        "CreateTime": _when(t.create_time),
        "CreatedBy": t.created_by,
        "DefaultVersionNumber": t.default_version,
        "LatestVersionNumber": t.latest_version,
    }


def _version_out(t: LaunchTemplate, n: int) -> dict[str, Any]:
    return {
        "LaunchTemplateId": t.template_id,
        "LaunchTemplateName": t.name,
        "VersionNumber": n,
        "CreateTime": _when(t.create_time),
        "CreatedBy": t.created_by,
        "DefaultVersion": n == t.default_version,
        "LaunchTemplateData": t.versions[n],
    }


def _template_data(params: dict[str, Any], ctx: Ctx) -> dict[str, Any]:
    data = dict(required(ctx, params, "LaunchTemplateData"))
    try:
        parse_block_devices(data.get("BlockDeviceMappings"), "LaunchTemplateData", "BlockDeviceMappings")
    except InputError as exc:
        raise _api_error(exc) from exc
    return data


def create_launch_template(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    name = str(required(ctx, params, "LaunchTemplateName"))
    ctx.authorize("ec2:CreateLaunchTemplate", _arn(ctx, "launch-template/*"))
    data = _template_data(params, ctx)
    ec2 = _ec2(ctx)
    if ec2.template(name=name) is not None:
        raise ApiError("InvalidLaunchTemplateName.AlreadyExistsException", "Launch template name already in use.")
    t = LaunchTemplate(
        ctx.world.ids.ec2("lt"), name, {1: data}, 1, iso(ctx.world.clock.now()), created_by=ctx.caller.arn
    )
    ec2.launch_templates[t.template_id] = t
    ctx.changed = True
    return {"LaunchTemplate": _template_out(t)}


def _find_template(ctx: Ctx, params: Mapping[str, Any]) -> LaunchTemplate:
    template_id, name = params.get("LaunchTemplateId"), params.get("LaunchTemplateName")
    if not template_id and not name:
        raise ApiError(
            "MissingParameter", "The request must contain the parameter LaunchTemplateId or LaunchTemplateName"
        )
    t = _ec2(ctx).template(template_id, name)
    if t is None:
        if template_id:
            raise ApiError(
                "InvalidLaunchTemplateId.NotFound",
                f"The specified launch template, with template ID {template_id}, does not exist.",
            )
        raise ApiError(
            "InvalidLaunchTemplateName.NotFoundException",
            f"The specified launch template, with template name {name}, does not exist.",
        )
    return t


def create_launch_template_version(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    ctx.authorize("ec2:CreateLaunchTemplateVersion", _arn(ctx, "launch-template/*"))
    t = _find_template(ctx, params)
    data = _template_data(params, ctx)
    if params.get("SourceVersion"):
        base = t.data(str(params["SourceVersion"]))
        if base is None:
            raise ApiError(
                "InvalidLaunchTemplateId.VersionNotFound",
                f"Could not find launch template version {params['SourceVersion']} for {t.template_id}.",
            )
        data = {**base, **data}
    n = t.latest_version + 1
    t.versions[n] = data
    ctx.changed = True
    return {"LaunchTemplateVersion": _version_out(t, n)}


def describe_launch_templates(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    ctx.authorize("ec2:DescribeLaunchTemplates", "*")
    ec2 = _ec2(ctx)
    ids = [str(i) for i in params.get("LaunchTemplateIds") or []]
    names = [str(n) for n in params.get("LaunchTemplateNames") or []]
    chosen = [_find_template(ctx, {"LaunchTemplateId": i}) for i in ids]
    chosen += [_find_template(ctx, {"LaunchTemplateName": n}) for n in names]
    if not ids and not names:
        chosen = list(ec2.launch_templates.values())
    return {"LaunchTemplates": [_template_out(t) for t in chosen]}


def describe_launch_template_versions(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    ctx.authorize("ec2:DescribeLaunchTemplateVersions", "*")
    t = _find_template(ctx, params)
    wanted = [str(v) for v in params.get("Versions") or []]
    numbers: list[int] = []
    for v in wanted:
        n = t.default_version if v == "$Default" else t.latest_version if v == "$Latest" else None
        if n is None:
            try:
                n = int(v)
            except ValueError:
                n = -1
        if n not in t.versions:
            raise ApiError(
                "InvalidLaunchTemplateId.VersionNotFound",
                f"Could not find launch template version {v} for {t.template_id}.",
            )
        numbers.append(n)
    # Newest first, as the CLI lists them.
    chosen = numbers or sorted(t.versions, reverse=True)
    return {"LaunchTemplateVersions": [_version_out(t, n) for n in chosen]}


# -- EBS encryption defaults (https://docs.aws.amazon.com/ebs/latest/userguide/encryption-by-default.html) -----------


def _set_encryption_by_default(ctx: Ctx, action: str, on: bool) -> dict[str, Any]:
    ctx.authorize(action, "*")
    defaults = _ec2(ctx).defaults
    defaults.encryption_by_default = on
    defaults.known = True
    ctx.changed = True
    return {"EbsEncryptionByDefault": on}


def enable_ebs_encryption_by_default(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    return _set_encryption_by_default(ctx, "ec2:EnableEbsEncryptionByDefault", True)


def disable_ebs_encryption_by_default(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    return _set_encryption_by_default(ctx, "ec2:DisableEbsEncryptionByDefault", False)


def get_ebs_encryption_by_default(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    ctx.authorize("ec2:GetEbsEncryptionByDefault", "*")
    return {"EbsEncryptionByDefault": _ec2(ctx).defaults.encryption_by_default, "SseType": "sse-ebs"}


def _default_key_arn(ctx: Ctx) -> str:
    """EC2 answers with an ARN: the alias ARN of ``aws/ebs`` until a key is chosen."""
    ref = _ec2(ctx).defaults.default_kms_key_id
    if ref.startswith("arn:"):
        return ref
    if ref.startswith("alias/"):
        return f"arn:{ctx.world.partition}:kms:{ctx.region}:{ctx.account}:{ref}"
    return f"arn:{ctx.world.partition}:kms:{ctx.region}:{ctx.account}:key/{ref}"


def get_ebs_default_kms_key_id(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    ctx.authorize("ec2:GetEbsDefaultKmsKeyId", "*")
    return {"KmsKeyId": _default_key_arn(ctx)}


def modify_ebs_default_kms_key_id(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    ref = str(required(ctx, params, "KmsKeyId"))
    ctx.authorize("ec2:ModifyEbsDefaultKmsKeyId", "*")
    try:
        key = resolve_key(ctx.world, ctx.account, ctx.region, ref)
    except (Ec2Error, NotInWorld) as exc:
        raise _api_error(exc) from exc
    defaults = _ec2(ctx).defaults
    defaults.default_kms_key_id = key.arn
    defaults.known = True
    ctx.changed = True
    return {"KmsKeyId": key.arn}


def reset_ebs_default_kms_key_id(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    ctx.authorize("ec2:ResetEbsDefaultKmsKeyId", "*")
    defaults = _ec2(ctx).defaults
    defaults.default_kms_key_id = AWS_EBS_ALIAS
    defaults.known = True
    ctx.changed = True
    return {"KmsKeyId": _default_key_arn(ctx)}


HANDLERS: dict[str, Handler] = {
    "RunInstances": run_instances_handler,
    "DescribeInstances": describe_instances,
    "StartInstances": start_instances_handler,
    "StopInstances": stop_instances,
    "TerminateInstances": terminate_instances,
    "CreateVolume": create_volume_handler,
    "AttachVolume": attach_volume_handler,
    "DescribeVolumes": describe_volumes,
    "CreateSnapshot": create_snapshot,
    "CopySnapshot": copy_snapshot_handler,
    "DescribeSnapshots": describe_snapshots,
    "ModifySnapshotAttribute": modify_snapshot_attribute,
    "RegisterImage": register_image,
    "CopyImage": copy_image_handler,
    "DescribeImages": describe_images,
    "CreateLaunchTemplate": create_launch_template,
    "CreateLaunchTemplateVersion": create_launch_template_version,
    "DescribeLaunchTemplates": describe_launch_templates,
    "DescribeLaunchTemplateVersions": describe_launch_template_versions,
    "EnableEbsEncryptionByDefault": enable_ebs_encryption_by_default,
    "DisableEbsEncryptionByDefault": disable_ebs_encryption_by_default,
    "GetEbsEncryptionByDefault": get_ebs_encryption_by_default,
    "GetEbsDefaultKmsKeyId": get_ebs_default_kms_key_id,
    "ModifyEbsDefaultKmsKeyId": modify_ebs_default_kms_key_id,
    "ResetEbsDefaultKmsKeyId": reset_ebs_default_kms_key_id,
}
