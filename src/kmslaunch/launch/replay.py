"""Replaying how an existing instance was launched, from what the account shows of it.

The caller, the source address and the parameters come from CloudTrail's RunInstances record of the instance
when the snapshot has one; otherwise the caller must be named (``--as``) and the parameters are the
instance's image and type.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from kmslaunch.policy.model import Policy, PolicyType
from kmslaunch.policy.parse import parse_policy
from kmslaunch.policy.requestfile import is_ip_address
from kmslaunch.world.iam import ManagedPolicy
from kmslaunch.world.world import World

from .errors import NotInWorld
from .request import LaunchRequest
from .result import LaunchKind


def run_instances_event(world: World, account: str, region: str, instance_id: str) -> dict[str, Any] | None:
    """CloudTrail's RunInstances record that created ``instance_id``, if the snapshot holds it."""
    trail = world.account(account).region(region).trail
    for ev in trail.events:
        if ev.get("eventName") != "RunInstances" or ev.get("errorCode"):
            continue
        items = ((ev.get("responseElements") or {}).get("instancesSet") or {}).get("items") or []
        if any(isinstance(i, dict) and i.get("instanceId") == instance_id for i in items):
            return ev
    return None


def assume_role_policies(world: World, account: str, session_arn: str) -> tuple[Policy, ...]:
    """The session policies AssumeRole gave the session ``session_arn``: ``requestParameters.policy`` (inline)
    and ``policyArns`` (managed policies of the account) of the latest AssumeRole record whose
    ``responseElements.assumedRoleUser.arn`` is that session
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/cloudtrail-integration.html). Empty when CloudTrail in the
    snapshot has no such record, or the record passed no policy."""
    acct = world.accounts.get(account)
    if acct is None:
        return ()
    for region in acct.regions.values():
        for ev in reversed(region.trail.events):
            if ev.get("eventName") != "AssumeRole" or ev.get("errorCode"):
                continue
            user = ((ev.get("responseElements") or {}).get("assumedRoleUser")) or {}
            if user.get("arn") != session_arn:
                continue
            return _session_policies(acct.iam.policies, ev.get("requestParameters") or {})
    return ()


def _session_policies(managed: Mapping[str, ManagedPolicy], params: Mapping[str, Any]) -> tuple[Policy, ...]:
    out: list[Policy] = []
    inline = params.get("policy")
    if isinstance(inline, str):
        try:
            inline = json.loads(inline)
        except json.JSONDecodeError:
            inline = None
    if isinstance(inline, dict):
        out.append(parse_policy(inline, PolicyType.SESSION, "AssumeRole session policy", source="CloudTrail"))
    for ref in params.get("policyArns") or []:
        arn = ref.get("arn") if isinstance(ref, dict) else None
        if isinstance(arn, str) and arn in managed:
            out.append(managed[arn].document.policy)
    return tuple(out)


def _bdms_from_event(req: dict[str, Any]) -> list[dict[str, Any]]:
    """CloudTrail's ``blockDeviceMapping.items`` back into run-instances' BlockDeviceMappings."""
    out = []
    for item in (req.get("blockDeviceMapping") or {}).get("items") or []:
        if not isinstance(item, dict) or ("ebs" not in item and "Ebs" not in item):
            continue
        ebs = item.get("ebs") or item.get("Ebs") or {}
        mapped = {
            "SnapshotId": ebs.get("snapshotId", ebs.get("SnapshotId")),
            "VolumeSize": ebs.get("volumeSize", ebs.get("VolumeSize")),
            "VolumeType": ebs.get("volumeType", ebs.get("VolumeType")),
            "Encrypted": ebs.get("encrypted", ebs.get("Encrypted")),
            "KmsKeyId": ebs.get("kmsKeyId", ebs.get("KmsKeyId")),
        }
        out.append(
            {
                "DeviceName": item.get("deviceName", item.get("DeviceName")),
                "Ebs": {k: v for k, v in mapped.items() if v is not None},
            }
        )
    return out


_VOLUME_ID = re.compile(r"\bvol-[0-9a-f]{8,17}\b")
_INSTANCE_ID = re.compile(r"\bi-[0-9a-f]{8,17}\b")
# A launch's KMS calls are made while the instance is pending, right after RunInstances; AWS documents no bound.
# A record naming no instance is this launch's only inside this window (assumption replayed-launch-trail-window;
# https://docs.aws.amazon.com/kms/latest/developerguide/ct-ec2two.html).
LAUNCH_WINDOW = timedelta(minutes=5)


def event_time(text: object) -> datetime | None:
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None


def in_launch_window(ev: dict[str, Any], started: datetime | None) -> bool:
    """The record was made from 1 second before to ``LAUNCH_WINDOW`` after a RunInstances at ``started``."""
    at = event_time(ev.get("eventTime"))
    return started is not None and at is not None and started - timedelta(seconds=1) <= at <= started + LAUNCH_WINDOW


def instance_volume_ids(world: World, account: str, region: str, instance_id: str) -> list[str]:
    """The volume ids ``instance_id`` had, in device order when describe-instances lists them, then in the order
    CloudTrail's KMS records of its launch name them (``aws:ebs:id``): the records naming the instance (EC2's
    grant for it, its Decrypt), and those naming no instance made in the launch's window (GenerateDataKey*
    names only the volume). A launch that failed leaves no volume behind, only those records."""
    r = world.account(account).region(region)
    inst = r.ec2.instances.get(instance_id)
    out = [vol for _, vol in inst.block_devices] if inst is not None else []
    run = run_instances_event(world, account, region, instance_id)
    started = event_time(run.get("eventTime")) if run else None
    for ev in r.trail.events:
        if ev.get("eventSource") != "kms.amazonaws.com":
            continue
        text = json.dumps(ev)
        instances = set(_INSTANCE_ID.findall(text))
        if instance_id not in instances and (instances or not in_launch_window(ev, started)):
            continue
        for vol in _VOLUME_ID.findall(text):
            if vol not in out:
                out.append(vol)
    return out


def replay_instance(
    world: World, account: str, region: str, instance_id: str, caller: str | None, source_ip: str | None
) -> LaunchRequest:
    """A LaunchRequest that launches ``instance_id`` again as it was launched, under its own id and its volumes'
    ids, so that what the replay reports is that instance."""
    req = _replay(world, account, region, instance_id, caller, source_ip)
    reuse: list[tuple[str, tuple[str, ...]]] = [("i", (instance_id,))]
    volumes = instance_volume_ids(world, account, region, instance_id)
    if volumes:
        reuse.append(("vol", tuple(volumes)))
    return dataclasses.replace(req, reuse_ids=tuple(reuse))


def _replay(
    world: World, account: str, region: str, instance_id: str, caller: str | None, source_ip: str | None
) -> LaunchRequest:
    inst = world.account(account).region(region).ec2.instances.get(instance_id)
    ev = run_instances_event(world, account, region, instance_id)
    if inst is None and ev is None:
        raise NotInWorld(
            f"instance {instance_id} is neither in describe-instances nor in CloudTrail of {account} {region}"
        )
    params: dict[str, Any] = {"MinCount": 1, "MaxCount": 1}
    kind = LaunchKind.RUN_INSTANCES
    if ev is not None:
        req = ev.get("requestParameters") or {}
        items = (req.get("instancesSet") or {}).get("items") or [{}]
        if items and isinstance(items[0], dict) and items[0].get("imageId"):
            params["ImageId"] = items[0]["imageId"]
        if req.get("instanceType"):
            params["InstanceType"] = req["instanceType"]
        if req.get("launchTemplate"):
            lt = req["launchTemplate"]
            params["LaunchTemplate"] = {
                k: str(v)
                for k, v in {
                    "LaunchTemplateId": lt.get("launchTemplateId", lt.get("LaunchTemplateId")),
                    "LaunchTemplateName": lt.get("launchTemplateName", lt.get("LaunchTemplateName")),
                    "Version": lt.get("version", lt.get("Version")),
                }.items()
                if v
            }
        bdms = _bdms_from_event(req)
        if bdms:
            params["BlockDeviceMappings"] = bdms
        ident = ev.get("userIdentity") or {}
        caller = caller or ident.get("arn")
        ip = ev.get("sourceIPAddress")
        if source_ip is None and isinstance(ip, str) and is_ip_address(ip):
            source_ip = ip
        invoked = str(ident.get("invokedBy") or "")
        if invoked.startswith("autoscaling"):
            kind = LaunchKind.AUTO_SCALING
    if inst is not None:
        params.setdefault("ImageId", inst.image_id)
        params.setdefault("InstanceType", inst.instance_type)
        if inst.launch_template and "LaunchTemplate" not in params:
            params["LaunchTemplate"] = dict(inst.launch_template)
        caller = caller or (inst.launched_by or None)
    if kind is LaunchKind.AUTO_SCALING:
        group = next(
            (
                g.name
                for g in world.account(account).region(region).autoscaling.groups.values()
                if instance_id in g.instances
            ),
            None,
        )
        if group:
            return LaunchRequest(kind, account, region, group=group, source=f"instance {instance_id}")
        kind = LaunchKind.RUN_INSTANCES
    if not caller:
        raise NotInWorld(
            f"who launched {instance_id} is not in the snapshot (no RunInstances record in CloudTrail): "
            "name the caller with --as"
        )
    session = assume_role_policies(world, caller.split(":")[4] if caller.count(":") >= 5 else account, caller)
    return LaunchRequest(
        kind, account, region, params, caller, source_ip, source=f"instance {instance_id}", session_policies=session
    )
