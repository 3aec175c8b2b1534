"""Images: RegisterImage, CopyImage (through the launch path) and DescribeImages."""

from __future__ import annotations

from typing import Any

from kmslaunch.launch.copies import copy_image, image_json
from kmslaunch.launch.params import parse_block_devices
from kmslaunch.policy.errors import InputError
from kmslaunch.world.clock import iso
from kmslaunch.world.ec2 import EbsSpec, Image

from ..base import ApiError, Ctx, Handler, required
from .common import api_error, arn, ec2_of, filters, launched, matches, select
from .volumes import visible_snapshots


def register_image(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    name = str(required(ctx, params, "Name"))
    ctx.authorize("ec2:RegisterImage", arn(ctx, "image/*", account=False))
    try:
        specs = parse_block_devices(params.get("BlockDeviceMappings"), "RegisterImage", "BlockDeviceMappings")
    except InputError as exc:
        raise api_error(exc) from exc
    ec2 = ec2_of(ctx)
    taken = next((i for i in ec2.images.values() if i.name == name), None)
    if taken is not None:
        raise ApiError("InvalidAMIName.Duplicate", f"AMI name {name} is already in use by AMI {taken.image_id}")
    visible = visible_snapshots(ctx)
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
    ctx.authorize("ec2:CopyImage", arn(ctx, "image/*", account=False))
    image = launched(ctx, "CopyImage", copy_image, params, "Images")
    return {"ImageId": image["ImageId"]}


def _image_not_found(missing: list[str]) -> ApiError:
    return ApiError("InvalidAMIID.NotFound", f"The image id '[{', '.join(missing)}]' does not exist")


def describe_images(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    ctx.authorize("ec2:DescribeImages", "*")
    visible: dict[str, Image] = {}
    for acct in ctx.world.accounts.values():
        region = acct.regions.get(ctx.region)
        for image in region.ec2.images.values() if region else ():
            if image.owner == ctx.account or image.public or ctx.account in image.launch_permissions:
                visible[image.image_id] = image
    chosen = select(params, "ImageIds", visible, _image_not_found)
    owners = {ctx.account if o == "self" else str(o) for o in params.get("Owners") or []}
    wanted = filters(params)
    out = []
    for image in chosen:
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
        if matches(values, wanted):
            out.append(image_json(image))
    return {"Images": out}


HANDLERS: dict[str, Handler] = {
    "RegisterImage": register_image,
    "CopyImage": copy_image_handler,
    "DescribeImages": describe_images,
}
