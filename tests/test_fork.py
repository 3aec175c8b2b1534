"""``world.fork``: a copy equal to ``copy.deepcopy``'s, sharing nothing that can change with the original; and
the pause of the garbage collector around batch work."""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import gc
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from kmslaunch.audit.engine import launch_cases
from kmslaunch.batch import collector_paused
from kmslaunch.launch.request import simulate
from kmslaunch.policy.errors import KmslaunchError
from kmslaunch.snapshot.load import load_snapshot
from kmslaunch.world.clock import ReusedIds
from kmslaunch.world.documents import Document
from kmslaunch.world.fork import fork
from kmslaunch.world.world import World

EXAMPLES = Path(__file__).parent.parent / "examples"
SNAPSHOTS = sorted(p for p in EXAMPLES.glob("*/snapshot") if p.is_dir())
_IMMUTABLE = (str, int, float, bool, bytes, type(None), tuple, frozenset, Document)


def _mutables(x: Any, out: dict[int, Any]) -> dict[int, Any]:
    """Every object reachable from ``x`` that can be changed in place, by id."""
    if isinstance(x, (*_IMMUTABLE, type)) or id(x) in out:
        if isinstance(x, tuple | frozenset):
            for v in x:
                _mutables(v, out)
        return out
    if isinstance(x, dict):
        out[id(x)] = x
        for v in x.values():
            _mutables(v, out)
    elif isinstance(x, list | set):
        out[id(x)] = x
        for v in x:
            _mutables(v, out)
    elif dataclasses.is_dataclass(x):
        cls: Any = type(x)
        if not cls.__dataclass_params__.frozen:
            out[id(x)] = x
        for f in dataclasses.fields(x):
            _mutables(getattr(x, f.name), out)
        for k, v in getattr(x, "__dict__", {}).items():
            if k not in {f.name for f in dataclasses.fields(x)}:
                _mutables(v, out)
    return out


def _launched(snapshot: Path) -> World:
    """The example's world after its audit's launches, so that it holds instances, volumes, grants and
    CloudTrail records."""
    world = load_snapshot(snapshot).world
    cases, _ = launch_cases(world)
    for case in cases:
        with contextlib.suppress(KmslaunchError):
            simulate(world, case.request)
    return world


def test_launched_worlds_hold_what_launches_make() -> None:
    world = _launched(EXAMPLES / "success" / "snapshot")
    regions = [r for a in world.accounts.values() for r in a.regions.values()]
    assert sum(len(r.ec2.volumes) for r in regions) > 0
    assert sum(len(k.grants) for r in regions for k in r.kms.keys.values()) > 0
    assert sum(len(r.trail.events) for r in regions) > 0


@pytest.mark.parametrize("snapshot", SNAPSHOTS, ids=lambda p: p.parent.name)
def test_fork_equals_deepcopy_and_shares_nothing_mutable(snapshot: Path) -> None:
    world = _launched(snapshot)
    copied = fork(world)
    assert copied == copy.deepcopy(world)
    shared = set(_mutables(world, {})) & set(_mutables(copied, {}))
    assert not shared, [type(_mutables(world, {})[i]).__name__ for i in shared]


def test_fork_is_independent_of_the_original() -> None:
    world = _launched(EXAMPLES / "asg-slr-missing" / "snapshot")
    before = copy.deepcopy(world)
    copied = fork(world)
    for acct in copied.accounts.values():
        for region in acct.regions.values():
            for key in region.kms.keys.values():
                key.grants.clear()
            region.trail.events.append({"eventName": "Changed"})
        acct.iam.roles.clear()
    copied.ids.ec2("i")
    copied.clock.now()
    assert world == before


def test_fork_keeps_aliasing_and_subclass_attributes() -> None:
    @dataclasses.dataclass
    class Box:
        items: list[int]
        counts: defaultdict[str, int]

    items = [1, 2]
    boxes = [Box(items, defaultdict(int)), Box(items, defaultdict(int))]
    copied = fork(boxes)
    assert copied[0].items is copied[1].items and copied[0].items is not items
    copied[0].counts["x"] += 1
    assert copied[0].counts == {"x": 1} and boxes[0].counts == {}

    world = World()
    reused = ReusedIds(world.ids, {"i": ["i-0123456789abcdef0"]})
    twin = fork(reused)
    assert twin.given == reused.given and twin.given is not reused.given
    assert twin.ec2("i") == "i-0123456789abcdef0" and reused.given == {"i": ["i-0123456789abcdef0"]}


def test_fork_shares_documents_and_values() -> None:
    world = load_snapshot(EXAMPLES / "asg-slr-missing" / "snapshot").world
    copied = fork(world)
    for a, b in zip(world.accounts.values(), copied.accounts.values(), strict=True):
        for ra, rb in zip(a.regions.values(), b.regions.values(), strict=True):
            for ka, kb in zip(ra.kms.keys.values(), rb.kms.keys.values(), strict=True):
                assert ka is not kb and ka.policy is kb.policy
            for ia, ib in zip(ra.ec2.images.values(), rb.ec2.images.values(), strict=True):
                assert ia is not ib and ia.block_devices is ib.block_devices


def test_collector_paused_restores_the_collector() -> None:
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), collector_paused():
        raise RuntimeError("inside")
    assert gc.isenabled()

    @collector_paused()
    def decorated() -> bool:
        return gc.isenabled()

    assert decorated() is False and gc.isenabled()  # as a decorator too (impact.compare.impact)
    gc.disable()
    try:
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # it was off before the block: the block leaves it off
    finally:
        gc.enable()
