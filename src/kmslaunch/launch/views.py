"""What the AWS CLI shows after a launch: ``describe-instances``, ``describe-volumes``, scaling activities."""

from __future__ import annotations

from typing import Any

from kmslaunch.world.ec2 import Ec2, Instance, Volume


def instance_json(inst: Instance, ec2: Ec2) -> dict[str, Any]:
    """One element of ``Reservations[].Instances[]``."""
    bdms = []
    for device, vol_id in inst.block_devices:
        vol = ec2.volumes.get(vol_id)
        att = next((a for a in vol.attachments if a.instance_id == inst.instance_id), None) if vol else None
        bdms.append(
            {
                "DeviceName": device,
                "Ebs": {
                    "AttachTime": att.attach_time if att else inst.launch_time,
                    "DeleteOnTermination": att.delete_on_termination if att else True,
                    "Status": att.state if att else "attached",
                    "VolumeId": vol_id,
                },
            }
        )
    out: dict[str, Any] = {
        "InstanceId": inst.instance_id,
        "ImageId": inst.image_id,
        "InstanceType": inst.instance_type,
        "LaunchTime": inst.launch_time,
        "Placement": {"AvailabilityZone": inst.availability_zone, "Tenancy": "default"},
        "State": {"Code": inst.state.code, "Name": inst.state.label},
        "StateTransitionReason": inst.state_transition_reason,
        "BlockDeviceMappings": bdms,
        "RootDeviceName": inst.root_device_name,
        "RootDeviceType": "ebs",
    }
    if inst.state_reason:
        out["StateReason"] = dict(inst.state_reason)
    if inst.tags:
        out["Tags"] = [{"Key": k, "Value": v} for k, v in inst.tags.items()]
    return out


def describe_instances(ec2: Ec2, owner: str, instance_ids: list[str], reservation_id: str) -> dict[str, Any]:
    instances = [instance_json(ec2.instances[i], ec2) for i in instance_ids if i in ec2.instances]
    return {
        "Reservations": [{"ReservationId": reservation_id, "OwnerId": owner, "Groups": [], "Instances": instances}]
        if instances
        else []
    }


def volume_json(v: Volume) -> dict[str, Any]:
    out: dict[str, Any] = {
        "VolumeId": v.volume_id,
        "Size": v.size,
        "VolumeType": v.volume_type,
        "AvailabilityZone": v.availability_zone,
        "State": v.state,
        "CreateTime": v.create_time,
        "Encrypted": v.encrypted,
        "Attachments": [
            {
                "VolumeId": v.volume_id,
                "InstanceId": a.instance_id,
                "Device": a.device,
                "State": a.state,
                "AttachTime": a.attach_time,
                "DeleteOnTermination": a.delete_on_termination,
            }
            for a in v.attachments
        ],
    }
    if v.kms_key_id:
        out["KmsKeyId"] = v.kms_key_id
    if v.snapshot_id:
        out["SnapshotId"] = v.snapshot_id
    return out
