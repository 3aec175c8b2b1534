"""A snapshot directory of AWS CLI outputs, read into a ``World``.

Each file is exactly what one ``aws … --output json`` command prints (pages merged); the layout is in
``kmslaunch.snapshot.layout``. A missing file is not an error: what it would have told is marked unknown (the
world's ``known`` flags, and a sentence in ``Snapshot.unknown``). A file that is there and cannot be read is an
error; the loader reads every file before it raises, and reports every problem with its file and JSON path.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kmslaunch.snapshot import layout as L
from kmslaunch.snapshot.errors import Problem, SnapshotError
from kmslaunch.snapshot.jsonio import Node, decode
from kmslaunch.snapshot.load_ec2 import Ec2Loader
from kmslaunch.snapshot.load_iam import IamLoader
from kmslaunch.snapshot.load_kms import KmsLoader
from kmslaunch.snapshot.load_org import OrgLoader
from kmslaunch.world.clock import Clock, Ids
from kmslaunch.world.ec2 import Image
from kmslaunch.world.ec2 import Snapshot as EbsSnapshot
from kmslaunch.world.world import Account, World


@dataclass(frozen=True)
class Snapshot:
    """A loaded snapshot: the world, ``snapshot.json``'s contents, and what was missing that matters.

    ``raw`` keeps what the world model has no field for (an Auto Scaling group's MixedInstancesPolicy, the
    policy types enabled at the organization's root), keyed by what it belongs to.
    """

    world: World
    meta: dict[str, Any]
    unknown: tuple[str, ...]
    path: Path
    raw: dict[str, Any] = field(default_factory=dict)


def load_snapshot(path: Path, *, clock: Clock | None = None, ids: Ids | None = None) -> Snapshot:
    """Read the snapshot directory ``path`` into a World; ``SnapshotError`` lists every broken file and element."""
    root = Path(path)
    if not root.is_dir():
        raise SnapshotError([Problem(str(root), "", "not a snapshot directory (it does not exist or is a file)")])
    loader = _Loader(root)
    # Ids made while simulating on this world must not repeat the snapshot's own (a new instance or key with
    # the id of an existing one would replace it): seed the generator from the snapshot's contents.
    world = World(clock=clock or Clock(), ids=ids or Ids(seed=_seed(root)))
    world.partial = True
    meta = loader.meta(world)
    entries = sorted(root.iterdir())
    accounts = [e for e in entries if e.is_dir() and L.ACCOUNT_RE.match(e.name)]
    if not accounts and not (root / L.ORG_DIR).is_dir() and not (root / L.META).is_file():
        raise SnapshotError([Problem(str(root), "", "not a snapshot: no account directories (12-digit names)")])
    for acct_dir in accounts:
        loader.account(world, acct_dir)
    loader.fill_regions(world)
    loader.place_shared(world)
    loader.organization(world, meta)
    _launched_by(world)
    if loader.problems:
        raise SnapshotError(loader.problems)
    return Snapshot(world, meta, tuple(loader.unknown), root, loader.raw)


class _Loader(IamLoader, KmsLoader, Ec2Loader, OrgLoader):
    def meta(self, world: World) -> dict[str, Any]:
        node = self.read(L.META)
        if node is None:
            return {}
        fmt = node["format"].text()
        if fmt is not None and fmt != L.FORMAT:
            node["format"].problem(f"{fmt!r} is not a format this version reads (expected {L.FORMAT!r})")
        partition = node["partition"].choice(L.PARTITIONS)
        if partition:
            world.partition = partition
        node["collected_at"].time()
        for err in node["errors"].objects("a collection error"):
            code = err["code"].text() or ""
            if code == L.NOT_IN_ORG:
                continue  # a fact, not a gap: the organization is known to be absent
            where = err["file"].text() or err["command"].text() or "?"
            message = err["message"].text() or ""
            self.unknown.append(f"collection failed: {where}: {code}{': ' if code and message else ''}{message}")
        return dict(node.value)

    # -- accounts ---------------------------------------------------------------------------------------------

    def account(self, world: World, acct_dir: Path) -> None:
        account_id = acct_dir.name
        acct = world.account(account_id)
        who = f"account {account_id}"
        node = self.read(f"{account_id}/{L.IAM_DETAILS}", who, L.IAM_DETAILS, "IAM policies are unknown")
        if node is None:
            acct.iam.known = False
        else:
            self.iam(node, acct)
        for region_dir in sorted(acct_dir.iterdir()):
            if region_dir.is_dir() and L.REGION_RE.match(region_dir.name):
                self.region(world, acct, region_dir.name)

    def fill_regions(self, world: World) -> None:
        """A region collected for some accounts and not for another is unknown there, not empty."""
        seen = sorted({r for a in world.accounts.values() for r in a.regions})
        for acct in world.accounts.values():
            for name in seen:
                if name not in acct.regions:
                    region = acct.region(name)
                    region.kms.known = False
                    region.ec2.defaults.known = region.ec2.defaults.by_default_known = False
                    region.trail.known = False
                    self.unknown.append(
                        f"account {acct.account_id}: region {name} was not collected: its KMS keys, EC2 resources "
                        "and EBS defaults are unknown"
                    )

    # -- IAM --------------------------------------------------------------------------------------------------

    def region(self, world: World, acct: Account, name: str) -> None:
        region = acct.region(name)
        base = f"{acct.account_id}/{name}"
        who = f"account {acct.account_id}, {name}"
        self.kms(world, acct.account_id, region, base, who)
        self.ec2(world, acct.account_id, region, base, who)
        self.autoscaling(world, acct.account_id, region, base, who)
        events = self.read(f"{base}/{L.TRAIL_EVENTS}", who, L.TRAIL_EVENTS, "CloudTrail events are unknown")
        if events is None:
            region.trail.known = False
        else:
            region.trail.events = self.trail(events)

    # -- KMS --------------------------------------------------------------------------------------------------

    def trail(self, node: Node) -> list[dict[str, Any]]:
        events = []
        for e in node["Events"].objects("an event"):
            text = e["CloudTrailEvent"].text(required=True, what="the CloudTrail record as a JSON string")
            if text is None:
                continue
            record, where, message = decode(text)
            if message is not None:
                e["CloudTrailEvent"].problem(f"{where}: {message}" if where else message)
                continue
            if not isinstance(record, dict):
                e["CloudTrailEvent"].problem(f"expected a JSON object, got {type(record).__name__}")
                continue
            events.append(record)
        # lookup-events lists the newest first; Trail.events is oldest first.
        events.reverse()
        return events

    # -- images and snapshots other accounts share ------------------------------------------------------------

    def place_shared(self, world: World) -> None:
        """Images and snapshots of other accounts that an account's describe-* listed.

        ``describe-images`` lists only images the account may launch (its own, public ones, and ones shared with
        it), so an image of another account in this file is taken as launchable by the listing account; likewise
        ``describe-snapshots`` for snapshots it may restore. The full list of accounts an image or snapshot is
        shared with (describe-image-attribute, describe-snapshot-attribute) is not collected: accounts outside the
        snapshot are unknown. An item whose owner is in the snapshot gets the permission on the owner's copy; an
        item of an account outside it is kept once, by the first account that listed it.
        """
        kept_images: dict[tuple[str, str], Image] = {}
        for listing, region, image in self.shared_images:
            owner = world.accounts.get(image.owner)
            held = kept_images.get((region, image.image_id))
            if held is None and owner is not None and region in owner.regions:
                held = owner.regions[region].ec2.images.get(image.image_id)
            if held is None:
                held = kept_images[(region, image.image_id)] = image
                world.accounts[listing].regions[region].ec2.images[image.image_id] = image
            if listing not in held.launch_permissions and not held.public:
                held.launch_permissions.append(listing)
        kept_snaps: dict[tuple[str, str], EbsSnapshot] = {}
        for listing, region, snap in self.shared_snapshots:
            owner = world.accounts.get(snap.owner)
            held_snap = kept_snaps.get((region, snap.snapshot_id))
            if held_snap is None and owner is not None and region in owner.regions:
                held_snap = owner.regions[region].ec2.snapshots.get(snap.snapshot_id)
            if held_snap is None:
                held_snap = kept_snaps[(region, snap.snapshot_id)] = snap
                world.accounts[listing].regions[region].ec2.snapshots[snap.snapshot_id] = snap
            if listing not in held_snap.create_volume_permissions:
                held_snap.create_volume_permissions.append(listing)

    # -- Organizations ----------------------------------------------------------------------------------------


def _seed(root: Path) -> str:
    digest = hashlib.sha256(str(root.resolve()).encode())
    for p in sorted(root.rglob("*.json"))[:2000]:
        digest.update(str(p.relative_to(root)).encode())
        digest.update(str(p.stat().st_size).encode())
    return "snapshot:" + digest.hexdigest()


def _launched_by(world: World) -> None:
    """Who launched each instance, from the RunInstances records of the account's trail (describe-instances
    does not say)."""
    for acct in world.accounts.values():
        for region in acct.regions.values():
            if not region.ec2.instances:
                continue
            for record in region.trail.events:
                if record.get("eventName") != "RunInstances" or record.get("errorCode"):
                    continue
                who, resp = record.get("userIdentity"), record.get("responseElements")
                arn = who.get("arn") if isinstance(who, dict) else None
                items = resp.get("instancesSet", {}) if isinstance(resp, dict) else None
                items = items.get("items") if isinstance(items, dict) else None
                if not isinstance(arn, str) or not isinstance(items, list):
                    continue
                for item in items:
                    iid = item.get("instanceId") if isinstance(item, dict) else None
                    inst = region.ec2.instances.get(iid) if isinstance(iid, str) else None
                    if inst is not None and not inst.launched_by:
                        inst.launched_by = arn
