"""The audit in units of work that run anywhere: one account of one snapshot directory, a pure function of a
picklable value, returning picklable plain data.

``run_unit(AuditUnit(snapshot_dir, account, options))`` loads the snapshot (once per process: later units of
the same snapshot reuse it, which ``audit_account`` leaves as it found it), audits the account and returns an
``AccountResult``; ``assemble`` puts the results of every account, in any order, into the report that
``engine.audit`` gives. ``run_units`` runs them in local processes (``kmslaunch audit --workers N``); the same
units can be handed to Ray (``ray.get([ray.remote(run_unit).remote(u) for u in units])``) or Dask
(``client.gather(client.map(run_unit, units))``), on machines that see the snapshot directory at the same path.
"""

from __future__ import annotations

import copy
import multiprocessing
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from kmslaunch.doctor.artifacts import place_of_call
from kmslaunch.snapshot.load import load_snapshot
from kmslaunch.world.clock import Clock
from kmslaunch.world.world import World

from .engine import AccountResult, Located, Outcome, PathResult, audit_account


@dataclass(frozen=True, slots=True)
class AuditOptions:
    """How an account is audited, for results that cross a process , which keep no refused
    call: ``locations`` finds, for each failing path, where its refusal is written (the SARIF location) while
    the call is at hand, in the directory ``root`` (``None``: locations name files without lines, as SARIF
    does for a snapshot that is not a directory)."""

    locations: bool = False
    root: str | None = None


DEFAULT_OPTIONS = AuditOptions()


@dataclass(frozen=True, slots=True)
class AuditUnit:
    """One account of the snapshot in directory ``snapshot`` (a path every worker can read)."""

    snapshot: str
    account: str
    options: AuditOptions = DEFAULT_OPTIONS


@dataclass
class _Loaded:
    world: World
    clock: Clock
    seed: str


# One loaded snapshot per worker process, reused by the units of that snapshot that the process runs: loading
# costs more than auditing one account. Only this module's functions read it; a unit never changes it for good.
_LOADED: dict[str, _Loaded] = {}


def _load(snapshot: str) -> _Loaded:
    got = _LOADED.get(snapshot)
    if got is None:
        _LOADED.clear()
        world = load_snapshot(Path(snapshot)).world
        got = _LOADED[snapshot] = _Loaded(world, copy.copy(world.clock), world.ids.seed)
    return got


def prime(snapshot: str, world: World) -> None:
    """Take ``world`` as the loaded snapshot ``snapshot`` in this process (and in the processes it forks, which
    then load nothing): the caller has loaded it and audits it only through units from now on."""
    _LOADED.clear()
    _LOADED[snapshot] = _Loaded(world, copy.copy(world.clock), world.ids.seed)


def run_unit(unit: AuditUnit) -> AccountResult:
    """Audit one account; the result pickles (refused calls dropped, their locations kept when asked for)."""
    loaded = _load(unit.snapshot)
    return portable(audit_account(loaded.world, unit.account, loaded.clock, loaded.seed), unit.options)


def portable(result: AccountResult, options: AuditOptions) -> AccountResult:
    """``result`` without the refused calls (which hold compiled conditions, and do not pickle); with
    ``options.locations``, each failing path keeps where its refusal is written."""
    root = Path(options.root) if options.root is not None else None
    shared: dict[int, Outcome] = {}
    paths: list[PathResult] = []
    for p in result.paths:
        o = p.outcome
        if o.refused is None:
            paths.append(p)
            continue
        if options.locations and o.fails:
            located = Located(place_of_call(o.refused, root, principal=p.principal), o.refused.action)
            paths.append(replace(p, outcome=replace(o, refused=None, located=located)))
            continue
        bare = shared.get(id(o))
        if bare is None:
            bare = shared[id(o)] = replace(o, refused=None)
        paths.append(replace(p, outcome=bare))
    return replace(result, paths=tuple(paths))


def units(snapshot: str, world: World, options: AuditOptions = DEFAULT_OPTIONS) -> list[AuditUnit]:
    """A unit for each account of ``world`` (the snapshot in ``snapshot``, loaded), in account order."""
    return [AuditUnit(snapshot, a, options) for a in sorted(world.accounts)]


def run_units(work: list[AuditUnit], workers: int, progress: Callable[[int], Any] | None = None) -> list[AccountResult]:
    """Run ``work`` in ``workers`` processes; the results in the order of ``work``. ``progress`` as for
    ``engine.audit``: the number of units first, then 1 as each is done."""
    if progress is not None:
        progress(len(work))
    results: dict[int, AccountResult] = {}
    for i, result in _completed(work, workers):
        results[i] = result
        if progress is not None:
            progress(1)
    return [results[i] for i in range(len(work))]


def _completed(work: list[AuditUnit], workers: int) -> Iterator[tuple[int, AccountResult]]:
    if workers <= 1:
        for i, u in enumerate(work):
            yield i, run_unit(u)
        return
    # Forked workers start with what this process loaded (prime); elsewhere each loads the snapshot once.
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else None)
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = {pool.submit(run_unit, u): i for i, u in enumerate(work)}
        for f in as_completed(futures):
            yield futures[f], f.result()
