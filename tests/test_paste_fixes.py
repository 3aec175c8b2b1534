"""The doctor's fix commands, pasted: a bundled example's account is loaded into `kmslaunch serve`, the failure is
reproduced through the real AWS CLI, the endpoint's state is exported and diagnosed with ``--write-fixes DIR``,
each printed command is run as it is in DIR (the AWS CLI finds the endpoint in ``AWS_ENDPOINT_URL``), and the
same launch, made again, runs.

One case a line: the example, how its launch is made with the AWS CLI, and how the doctor is told which launch."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from kmslaunch.cli.main import cli
from kmslaunch.snapshot.load import load_snapshot
from pasting import ACCOUNT, ALICE_ARN, EXAMPLES, KEYS, Aws, serving


@dataclass(frozen=True)
class Case:
    example: str
    # run-instances (with the example's run-instances.json) | asg:<group name> | start:<instance id>
    launch: str
    expect_kind: str  # the kind of the doctor's fix
    caller: str = ALICE_ARN  # who makes run-instances or start-instances
    failed: str = "terminated"  # the instance's state after the refused launch


CASES = (
    Case("kc-iam-user", "run-instances", "identity-policy"),
    Case("kc-source-ip", "run-instances", "key-policy"),
    Case("disabled-key", "run-instances", "key-state"),
    Case("asg-slr-missing", "asg:web-asg", "key-policy"),
    Case("public-ami-default-key", "run-instances", "identity-policy"),
    Case("eks-nodegroup", "asg:eks-general-3ac5b7d2", "key-policy"),
    Case("cross-account-ami", "asg:golden-asg", "grant"),
    Case(
        "service-catalog-launch-role",
        "run-instances",
        "identity-policy",
        caller=f"arn:aws:sts::{ACCOUNT}:assumed-role/SCLaunchRole/servicecatalog",
    ),
    Case(
        "instance-scheduler",
        "start:i-056cc6fd323c6308f",
        "identity-policy",
        caller=f"arn:aws:sts::{ACCOUNT}:assumed-role/scheduler-Scheduler-Role/instance-scheduler",
        failed="stopped",
    ),
)
# Not here: ec2-fleet-maintain, karpenter-create-fleet and spot-request launch with CreateFleet and
# RequestSpotInstances, which the endpoint does not serve.


@pytest.fixture
def endpoint(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Aws, Path]]:
    with serving(request.param, tmp_path) as started:
        yield started


def _launch(aws: Aws, case: Case) -> tuple[str, list[str]]:
    """Make the example's launch; (its outcome, the doctor's LAUNCH arguments)."""
    keys = KEYS[case.caller]
    if case.launch == "run-instances":
        params = f"file://{EXAMPLES / case.example / 'run-instances.json'}"
        (inst,) = aws("ec2", "run-instances", "--cli-input-json", params, keys=keys)["Instances"]
        desc = aws("ec2", "describe-instances", "--instance-ids", inst["InstanceId"])
        return desc["Reservations"][0]["Instances"][0]["State"]["Name"], ["--instance", inst["InstanceId"]]
    if case.launch.startswith("start:"):
        instance = case.launch.removeprefix("start:")
        aws("ec2", "start-instances", "--instance-ids", instance, keys=keys)
        desc = aws("ec2", "describe-instances", "--instance-ids", instance)
        state = desc["Reservations"][0]["Instances"][0]["State"]["Name"]
        return state, ["--start-instances", instance, "--as", case.caller]
    group = case.launch.removeprefix("asg:")
    aws("autoscaling", "set-desired-capacity", "--auto-scaling-group-name", group, "--desired-capacity", "1")
    activity = aws("autoscaling", "describe-scaling-activities", "--auto-scaling-group-name", group)["Activities"][0]
    if activity["StatusCode"] != "Successful":
        return "terminated", ["--asg", group]
    (member,) = aws("autoscaling", "describe-auto-scaling-groups", "--auto-scaling-group-names", group)[
        "AutoScalingGroups"
    ][0]["Instances"]
    desc = aws("ec2", "describe-instances", "--instance-ids", member["InstanceId"])
    return desc["Reservations"][0]["Instances"][0]["State"]["Name"], ["--asg", group]


@pytest.mark.parametrize(("endpoint", "case"), [(c.example, c) for c in CASES], indirect=["endpoint"], ids=str)
def test_the_printed_commands_pasted_make_the_launch_run(
    endpoint: tuple[Aws, Path], case: Case, tmp_path: Path
) -> None:
    aws, state_file = endpoint
    state, launch = _launch(aws, case)
    assert state == case.failed

    exported = tmp_path / "exported"
    runner = CliRunner()
    res = runner.invoke(cli, ["serve", "--state", str(state_file), "--export", str(exported)])
    assert res.exit_code == 0, res.output
    fixes = tmp_path / "fixes"
    res = runner.invoke(cli, ["doctor", str(exported), *launch, "--write-fixes", str(fixes), "--format", "json"])
    assert res.exit_code == 1, res.output
    diag = json.loads(res.output)
    assert [f["kind"] for f in diag["fixes"]] == [case.expect_kind] and diag["fixes"][0]["verified"]
    written = {Path(p).name for p in diag["written_fixes"]["files"]}
    # Every plan's files: the fix's and the alternative's (another key: run-instances.json).
    every = [f for plan in diag["fix_plans"] for f in plan["fixes"]]
    named = {m for f in every for c in f["commands"] for m in re.findall(r"file://(\S+)", c)}
    assert named == written == {n for f in every for n in f["files"]}
    for name in (n for f in every if f["kind"] != "launch-parameter" for n in f["files"]):
        doc = json.loads((fixes / name).read_text())
        assert doc["Version"] == "2012-10-17" and doc["Statement"]  # a whole policy document

    # The text shows the same commands, and they are pasted as they are printed.
    res = runner.invoke(cli, ["doctor", str(exported), *launch])
    printed = [ln.strip().removeprefix("$ ") for ln in res.output.splitlines() if ln.strip().startswith("$ aws ")]
    commands = [c for f in diag["fixes"] for c in f["commands"]]
    assert printed[: len(commands)] == commands
    for f in diag["fixes"]:
        if f["kind"] == "key-policy":
            # put-key-policy replaces the policy whole: the file keeps every statement the key has now.
            held = json.loads(
                aws("kms", "get-key-policy", "--key-id", f["target"], "--policy-name", "default")["Policy"]
            )
            (name,) = f["files"]
            sent = json.loads((fixes / name).read_text())
            assert {st.get("Sid") for st in held["Statement"]} <= {st.get("Sid") for st in sent["Statement"]}
    for command in commands:
        if " kms " in command:
            assert "--region us-east-1" in command
        aws.paste(command, fixes)

    state, _ = _launch(aws, case)
    assert state == "running"


def test_write_fixes_refuses_a_non_empty_directory_unless_forced(tmp_path: Path) -> None:
    args = ["doctor", str(EXAMPLES / "kc-iam-user" / "snapshot"), "--instance", "i-056cc6fd323c6308f"]
    out = tmp_path / "fixes"
    out.mkdir()
    (out / "mine.txt").write_text("keep")
    runner = CliRunner()
    res = runner.invoke(cli, [*args, "--write-fixes", str(out)])
    assert res.exit_code == 2 and "not empty" in res.output
    assert sorted(p.name for p in out.iterdir()) == ["mine.txt"]
    res = runner.invoke(cli, [*args, "--write-fixes", str(out), "--force"])
    assert res.exit_code == 1 and f"to {out}" in res.output
    assert (out / "mine.txt").read_text() == "keep"
    assert (out / "user-alice-kmslaunch-ebs-3ff5ba93.json").is_file()


def test_fix_out_writes_the_commands_files_beside_the_fixed_snapshot(tmp_path: Path) -> None:
    out = tmp_path / "fixed"
    args = ["fix", str(EXAMPLES / "kc-source-ip" / "snapshot"), "--instance", "i-056cc6fd323c6308f", "--out", str(out)]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    (name,) = re.findall(r"file://(\S+)", res.output)
    doc = json.loads((out / "commands" / name).read_text())
    assert doc["Id"] == "corp-network-only" and len(doc["Statement"]) == 2  # the whole key policy, Deny exempted
    assert load_snapshot(out).world.accounts[ACCOUNT]  # the snapshot still loads with commands/ in it
