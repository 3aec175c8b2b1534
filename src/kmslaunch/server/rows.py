"""The world's snapshot files as rows, one per entity, and back.

A snapshot file that lists entities (``describe-volumes.json``'s ``Volumes``, the IAM details' users, roles,
groups and policies, a key's grants…) becomes one row per entity, keyed by ``(file path, list name, id)``, plus
one "head" row holding the rest of the file with each split list left empty. A row's id is the entity's id where
the snapshot lists entities sorted by it (volume id, user name, policy ARN…), so that adding one entity adds one
row and leaves the others as they are; where the order is the order things happened (a key's grants, scaling
activities) the id is the position. Reassembling sorts each list by id, which gives the file save.py wrote.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

RowKey = tuple[str, str, str]  # (file path, list name, entity id); ("path", "", "") is the file's head row
Ordinal = Callable[[dict[str, Any]], Any] | None  # the entity's id, or None: its position in the list

_HEAD = ("", "")


def _field(name: str) -> Ordinal:
    return lambda item: item.get(name)


def _reservation(item: dict[str, Any]) -> Any:
    instances = item.get("Instances")
    return instances[0].get("InstanceId") if isinstance(instances, list) and len(instances) == 1 else None


# File name -> list name -> how its entities are keyed (save.py sorts these lists by the same ids).
SPLIT: dict[str, dict[str, Ordinal]] = {
    "get-account-authorization-details.json": {
        "UserDetailList": _field("UserName"),
        "GroupDetailList": _field("GroupName"),
        "RoleDetailList": _field("RoleName"),
        "Policies": _field("Arn"),
    },
    "list-aliases.json": {"Aliases": _field("AliasName")},
    "list-grants.json": {"Grants": None},
    "describe-images.json": {"Images": _field("ImageId")},
    "describe-snapshots.json": {"Snapshots": _field("SnapshotId")},
    "describe-volumes.json": {"Volumes": _field("VolumeId")},
    "describe-instances.json": {"Reservations": _reservation},
    "describe-launch-templates.json": {"LaunchTemplates": _field("LaunchTemplateId")},
    "describe-vpc-endpoints.json": {"VpcEndpoints": _field("VpcEndpointId")},
    "describe-auto-scaling-groups.json": {"AutoScalingGroups": _field("AutoScalingGroupName")},
    "describe-launch-configurations.json": {"LaunchConfigurations": _field("LaunchConfigurationName")},
    "describe-scaling-activities.json": {"Activities": None},
}


def encode(value: Any) -> str:
    """One row's JSON: compact, and ASCII so that any string the world holds can be stored."""
    return json.dumps(value, separators=(",", ":"), sort_keys=False)


def to_rows(files: Mapping[tuple[str, ...], Any]) -> dict[RowKey, str]:
    """The rows of a snapshot's files (``save.snapshot_files``), each as its JSON text."""
    out: dict[RowKey, str] = {}
    for parts, value in files.items():
        path = "/".join(parts)
        lists = SPLIT.get(parts[-1], {}) if isinstance(value, dict) else {}
        head = dict(value) if isinstance(value, dict) else value
        for name, ordinal in lists.items():
            items = value.get(name)
            if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
                continue
            ids = [f"{n:08d}" for n in range(len(items))] if ordinal is None else [ordinal(i) for i in items]
            # Only ids that are distinct strings in sorted order reassemble the list as it was: else it stays whole.
            if not all(isinstance(i, str) and i for i in ids) or len(set(ids)) != len(ids) or ids != sorted(ids):
                continue
            head[name] = []
            for entity_id, item in zip(ids, items, strict=True):
                out[(path, name, entity_id)] = encode(item)
        out[(path, *_HEAD)] = encode(head)
    return out


def from_rows(rows: Iterable[tuple[str, str, str, str]]) -> dict[str, Any]:
    """The files (by path) that rows of ``to_rows`` were made from."""
    heads: dict[str, Any] = {}
    items: dict[tuple[str, str], list[tuple[str, Any]]] = {}
    for path, name, entity_id, content in rows:
        if not name:
            heads[path] = json.loads(content)
        else:
            items.setdefault((path, name), []).append((entity_id, json.loads(content)))
    for (path, name), listed in items.items():
        head = heads.get(path)
        if isinstance(head, dict):
            head[name] = [item for _, item in sorted(listed, key=lambda pair: pair[0])]
    return heads


Write = tuple[str, str, str, str]  # (path, list, id, content)


class Committed:
    """The entity rows as last committed, by file path, with the paths under each folder: what a commit compares
    its rows with, so that it writes the rows that differ and deletes the rows of what is gone."""

    def __init__(self, rows: Iterable[tuple[str, str, str, str]] = ()) -> None:
        self.by_path: dict[str, dict[tuple[str, str], str]] = {}
        self.dirs: dict[str, set[str]] = {}
        for path, name, entity_id, content in rows:
            self._put(path, (name, entity_id), content)

    def rows(self) -> dict[RowKey, str]:
        return {(p, *k): v for p, rows in self.by_path.items() for k, v in rows.items()}

    def _put(self, path: str, key: tuple[str, str], content: str) -> None:
        rows = self.by_path.get(path)
        if rows is None:
            rows = self.by_path[path] = {}
            for folder in _folders(path):
                self.dirs.setdefault(folder, set()).add(path)
        rows[key] = content

    def _drop(self, path: str, key: tuple[str, str]) -> None:
        rows = self.by_path.get(path)
        if rows is None:
            return
        rows.pop(key, None)
        if not rows:
            del self.by_path[path]
            for folder in _folders(path):
                under = self.dirs.get(folder)
                if under is not None:
                    under.discard(path)
                    if not under:
                        del self.dirs[folder]

    def under(self, prefix: str) -> list[str]:
        """The paths of the files under a folder (``a/b/``), or the file itself (``a/b.json``)."""
        if prefix.endswith("/"):
            return sorted(self.dirs.get(prefix, ()))
        return [prefix] if prefix in self.by_path else []

    def apply(
        self,
        files: dict[str, dict[tuple[str, str], str]],
        gone: Iterable[str] = (),
        items: Mapping[RowKey, str | None] | None = None,
    ) -> tuple[list[Write], list[RowKey]]:
        """Take ``files`` (every row of each path), remove the other files under each of ``gone``, and take
        ``items`` (single rows; None removes one). Returns the rows to write and the rows to delete."""
        writes: list[Write] = []
        deletes: list[RowKey] = []
        for prefix in gone:
            for path in self.under(prefix):
                if path not in files:
                    for key in list(self.by_path.get(path, {})):
                        deletes.append((path, *key))
                        self._drop(path, key)
        for path, new in files.items():
            old = self.by_path.get(path, {})
            for key in [k for k in old if k not in new]:
                deletes.append((path, *key))
                self._drop(path, key)
            for key, content in new.items():
                if old.get(key) != content:
                    writes.append((path, *key, content))
                    self._put(path, key, content)
        for (path, name, entity_id), value in (items or {}).items():
            before = self.by_path.get(path, {}).get((name, entity_id))
            if value is None:
                if before is not None:
                    deletes.append((path, name, entity_id))
                    self._drop(path, (name, entity_id))
            elif before != value:
                writes.append((path, name, entity_id, value))
                self._put(path, (name, entity_id), value)
        return writes, deletes


def by_path(rows: Mapping[RowKey, str]) -> dict[str, dict[tuple[str, str], str]]:
    out: dict[str, dict[tuple[str, str], str]] = {}
    for (path, name, entity_id), content in rows.items():
        out.setdefault(path, {})[(name, entity_id)] = content
    return out


def _folders(path: str) -> list[str]:
    parts = path.split("/")[:-1]
    return ["/".join(parts[: i + 1]) + "/" for i in range(len(parts))]
