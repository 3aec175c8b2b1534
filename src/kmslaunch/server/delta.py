"""What a request changed, as rows: the snapshot's files (or single entities of them) that the entities it reached
(``tracking.py``) appear in, serialized again with save.py's own functions.

Three granularities, each chosen so that it gives exactly the rows a whole ``snapshot_files`` pass would:

- one row per entity where the entity's row depends on nothing else: a volume, an IAM user, group, role or
  managed policy; an instance (its row also shows its volumes and its launch template: an instance is
  re-serialized when one of those was reached);
- whole files, for the rest of a reached entity dict: a key's three files, the aliases, the launch templates,
  Auto Scaling; images and snapshots of every account of the region (an image shared with another account is
  listed in that account's file too);
- whole files every time for what is small and has no dict: the snapshot's meta, the organization, each
  region's EBS defaults and VPC endpoints. A region or account that is new, or a dict replaced, is whole.

``KMSLAUNCH_STORE_VERIFY=1`` makes every commit compare these rows with a whole pass (the tests run so).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kmslaunch.snapshot import layout as L
from kmslaunch.snapshot.errors import Problem, SnapshotError
from kmslaunch.snapshot.save import (
    Files,
    autoscaling_files,
    ec2_settings,
    ec2_shared,
    ec2_templates,
    group_detail,
    iam_details,
    key_files,
    kms_aliases,
    meta_json,
    organization_files,
    policy_detail,
    region_files,
    reservation_json,
    role_detail,
    uncollected,
    user_detail,
    volume_json,
)
from kmslaunch.world.iam import Iam
from kmslaunch.world.world import Account, Region, World

from .rows import RowKey, encode
from .tracking import REGION_DICTS, Tracked, Tracker

META = {"source": "kmslaunch serve"}


@dataclass
class Delta:
    """``files``: whole files, every row of each replaced; ``gone``: path prefixes whose files not in ``files`` are
    removed; ``items``: single entity rows, with their new JSON or None when the entity is gone."""

    files: Files = field(default_factory=dict)
    gone: list[str] = field(default_factory=list)
    items: dict[RowKey, str | None] = field(default_factory=dict)
    accounts: list[str] = field(default_factory=list)  # accounts present (each keeps a head row)


def delta(world: World, tracker: Tracker) -> Delta:
    """The rows to write for what the request reached; SnapshotError for a world the snapshot cannot hold."""
    d = Delta()
    problems: list[Problem] = []
    d.files[(L.META,)] = meta_json(world, META)
    organization_files(world, d.files, problems, "")
    d.gone.append(f"{L.ORG_DIR}/")
    for acct in list(dict.values(world.accounts)):
        a = acct.account_id
        if not L.ACCOUNT_RE.match(a):
            problems.append(Problem("", "", f"account id {a!r} is not 12 digits"))
            continue
        d.accounts.append(a)
        if a not in tracker.iams:
            _whole_account(world, acct, d, problems)
            tracker.wrap_account(acct)
            continue
        _iam(acct, tracker.iams[a], d)
        for region in list(dict.values(acct.regions)):
            dicts = tracker.regions.get((a, region.name))
            replaced = dicts is None or any(getattr(getattr(region, p), n) is not dicts[(p, n)] for p, n in dicts)
            if replaced or uncollected(region):
                d.gone.append(f"{a}/{region.name}/")
                region_files(world, a, region, d.files, problems, "", trail=False)
                tracker.wrap_region(a, region)
            else:
                _region(world, acct, region, dicts or {}, d, problems)
    if problems:
        raise SnapshotError(problems)
    return d


def _whole_account(world: World, acct: Account, d: Delta, problems: list[Problem]) -> None:
    a = acct.account_id
    d.gone.append(f"{a}/")
    if acct.iam.known:
        d.files[(a, *L.IAM_DETAILS.split("/"))] = iam_details(acct.iam)
    for region in list(dict.values(acct.regions)):
        region_files(world, a, region, d.files, problems, "", trail=False)


_IAM_LISTS: dict[str, tuple[str, Callable[[Iam, Any], dict[str, Any]] | None]] = {
    "users": ("UserDetailList", user_detail),
    "groups": ("GroupDetailList", group_detail),
    "roles": ("RoleDetailList", role_detail),
    "policies": ("Policies", None),
}


def _iam(acct: Account, dicts: dict[str, Tracked], d: Delta) -> None:
    iam = acct.iam
    path = f"{acct.account_id}/{L.IAM_DETAILS}"
    if not iam.known:
        return
    if any(
        d_.everything or getattr(iam, n) is not d_ or not all(isinstance(k, str) and k for k in d_.seen)
        for n, d_ in dicts.items()
    ):
        d.files[tuple(path.split("/"))] = iam_details(iam)
        return
    for name, tracked in dicts.items():
        list_name, detail = _IAM_LISTS[name]
        for key in tracked.seen:
            entity = dict.get(tracked, key)
            if entity is None:
                d.items[(path, list_name, key)] = None
            elif detail is None:
                d.items[(path, list_name, key)] = encode(policy_detail(entity))
            else:
                d.items[(path, list_name, key)] = encode(detail(iam, entity))


def _region(
    world: World,
    acct: Account,
    region: Region,
    dicts: dict[tuple[str, str], Tracked],
    d: Delta,
    problems: list[Problem],
) -> None:
    a, r = acct.account_id, region.name
    base = (a, r)
    if not L.REGION_RE.match(r):
        problems.append(Problem("", "", f"region {r!r} of account {a} is not a region name"))
        return
    keys, aliases = dicts[("kms", "keys")], dicts[("kms", "aliases")]
    if region.kms.known:
        folder = f"{a}/{r}/{L.KMS_KEYS}"
        reached = list(dict.keys(keys)) if keys.everything else list(keys.seen)
        if keys.everything:
            d.gone.append(f"{folder}/")
        for key_id in reached:
            if not isinstance(key_id, str) or not L.SAFE_NAME_RE.match(key_id):
                problems.append(Problem("", "", f"key id {key_id!r} cannot name a file in a snapshot"))
                continue
            d.gone.append(f"{folder}/{key_id}/")
            key = dict.get(keys, key_id)
            if key is not None:
                key_files(key, (*base, *L.KMS_KEYS.split("/"), key_id), d.files)
        if aliases.seen or aliases.everything:
            kms_aliases(world, region.kms, base, d.files)
    ec2 = region.ec2
    if any(dicts[("ec2", n)].seen or dicts[("ec2", n)].everything for n in ("images", "snapshots")):
        for other in list(dict.values(world.accounts)):
            there = dict.get(other.regions, r)
            if there is not None and not uncollected(there) and L.ACCOUNT_RE.match(other.account_id):
                ec2_shared(world, other.account_id, there, (other.account_id, r), d.files)
    volumes, instances = dicts[("ec2", "volumes")], dicts[("ec2", "instances")]
    templates = dicts[("ec2", "launch_templates")]
    vpath, ipath = f"{a}/{r}/{L.EC2_VOLUMES}", f"{a}/{r}/{L.EC2_INSTANCES}"
    if volumes.everything:
        d.files[tuple(vpath.split("/"))] = {"Volumes": [volume_json(v) for _, v in sorted(dict.items(volumes))]}
    else:
        for vid in volumes.seen:
            vol = dict.get(volumes, vid)
            d.items[(vpath, "Volumes", vid)] = None if vol is None else encode(volume_json(vol))
    templated = templates.everything or bool(templates.seen)
    if instances.everything or volumes.everything:
        d.files[tuple(ipath.split("/"))] = {
            "Reservations": [reservation_json(a, ec2, i) for _, i in sorted(dict.items(instances))]
        }
    else:
        reached_ids = set(instances.seen)
        if volumes.seen or templated:
            for inst in list(dict.values(instances)):
                if (templated and inst.launch_template) or any(v in volumes.seen for _, v in inst.block_devices):
                    reached_ids.add(inst.instance_id)
        for iid in reached_ids:
            inst = dict.get(instances, iid)
            d.items[(ipath, "Reservations", iid)] = None if inst is None else encode(reservation_json(a, ec2, inst))
    if templated:
        d.gone.append(f"{a}/{r}/{L.EC2_TEMPLATE_VERSIONS}/")
        ec2_templates(ec2, base, d.files, problems, "")
    for rel in (L.EBS_BY_DEFAULT, L.EBS_DEFAULT_KEY, L.EC2_VPC_ENDPOINTS):
        d.gone.append(f"{a}/{r}/{rel}")
    ec2_settings(ec2, base, d.files)
    asg = [dicts[(p, n)] for p, n in REGION_DICTS if p == "autoscaling"]
    if any(t.seen or t.everything for t in asg):
        autoscaling_files(region.autoscaling, base, d.files)
