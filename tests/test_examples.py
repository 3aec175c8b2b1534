"""The bundled examples, end to end through the command line: each is diagnosed as its scenario says, its
fix is verified, and the fixed snapshot launches. The bundled files are what examples/generate.py writes."""

from __future__ import annotations

import copy
import dataclasses
import json
import re
import shlex
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from kmslaunch.cli.main import cli
from kmslaunch.launch.replay import replay_instance
from kmslaunch.launch.request import simulate
from kmslaunch.scenarios import SCENARIOS
from kmslaunch.snapshot.load import load_snapshot

ROOT = Path(__file__).parent.parent
EXAMPLES = ROOT / "examples"
sys.path.insert(0, str(EXAMPLES))
from generate import write_examples  # noqa: E402 - the examples folder is not a package


def _commands(name: str) -> dict[str, list[str]]:
    text = (EXAMPLES / name / "README.md").read_text()
    out = {}
    for line in text.splitlines():
        if line.startswith(".venv/bin/kmslaunch "):
            args = shlex.split(line)[1:]
            out[args[0]] = [
                a.replace("examples/", str(EXAMPLES) + "/", 1) if a.startswith("examples/") else a for a in args
            ]
    return out


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_example_doctor_and_fix(scenario, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cmds = _commands(scenario.name)
    runner = CliRunner()
    res = runner.invoke(cli, [*cmds["doctor"], "--format", "json"])
    out = json.loads(res.output)
    assert out["outcome"]["state"] == scenario.expect_state
    if scenario.expect_state == "running":
        assert res.exit_code == 0 and out["fixes"] == []
        return
    assert res.exit_code == 1
    assert out["fixes"] and all(f["verified"] for f in out["fixes"])
    # CloudTrail in the snapshot recorded the launch: the doctor reads it and agrees.
    assert out["cloudtrail_evidence"] and all(e["agrees"] for e in out["cloudtrail_evidence"])
    fix_args = list(cmds["fix"])
    fix_args[fix_args.index("--out") + 1] = str(tmp_path / "fixed")
    before = {p: p.read_bytes() for p in (EXAMPLES / scenario.name / "snapshot").rglob("*") if p.is_file()}
    res = runner.invoke(cli, fix_args)
    assert res.exit_code == 0, res.output
    after = {p: p.read_bytes() for p in (EXAMPLES / scenario.name / "snapshot").rglob("*") if p.is_file()}
    assert before == after, "fix never modifies its input"
    replay = list(cmds["doctor"][2:])
    res = runner.invoke(cli, ["simulate", str(tmp_path / "fixed"), *replay])
    assert res.exit_code == 0, res.output
    assert re.search(r"i-[0-9a-f]+\s+running", res.output)


def test_examples_are_up_to_date(tmp_path: Path) -> None:
    write_examples(tmp_path)
    for made in tmp_path.rglob("*"):
        if made.is_file():
            bundled = EXAMPLES / made.relative_to(tmp_path)
            assert bundled.is_file(), f"{bundled} is missing: run python examples/generate.py"
            assert bundled.read_bytes() == made.read_bytes(), f"{bundled} is stale: run python examples/generate.py"


def test_fix_refuses_to_write_into_its_input() -> None:
    cmds = _commands("kc-iam-user")
    args = list(cmds["fix"])
    args[args.index("--out") + 1] = str(EXAMPLES / "kc-iam-user" / "snapshot")
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 2 and "somewhere else" in res.output


def test_simulating_on_a_snapshot_never_reuses_its_ids() -> None:
    # New instances, volumes and keys (aws/ebs on first use) made while simulating must not take the id of
    # something the snapshot holds: that would replace it and change the answer. Only a replay of an instance
    # gives that instance (and its volumes) their own ids back, so that the report is about them.
    snap = load_snapshot(EXAMPLES / "kc-iam-user" / "snapshot")
    region = snap.world.accounts["111122223333"].regions["us-east-1"]
    before_instances, before_keys = set(region.ec2.instances), set(region.kms.keys)
    (instance,) = before_instances
    replay = replay_instance(snap.world, "111122223333", "us-east-1", instance, None, None)
    assert simulate(copy.deepcopy(snap.world), replay).instance_ids == (instance,)
    req = dataclasses.replace(replay, reuse_ids=())
    req.params["BlockDeviceMappings"] = [{"DeviceName": "/dev/xvda", "Ebs": {"KmsKeyId": "alias/aws/ebs"}}]
    world = copy.deepcopy(snap.world)
    result = simulate(world, req)
    after = world.accounts["111122223333"].regions["us-east-1"]
    assert not set(result.instance_ids) & before_instances
    assert len(after.kms.keys) == len(before_keys) + 1  # aws/ebs was added, nothing replaced
    assert result.outcome.state == "terminated"  # re-encrypting from the snapshot's key still needs alice's IAM
