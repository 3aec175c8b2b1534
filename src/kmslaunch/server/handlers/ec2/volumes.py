"""Volumes and snapshots: CreateVolume, AttachVolume, DescribeVolumes, CreateSnapshot, CopySnapshot,
DescribeSnapshots and ModifySnapshotAttribute. The operations that use KMS go through the launch path."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from kmslaunch.launch.copies import copy_snapshot, snapshot_json
from kmslaunch.launch.views import volume_json
from kmslaunch.launch.volumes import attach_volume, create_volume
from kmslaunch.world.clock import iso
from kmslaunch.world.ec2 import Snapshot

from ..base import ApiError, Ctx, Handler, required
from .common import arn, ec2_of, filters, launch_path, launched, matches, select, wire

# -- Volumes -------------------------------------------------------------------------------------------------------


def create_volume_handler(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    ctx.authorize("ec2:CreateVolume", arn(ctx, "volume/*"))
    vol = launched(ctx, "CreateVolume", create_volume, params, "Volumes")
    # CreateVolume answers "creating"; a refused KMS call shows afterwards (describe-volumes: error).
    vol["State"] = "creating"
    vol["OwnerId"] = ctx.account
    return dict(wire(vol))


def attach_volume_handler(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    volume_id = str(required(ctx, params, "VolumeId"))
    instance_id = str(required(ctx, params, "InstanceId"))
    device = str(required(ctx, params, "Device"))
    ctx.authorize("ec2:AttachVolume", arn(ctx, f"volume/{volume_id}"))
    ctx.authorize("ec2:AttachVolume", arn(ctx, f"instance/{instance_id}"))
    launch_path(
        ctx,
        "AttachVolume",
        lambda: attach_volume(
            ctx.world, ctx.account, ctx.region, volume_id, instance_id, device, ctx.caller.arn, ctx.source_ip
        ),
    )
    return {
        "VolumeId": volume_id,
        "InstanceId": instance_id,
        "Device": device,
        "State": "attaching",
        "AttachTime": datetime.now(UTC).replace(microsecond=0),
        "DeleteOnTermination": False,
    }


def _volume_not_found(missing: list[str]) -> ApiError:
    return ApiError("InvalidVolume.NotFound", f"The volume '{missing[0]}' does not exist.")


def describe_volumes(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    ctx.authorize("ec2:DescribeVolumes", "*")
    wanted = filters(params)
    out = []
    for vol in select(params, "VolumeIds", ec2_of(ctx).volumes, _volume_not_found):
        values = {
            "volume-id": [vol.volume_id],
            "status": [vol.state],
            "encrypted": [str(vol.encrypted).lower()],
            "availability-zone": [vol.availability_zone],
            "snapshot-id": [vol.snapshot_id or ""],
            "attachment.instance-id": [a.instance_id for a in vol.attachments],
        }
        if matches(values, wanted):
            item = volume_json(vol)
            item["OwnerId"] = ctx.account
            out.append(item)
    return {"Volumes": wire(out)}


# -- Snapshots -----------------------------------------------------------------------------------------------------


def _snapshot_out(snap: Snapshot) -> dict[str, Any]:
    out = snapshot_json(snap)
    out["Progress"] = "100%" if snap.state == "completed" else ""
    return dict(wire(out))


def _snapshot_not_found(snapshot_id: str) -> ApiError:
    return ApiError("InvalidSnapshot.NotFound", f"The snapshot '{snapshot_id}' does not exist.")


def create_snapshot(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    volume_id = str(required(ctx, params, "VolumeId"))
    # CreateSnapshot is authorized on the volume and on the new snapshot.
    ctx.authorize("ec2:CreateSnapshot", arn(ctx, f"volume/{volume_id}"))
    ctx.authorize("ec2:CreateSnapshot", arn(ctx, "snapshot/*", account=False))
    ec2 = ec2_of(ctx)
    vol = ec2.volumes.get(volume_id)
    if vol is None:
        raise _volume_not_found([volume_id])
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


def copy_snapshot_handler(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    ctx.authorize("ec2:CopySnapshot", arn(ctx, "snapshot/*", account=False))
    snap = launched(ctx, "CopySnapshot", copy_snapshot, params, "Snapshots")
    return {"SnapshotId": snap["SnapshotId"]}


def visible_snapshots(ctx: Ctx) -> dict[str, Snapshot]:
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
    chosen = select(params, "SnapshotIds", visible_snapshots(ctx), lambda missing: _snapshot_not_found(missing[0]))
    owners = {ctx.account if o == "self" else str(o) for o in params.get("OwnerIds") or []}
    restorable = {ctx.account if u == "self" else str(u) for u in params.get("RestorableByUserIds") or []}
    wanted = filters(params)
    out = []
    for snap in chosen:
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
        if matches(values, wanted):
            out.append(_snapshot_out(snap))
    return {"Snapshots": out}


def modify_snapshot_attribute(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    snapshot_id = str(required(ctx, params, "SnapshotId"))
    ctx.authorize("ec2:ModifySnapshotAttribute", arn(ctx, f"snapshot/{snapshot_id}", account=False))
    snap = ec2_of(ctx).snapshots.get(snapshot_id)
    if snap is None:
        raise _snapshot_not_found(snapshot_id)
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


HANDLERS: dict[str, Handler] = {
    "CreateVolume": create_volume_handler,
    "AttachVolume": attach_volume_handler,
    "DescribeVolumes": describe_volumes,
    "CreateSnapshot": create_snapshot,
    "CopySnapshot": copy_snapshot_handler,
    "DescribeSnapshots": describe_snapshots,
    "ModifySnapshotAttribute": modify_snapshot_attribute,
}
