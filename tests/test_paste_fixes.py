"""The doctor's fix commands, pasted: a bundled example's account is loaded into `kmslaunch serve`, the failure is
reproduced through the real AWS CLI, the endpoint's state is exported and diagnosed with ``--write-fixes DIR``,
each printed command is run as it is in DIR (the AWS CLI finds the endpoint in ``AWS_ENDPOINT_URL``), and the
same launch, made again, runs.

One case a line: the example, how its launch is made with the AWS CLI, and how the doctor is told which launch."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kmslaunch.cli.main import cli
from kmslaunch.server.app import Server
from kmslaunch.server.state import State
from kmslaunch.server.store import Store
from kmslaunch.snapshot.load import load_snapshot

EXAMPLES = Path(__file__).parent.parent / "examples"
AWS = (
    str(Path(sys.executable).with_name("aws"))
    if Path(sys.executable).with_name("aws").exists()
    else shutil.which("aws")
)
ACCOUNT = "111122223333"
ALICE_ARN = f"arn:aws:iam::{ACCOUNT}:user/alice"
Keys = tuple[str, str, str | None]
# Access keys the test gives the example's principals in the endpoint (the snapshot holds none).
KEYS: dict[str, Keys] = {
    f"arn:aws:iam::{ACCOUNT}:root": ("AKIAROOT111122223333", "root-secret", None),
    ALICE_ARN: ("AKIAALICE11112222333", "alice-secret", None),
    "arn:aws:iam::444455556666:root": ("AKIAROOT444455556666", "owner-secret", None),
}
# Role sessions as the services that launch as them hold them (Service Catalog, Instance Scheduler): their trust
# policies name those services, so the session is made in the state, as sts:AssumeRole would issue it.
SESSIONS = {
    f"arn:aws:sts::{ACCOUNT}:assumed-role/SCLaunchRole/servicecatalog": "ASIASCLAUNCHROLE0001",
    f"arn:aws:sts::{ACCOUNT}:assumed-role/scheduler-Scheduler-Role/instance-scheduler": "ASIASCHEDULERROLE001",
}
for _session, _akid in SESSIONS.items():
    KEYS[_session] = (_akid, "session-secret", "session-token-" + _akid)
ROOT = KEYS[f"arn:aws:iam::{ACCOUNT}:root"]


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


class Aws:
    def __init__(self, url: str, home: Path) -> None:
        self.url = url
        self.home = home

    def env(self, keys: Keys) -> dict[str, str]:
        token = {"AWS_SESSION_TOKEN": keys[2]} if keys[2] else {}
        return {
            **token,
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(self.home),
            "AWS_ACCESS_KEY_ID": keys[0],
            "AWS_SECRET_ACCESS_KEY": keys[1],
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": str(self.home / "none"),
            "AWS_SHARED_CREDENTIALS_FILE": str(self.home / "none"),
            # Read by botocore 1.31 and later, so AWS CLI v1.29+ and v2.13+ alike
            # (https://docs.aws.amazon.com/sdkref/latest/guide/feature-ss-endpoints.html).
            "AWS_ENDPOINT_URL": self.url,
        }

    def __call__(self, *args: str, keys: Keys = ROOT) -> Any:
        assert AWS is not None
        done = subprocess.run(  # noqa: PLW1510 - checked below, with stderr in the message
            [AWS, "--output", "json", *args], env=self.env(keys), capture_output=True, text=True, timeout=60
        )
        if done.returncode != 0:
            raise AssertionError(f"aws {' '.join(args)} failed: {done.stderr}")
        return json.loads(done.stdout) if done.stdout.strip() else None

    def paste(self, command: str, cwd: Path) -> None:
        """Run a printed command as it is, in a POSIX shell, as the root user of the account it names."""
        account = re.search(r"# run in account (\d{12})", command)
        assert account, f"the command does not say which account it runs in: {command}"
        keys = KEYS[f"arn:aws:iam::{account.group(1)}:root"]
        assert AWS is not None
        env = {**self.env(keys), "PATH": f"{Path(AWS).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
        done = subprocess.run(  # noqa: PLW1510 - checked below
            ["/bin/sh", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, f"{command}\n{done.stderr}"


@pytest.fixture
def endpoint(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Aws, Path]]:
    if AWS is None:
        pytest.fail("the AWS CLI (the awscli package, a dev dependency) is not installed")
    example: str = request.param
    state_file = tmp_path / "state.sqlite"
    store = Store(state_file)
    # The example's account is the endpoint's state: its IAM, keys, images, groups, as the snapshot holds them.
    store.save_world(load_snapshot(EXAMPLES / example / "snapshot").world)
    state = State(store)
    for arn, (akid, secret, token) in KEYS.items():
        if token is None:
            state.add_credential(akid, secret, arn)
        else:
            role = f"arn:aws:iam::{ACCOUNT}:role/{arn.split('/')[1]}"
            expires = datetime.now(UTC) + timedelta(hours=1)
            state.add_credential(akid, secret, arn, session_token=token, expires_at=expires, role_arn=role)
    server = Server("127.0.0.1", 0, state)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield Aws(f"http://127.0.0.1:{server.server_address[1]}", tmp_path), state_file
    finally:
        server.shutdown()
        server.server_close()
        state.store.close()


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
