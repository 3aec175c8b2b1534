"""Worlds and launches from the compact YAML of tests/cases/launch/*.yaml.

References inside values: ``key:<name>`` the key's ARN, ``keyid:<name>`` its id, ``aliasarn:<name>`` its alias
ARN, ``image:<name>`` an AMI id, ``user:<name>`` a user ARN (in the default account), ``template:<name>`` a
launch template id, ``snapshot:<name>`` an image's root snapshot id (or a snapshot of ``snapshots``),
``instance:<name>`` an instance id, ``volume:<name>`` a volume id, ``policy:<name>`` a customer managed policy
ARN, ``role:<name>`` a role ARN and ``session:<name>`` one of its sessions.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from kmslaunch.launch.params import parse_block_devices
from kmslaunch.launch.request import LaunchRequest
from kmslaunch.launch.result import LaunchKind
from kmslaunch.policy.grants import parse_grant
from kmslaunch.policy.model import PolicyType
from kmslaunch.policy.parse import parse_policy
from kmslaunch.world import builder as b
from kmslaunch.world.autoscaling import LaunchConfiguration
from kmslaunch.world.ec2 import Attachment, Image, Instance, Snapshot, Volume
from kmslaunch.world.instances import InstanceState
from kmslaunch.world.kms import KeyManager, KeyState, key_document
from kmslaunch.world.world import World

ACCOUNT = "111122223333"
REGION = "us-east-1"


class Refs:
    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    def sub(self, value: Any) -> Any:
        if isinstance(value, str):
            if value in self.values:
                return self.values[value]
            for ref, real in self.values.items():
                if ref in value and (ref.startswith("key:") or ref.startswith("keyid:")):
                    value = value.replace(ref, real)
            return value
        if isinstance(value, list):
            return [self.sub(v) for v in value]
        if isinstance(value, dict):
            return {k: self.sub(v) for k, v in value.items()}
        return value


def build(spec: dict[str, Any]) -> tuple[World, Refs]:
    w = World()
    refs = Refs()
    b.aws_managed_policy(w, ACCOUNT, b.EC2_FULL_ACCESS_ARN, b.EC2_FULL_ACCESS)
    for name, k in (spec.get("keys") or {}).items():
        k = k or {}  # noqa: PLW2901 - an empty YAML mapping reads as None
        acct = str(k.get("account", ACCOUNT))
        region = k.get("region", REGION)
        policy = k.get("policy")
        key = b.add_key(w, acct, region, alias=name, state=KeyState(k.get("state", "Enabled")))
        refs.values.update(
            {
                f"key:{name}": key.arn,
                f"keyid:{name}": key.key_id,
                f"aliasarn:{name}": f"arn:aws:kms:{region}:{acct}:alias/{name}",
            }
        )
        if policy is not None:
            key.policy = key_document(refs.sub(policy), key.arn)
        if k.get("manager") == "AWS":
            key.manager = KeyManager.AWS
    for arn, doc in (spec.get("aws_policies") or {}).items():
        # An AWS managed policy (its ARN in the aws namespace), with the document given.
        b.aws_managed_policy(w, ACCOUNT, arn, refs.sub(doc))
    for name, doc in (spec.get("policies") or {}).items():
        # A customer managed policy of the default account: ``policy:<name>`` is its ARN.
        refs.values[f"policy:{name}"] = b.add_customer_policy(w, ACCOUNT, name, refs.sub(doc)).arn
    for name, u in (spec.get("users") or {}).items():
        u = u or {}  # noqa: PLW2901 - an empty YAML mapping reads as None
        managed = [b.EC2_FULL_ACCESS_ARN if m == "AmazonEC2FullAccess" else refs.sub(m) for m in u.get("managed", [])]
        user = b.add_user(
            w,
            str(u.get("account", ACCOUNT)),
            name,
            managed=managed,
            inline=refs.sub(u.get("inline")),
            boundary=refs.sub(u.get("boundary")),
        )
        refs.values[f"user:{name}"] = user.arn
    for name, r in (spec.get("roles") or {}).items():
        # A role; ``role:<name>`` is its ARN, ``session:<name>`` the ARN of one of its sessions (a caller).
        r = r or {}  # noqa: PLW2901 - an empty YAML mapping reads as None
        acct = str(r.get("account", ACCOUNT))
        managed = [b.EC2_FULL_ACCESS_ARN if m == "AmazonEC2FullAccess" else refs.sub(m) for m in r.get("managed", [])]
        role = b.add_role(w, acct, name, inline=refs.sub(r.get("inline")), managed=managed)
        role.boundary_arn = refs.sub(r.get("boundary"))
        refs.values[f"role:{name}"] = role.arn
        refs.values[f"session:{name}"] = f"arn:aws:sts::{acct}:assumed-role/{name}/{name}-session"
    for name, im in (spec.get("images") or {}).items():
        im = im or {}  # noqa: PLW2901 - an empty YAML mapping reads as None
        key = None
        if im.get("encrypted_with"):
            key = w.key_by_arn(refs.values[f"key:{im['encrypted_with']}"])
        image = b.add_image(
            w,
            str(im.get("account", ACCOUNT)),
            im.get("region", REGION),
            name=name,
            encrypted_with=key,
            shared_with=im.get("shared_with"),
        )
        refs.values[f"image:{name}"] = image.image_id
        refs.values[f"snapshot:{name}"] = image.block_devices[0].snapshot_id or ""
        _as_described(w, image, im, refs)
    for name, t in (spec.get("templates") or {}).items():
        lt = b.add_launch_template(w, ACCOUNT, REGION, name, refs.sub(t))
        refs.values[f"template:{name}"] = lt.template_id
    for name, g in (spec.get("groups") or {}).items():
        g = g or {}  # noqa: PLW2901 - an empty YAML mapping reads as None
        lt = None
        lc = None
        if g.get("template"):
            lt = w.account(ACCOUNT).region(REGION).ec2.launch_templates[refs.values[f"template:{g['template']}"]]
        if g.get("launch_configuration"):
            c = refs.sub(g["launch_configuration"])
            lc = LaunchConfiguration(
                c["name"],
                f"arn:aws:autoscaling:{REGION}:{ACCOUNT}:launchConfiguration:x:launchConfigurationName/{c['name']}",
                c["ImageId"],
                c.get("InstanceType", "t3.micro"),
                parse_block_devices(c.get("BlockDeviceMappings"), "case", "BlockDeviceMappings"),
                spot_price=c.get("SpotPrice"),
            )
        group = b.add_auto_scaling_group(
            w, ACCOUNT, REGION, name, launch_template=lt, launch_configuration=lc, slr_suffix=g.get("slr_suffix")
        )
        group.tags.update(g.get("tags") or {})
    for raw_grant in spec.get("grants") or []:
        g = refs.sub(raw_grant)
        key = w.key_by_arn(g.pop("Key"))
        assert key is not None
        grant, issues = parse_grant(g, "grant")
        assert grant is not None, issues
        key.grants.append(grant)
    defaults = spec.get("ebs_defaults")
    if defaults:
        d = w.account(ACCOUNT).region(REGION).ec2.defaults
        d.encryption_by_default = bool(defaults.get("encryption_by_default", False))
        if defaults.get("default_kms_key_id"):
            d.default_kms_key_id = refs.sub(defaults["default_kms_key_id"])
    for name, inst in (spec.get("stopped_instances") or {}).items():
        # A stopped instance whose root volume is encrypted with a key: made by a successful launch, then a stop.
        ec2 = w.account(ACCOUNT).region(REGION).ec2
        vol = Volume(w.ids.ec2("vol"), 8, "gp3", f"{REGION}a", True, refs.values[f"key:{inst['key']}"], state="in-use")
        vol.attachments.append(Attachment("", "/dev/xvda"))
        i = Instance(w.ids.ec2("i"), "ami-0", "t3.micro", inst.get("by", ""), "2026-01-01T00:00:00Z", f"{REGION}a")
        i.state = InstanceState.STOPPED
        vol.attachments[0].instance_id = i.instance_id
        i.block_devices.append(("/dev/xvda", vol.volume_id))
        ec2.volumes[vol.volume_id] = vol
        ec2.instances[i.instance_id] = i
        refs.values[f"instance:{name}"] = i.instance_id
    for name, sn in (spec.get("snapshots") or {}).items():
        # An EBS snapshot on its own, encrypted with a key when ``encrypted_with`` names one.
        sn = sn or {}  # noqa: PLW2901 - an empty YAML mapping reads as None
        key_arn = refs.values[f"key:{sn['encrypted_with']}"] if sn.get("encrypted_with") else None
        snap = Snapshot(
            w.ids.ec2("snap"),
            str(sn.get("account", ACCOUNT)),
            sn.get("size", 8),
            key_arn is not None,
            key_arn,
            create_volume_permissions=list(sn.get("shared_with") or []),
        )
        w.account(snap.owner).region(sn.get("region", REGION)).ec2.snapshots[snap.snapshot_id] = snap
        refs.values[f"snapshot:{name}"] = snap.snapshot_id
    for name, inst in (spec.get("instances") or {}).items():
        # An instance in a given state (running unless said), with no volumes of note.
        inst = inst or {}  # noqa: PLW2901 - an empty YAML mapping reads as None
        i = Instance(w.ids.ec2("i"), "ami-0", "t3.micro", "", "2026-01-01T00:00:00Z", inst.get("az", f"{REGION}a"))
        i.state = InstanceState.from_label(inst.get("state", "running"))
        w.account(ACCOUNT).region(REGION).ec2.instances[i.instance_id] = i
        refs.values[f"instance:{name}"] = i.instance_id
    for name, v in (spec.get("volumes") or {}).items():
        # An EBS volume, encrypted with a key when ``key`` names one; ``attached_to`` an instance of ``instances``.
        v = v or {}  # noqa: PLW2901 - an empty YAML mapping reads as None
        key_arn = refs.values[f"key:{v['key']}"] if v.get("key") else None
        vol = Volume(w.ids.ec2("vol"), v.get("size", 8), "gp3", v.get("az", f"{REGION}a"), key_arn is not None, key_arn)
        vol.state = v.get("state", "available")
        if v.get("attached_to"):
            owner = w.account(ACCOUNT).region(REGION).ec2.instances[refs.values[f"instance:{v['attached_to']}"]]
            vol.state = "in-use"
            vol.attachments.append(Attachment(owner.instance_id, "/dev/sdf"))
            owner.block_devices.append(("/dev/sdf", vol.volume_id))
        w.account(ACCOUNT).region(REGION).ec2.volumes[vol.volume_id] = vol
        refs.values[f"volume:{name}"] = vol.volume_id
    return w, refs


def launch(spec: dict[str, Any], refs: Refs) -> LaunchRequest:
    """``form`` (create-fleet, request-spot-instances), ``session_policies`` (documents), ``dry_run`` (AttachVolume)
    as LaunchRequest has them; the rest by name."""
    s = refs.sub(spec)
    policies = tuple(
        parse_policy(doc, PolicyType.SESSION, f"session policy {i}")
        for i, doc in enumerate(s.get("session_policies") or [])
    )
    return LaunchRequest(
        kind=LaunchKind(s.get("kind", "RunInstances")),
        account=str(s.get("account", ACCOUNT)),
        region=s.get("region", REGION),
        params=s.get("params") or {},
        caller=s.get("caller"),
        source_ip=s.get("source_ip"),
        group=s.get("group"),
        instance_id=s.get("instance"),
        count=s.get("count", 1),
        volume_id=s.get("volume"),
        device=s.get("device"),
        form=s.get("form", "run-instances"),
        dry_run=bool(s.get("dry_run", False)),
        session_policies=policies,
    )


def _as_described(w: World, image: Image, im: dict[str, Any], refs: Refs) -> None:
    """An image as only ``describe-images`` shows it: ``public``; ``snapshot_listed: false`` (its snapshot is
    another account's and not in the snapshot data); ``encrypted: true`` (encrypted with a key not in the world);
    ``key_shown`` (the BDM's KmsKeyId: true for the key it is encrypted with, or a literal ARN);
    ``owner_collected: false`` (the owning account's IAM and KMS are not in the snapshot)."""
    image.public = bool(im.get("public", image.public))
    root = image.block_devices[0]
    shown = im.get("key_shown")
    kms_key_id = refs.sub(root.kms_key_id)
    if shown is True:
        kms_key_id = refs.values[f"key:{im['encrypted_with']}"]
    elif isinstance(shown, str):
        kms_key_id = shown
    encrypted = True if im.get("encrypted") else root.encrypted
    image.block_devices = (replace(root, encrypted=encrypted, kms_key_id=kms_key_id), *image.block_devices[1:])
    if im.get("snapshot_listed") is False:
        for acct in w.accounts.values():
            for region in acct.regions.values():
                region.ec2.snapshots.pop(root.snapshot_id or "", None)
    if im.get("owner_collected") is False:
        owner = w.accounts[image.owner]
        owner.iam.known = False
        for region in owner.regions.values():
            region.kms.known = False
