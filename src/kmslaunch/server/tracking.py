"""Which entities a request reached: the world's entity dicts, wrapped so that they note the keys looked up or
changed, and so that a commit re-serializes those entities only.

Every path from a request to an entity goes through the dict that holds it (``kms.keys[...]``,
``ec2.volumes.get(...)``, ``iam.users.values()``): no entity is kept from one request to the next (the state
caches principals and parsed policies, never world objects). So an entity the request did not reach through its
dict is one it did not change, and its stored row stands. A walk over a dict (``values()``, ``items()``, a copy)
notes every entity in it. A dict replaced wholesale, a region or account made by the request, and anything
outside these dicts (EBS defaults, the organization, the snapshot's meta) are re-serialized whole (``delta.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from kmslaunch.world.world import Account, Region, World

# (part of the region, attribute) of each entity dict of a region, and of an account's IAM.
REGION_DICTS = (
    ("kms", "keys"),
    ("kms", "aliases"),
    ("ec2", "images"),
    ("ec2", "snapshots"),
    ("ec2", "volumes"),
    ("ec2", "instances"),
    ("ec2", "launch_templates"),
    ("ec2", "vpc_endpoints"),
    ("autoscaling", "groups"),
    ("autoscaling", "launch_configurations"),
)
IAM_DICTS = ("users", "groups", "roles", "policies")


class Tracked(dict[Any, Any]):
    """A dict that notes the keys looked up or changed in ``seen``; ``everything`` once its values were walked."""

    __slots__ = ("everything", "seen")

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.seen: set[Any] = set()
        self.everything = False

    def reset(self) -> None:
        self.seen.clear()
        self.everything = False

    def __getitem__(self, key: Any) -> Any:
        self.seen.add(key)
        return super().__getitem__(key)

    def get(self, key: Any, default: Any = None) -> Any:
        self.seen.add(key)
        return super().get(key, default)

    def __setitem__(self, key: Any, value: Any) -> None:
        self.seen.add(key)
        super().__setitem__(key, value)

    def __delitem__(self, key: Any) -> None:
        self.seen.add(key)
        super().__delitem__(key)

    def pop(self, key: Any, *default: Any) -> Any:
        self.seen.add(key)
        return super().pop(key, *default)

    def setdefault(self, key: Any, default: Any = None) -> Any:
        self.seen.add(key)
        return super().setdefault(key, default)

    # Overriding iteration also takes ``dict(d)`` and ``{**d}`` off CPython's fast copy, through __getitem__.
    def __iter__(self) -> Iterator[Any]:
        return super().__iter__()

    def values(self) -> Any:
        self.everything = True
        return super().values()

    def items(self) -> Any:
        self.everything = True
        return super().items()

    def copy(self) -> dict[Any, Any]:
        self.everything = True
        return dict(super().items())

    def popitem(self) -> tuple[Any, Any]:
        self.everything = True
        return super().popitem()

    def clear(self) -> None:
        self.everything = True
        super().clear()

    def update(self, *args: Any, **kwargs: Any) -> None:
        self.everything = True
        super().update(*args, **kwargs)

    def __ior__(self, other: Any) -> Tracked:
        self.everything = True
        super().update(other)
        return self

    def __or__(self, other: Any) -> dict[Any, Any]:
        self.everything = True
        return {**dict(super().items()), **other}

    def __reduce_ex__(self, protocol: Any) -> Any:
        self.everything = True
        return (dict, (dict(super().items()),))


def read_only_values(entities: dict[Any, Any]) -> list[Any]:
    """The entities of ``entities`` without noting them as reached: only for a look at every entity that changes
    none of them (RunInstances' search for an earlier launch with its client token, which boto3 and the AWS CLI
    send with every call). An entity the request goes on to change is reached through the dict as usual; noting
    the whole walk would make every instance of the region one to serialize again at each launch."""
    return list(dict.values(entities))


class Tracker:
    """The tracked dicts of one world, by account and region."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.regions: dict[tuple[str, str], dict[tuple[str, str], Tracked]] = {}
        self.iams: dict[str, dict[str, Tracked]] = {}
        for acct in list(dict.values(world.accounts)):
            self.wrap_account(acct)

    def wrap_account(self, acct: Account) -> None:
        self.iams[acct.account_id] = {name: _wrap(acct.iam, name) for name in IAM_DICTS}
        for region in list(dict.values(acct.regions)):
            self.wrap_region(acct.account_id, region)

    def wrap_region(self, account: str, region: Region) -> None:
        self.regions[(account, region.name)] = {
            (part, name): _wrap(getattr(region, part), name) for part, name in REGION_DICTS
        }

    def reset(self) -> None:
        for dicts in self.regions.values():
            for d in dicts.values():
                d.reset()
        for iam in self.iams.values():
            for d in iam.values():
                d.reset()


def _wrap(owner: object, name: str) -> Tracked:
    current = getattr(owner, name)
    if type(current) is Tracked:
        return current
    tracked = Tracked(dict.items(current))
    setattr(owner, name, tracked)
    return tracked
