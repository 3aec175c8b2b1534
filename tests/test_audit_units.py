"""``kmslaunch audit --workers N`` and the audit's unit of work (``audit.units``): the same report as the serial
audit, in the same order, whichever process ran which account; units and their results pickle."""

from __future__ import annotations

import copy
import json
import pickle
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kmslaunch.audit.engine import _trim_org, assemble, audit, audit_account
from kmslaunch.audit.units import AuditOptions, AuditUnit, portable, run_unit, run_units, units
from kmslaunch.cli.audit import audit_command
from kmslaunch.policy.model import PolicyType
from kmslaunch.snapshot import load_snapshot
from kmslaunch.snapshot.save import save_snapshot
from kmslaunch.world.documents import Document
from kmslaunch.world.organizations import RCP, SCP, Organization, OrgPolicy

ROOT = Path(__file__).parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from make_org import build  # noqa: E402 - the bench's generator, importable once bench/ is on the path


@pytest.fixture(scope="module")
def org_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("org") / "snapshot"
    save_snapshot(build(0.06, accounts=3), out, meta={"collected_at": "2026-01-15T09:30:00Z"})
    return out


def _run(*args: str) -> Any:
    return CliRunner().invoke(audit_command, list(args))


@pytest.mark.parametrize("fmt", ["json", "sarif"])
def test_workers_give_the_serial_report(org_dir: Path, fmt: str) -> None:
    serial = _run(str(org_dir), "--format", fmt)
    parallel = _run(str(org_dir), "--format", fmt, "--workers", "2")
    assert serial.exit_code == parallel.exit_code == 1, (serial.output, parallel.output)
    assert json.loads(parallel.output) == json.loads(serial.output)
    assert parallel.stderr == ""  # no progress line: stderr is not a terminal


def test_workers_on_a_cross_account_example() -> None:
    snapshot = str(ROOT / "examples" / "cross-account-ami" / "snapshot")
    serial, parallel = _run(snapshot, "--format", "sarif"), _run(snapshot, "--format", "sarif", "--workers", "3")
    assert serial.exit_code == parallel.exit_code
    assert parallel.output == serial.output


def test_an_account_is_audited_alike_whatever_was_audited_before(org_dir: Path) -> None:
    snap = load_snapshot(org_dir)
    seed, clock = snap.world.ids.seed, snap.world.clock
    work = copy.deepcopy(snap.world)
    forward = [audit_account(work, a, clock, seed) for a in sorted(work.accounts)]
    backward = [audit_account(work, a, clock, seed) for a in sorted(work.accounts, reverse=True)]
    assert [r.to_json() for r in forward] == [r.to_json() for r in reversed(backward)]
    serial = audit(snap.world)
    assert [p.to_json() for p in assemble(snap.world, backward).paths] == [p.to_json() for p in serial.paths]


def test_units_and_results_pickle(org_dir: Path) -> None:
    snap = load_snapshot(org_dir)
    work = units(str(org_dir.resolve()), snap.world, AuditOptions(locations=True, root=str(org_dir)))
    assert [u.account for u in work] == sorted(snap.world.accounts)
    unit = pickle.loads(pickle.dumps(work[0]))
    assert unit == work[0] and isinstance(unit, AuditUnit)
    result = pickle.loads(pickle.dumps(run_unit(unit)))
    failing = [p for p in result.paths if p.outcome.fails]
    assert failing and all(p.outcome.refused is None and p.outcome.located is not None for p in failing)
    json.dumps(result.to_json())  # JSON-able as well
    serial = audit(snap.world)
    assert [p.to_json() for p in result.paths] == [p.to_json() for p in serial.paths if p.account == unit.account]


def test_run_units_reports_progress_in_order(org_dir: Path) -> None:
    snap = load_snapshot(org_dir)
    seen: list[int] = []
    work = units(str(org_dir.resolve()), snap.world)
    results = run_units(work, 2, seen.append)
    assert seen == [len(work)] + [1] * len(work)
    assert [r.account for r in results] == [u.account for u in work]


def test_portable_drops_the_refused_calls(org_dir: Path) -> None:
    snap = load_snapshot(org_dir)
    account = sorted(snap.world.accounts)[0]
    raw = audit_account(copy.deepcopy(snap.world), account, snap.world.clock, snap.world.ids.seed)
    assert any(p.outcome.refused is not None for p in raw.paths)
    bare = portable(raw, AuditOptions())
    assert all(p.outcome.refused is None and p.outcome.located is None for p in bare.paths)
    assert pickle.loads(pickle.dumps(bare)).to_json() == raw.to_json()


def test_world_copies_share_their_documents(org_dir: Path) -> None:
    world = load_snapshot(org_dir).world
    key = next(k for a in world.accounts.values() for r in a.regions.values() for k in r.kms.keys.values())
    copied = copy.deepcopy(world)
    twin = copied.accounts[key.account].regions[key.region].kms.keys[key.key_id]
    assert twin is not key and twin.policy is key.policy


def test_a_slices_organization_decides_its_accounts_as_the_whole_does() -> None:

    allow = Document.parse(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]},
        PolicyType.SCP,
        "all",
    )
    org = Organization(management_account="100000000000", org_id="o-1", root_id="r-1")
    org.policies = {"p-all": OrgPolicy("p-all", "all", SCP, allow), "p-rcp": OrgPolicy("p-rcp", "rcp", RCP, allow)}
    org.parents = {"ou-a": "r-1", "ou-b": "r-1", "ou-c": "ou-b"}
    org.attachments = {"r-1": ["p-all", "p-rcp"], "ou-a": ["p-all"], "ou-b": ["p-all"], "ou-c": ["p-all"]}
    accounts = [f"{200000000000 + i:012d}" for i in range(6)]
    for i, a in enumerate(accounts):
        org.parents[a] = ["ou-a", "ou-c", "r-1"][i % 3]
        org.attachments[a] = ["p-all"]
    org.listed = {(SCP, t) for t in org.attachments} | {(RCP, "r-1")}
    org.listed.discard((SCP, accounts[4]))  # one listing not read: unknown there
    org.listed_type = {"p-all": SCP, "p-rcp": RCP, "p-gone": SCP}
    for kept in ({accounts[0]}, {accounts[1], accounts[4]}, {accounts[5]}):
        part = _trim_org(org, kept)
        assert len(part.parents) < len(org.parents)
        for a in kept:
            for kind in (SCP, RCP):
                assert part.levels(a, kind) == org.levels(a, kind)
                assert part.gaps(a, kind) == org.gaps(a, kind)
            assert part.in_organization(a) == org.in_organization(a)
