"""Every LAUNCH option through the command line, on the bundled snapshots: each form reaches simulate, doctor and
fix; input that cannot be right is refused with exit status 2 and a message naming the file, the element and what
was expected; the session policy of a role session narrows it, from --session-policy or CloudTrail's AssumeRole."""

from __future__ import annotations

import copy
import json
import shlex
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kmslaunch.cli.main import cli
from kmslaunch.launch.replay import replay_instance
from kmslaunch.launch.request import simulate
from kmslaunch.scenarios import by_name
from kmslaunch.snapshot.load import load_snapshot
from kmslaunch.world import builder as b

EXAMPLES = Path(__file__).parent.parent / "examples"
SNAPSHOT = str(EXAMPLES / "kc-iam-user" / "snapshot")
ALICE = "arn:aws:iam::111122223333:user/alice"
ACCOUNT, REGION = "111122223333", "us-east-1"


def _run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args))


def _write(tmp_path: Path, name: str, data: Any) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return str(path)


def _kc_ids() -> tuple[str, str, str]:
    """The key, image and snapshot of the kc-iam-user example."""
    region = load_snapshot(Path(SNAPSHOT)).world.accounts[ACCOUNT].regions[REGION]
    ((key_id, _),) = region.kms.keys.items()
    ((image_id, image),) = region.ec2.images.items()
    return key_id, image_id, image.block_devices[0].snapshot_id or ""


def _forms(tmp_path: Path) -> dict[str, str]:
    key_id, image_id, snapshot_id = _kc_ids()
    return {
        "--create-volume": _write(
            tmp_path, "cv.json", {"AvailabilityZone": "us-east-1a", "Size": 8, "Encrypted": True, "KmsKeyId": key_id}
        ),
        "--copy-snapshot": _write(tmp_path, "cs.json", {"SourceSnapshotId": snapshot_id, "SourceRegion": REGION}),
        "--copy-image": _write(
            tmp_path, "ci.json", {"SourceImageId": image_id, "SourceRegion": REGION, "Name": "copy"}
        ),
    }


@pytest.mark.parametrize("flag", ["--create-volume", "--copy-snapshot", "--copy-image"])
def test_ebs_operations_reach_simulate_doctor_and_fix(flag: str, tmp_path: Path) -> None:
    file = _forms(tmp_path)[flag]
    res = _run("simulate", SNAPSHOT, flag, file, "--as", ALICE, "--format", "json")
    assert res.exit_code == 1, res.output
    assert json.loads(res.output)["calls"][-1]["decision"] == "implicitDeny"
    res = _run("doctor", SNAPSHOT, flag, file, "--as", ALICE, "--format", "json")
    out = json.loads(res.output)
    assert res.exit_code == 1 and out["fixes"] and all(f["verified"] for f in out["fixes"])
    res = _run("fix", SNAPSHOT, flag, file, "--as", ALICE, "--out", str(tmp_path / "fixed"))
    assert res.exit_code == 0, res.output
    res = _run("simulate", str(tmp_path / "fixed"), flag, file, "--as", ALICE)
    assert res.exit_code == 0, res.output


def test_attach_volume_takes_its_cli_input(tmp_path: Path) -> None:
    file = _write(tmp_path, "av.json", {"VolumeId": "vol-0123456789abcdef0", "InstanceId": "i-0", "Device": "/dev/sdf"})
    res = _run("simulate", SNAPSHOT, "--attach-volume", file, "--as", ALICE, "--format", "json")
    assert res.exit_code == 1
    assert json.loads(res.output)["outcome"]["error"]["Code"] == "InvalidVolume.NotFound"


@pytest.mark.parametrize("flag", ["--create-volume", "--attach-volume", "--copy-snapshot", "--copy-image"])
def test_ebs_operations_need_the_caller(flag: str, tmp_path: Path) -> None:
    res = _run("simulate", SNAPSHOT, flag, _write(tmp_path, "x.json", {}))
    assert res.exit_code == 2


def test_dry_run_answers_as_ec2_and_creates_nothing(tmp_path: Path) -> None:
    _, image_id, _ = _kc_ids()
    file = _write(tmp_path, "dry.json", {"ImageId": image_id, "DryRun": True})
    res = _run("simulate", SNAPSHOT, "--run-instances", file, "--as", ALICE, "--format", "json")
    out = json.loads(res.output)
    assert res.exit_code == 0
    assert out["outcome"]["error"] == {
        "Code": "DryRunOperation",
        "Message": "Request would have succeeded, but DryRun flag is set.",
    }
    assert out["launch"]["instances"] == [] and out["calls"] == []
    # The text says first that EC2 would accept it, and that a dry run checks none of the KMS calls.
    text = _run("simulate", SNAPSHOT, "--run-instances", file, "--as", ALICE).output.splitlines()
    assert text[0] == "RunInstances (DryRun): EC2 would accept the request"
    assert "none of the KMS calls" in text[1]


def test_unknown_caller_is_refused_with_near_names(tmp_path: Path) -> None:
    _, image_id, _ = _kc_ids()
    file = _write(tmp_path, "run.json", {"ImageId": image_id})
    res = _run("doctor", SNAPSHOT, "--run-instances", file, "--as", "arn:aws:iam::111122223333:user/alcie")
    assert res.exit_code == 2
    assert "no IAM user named 'alcie'" in res.output and "did you mean alice?" in res.output
    res = _run("simulate", SNAPSHOT, "--run-instances", file, "--as", "arn:aws:sts::111122223333:assumed-role/Nope/s")
    assert res.exit_code == 2 and "no IAM role named 'Nope'" in res.output
    res = _run("simulate", SNAPSHOT, "--run-instances", file, "--as", "alice")
    assert res.exit_code == 2 and "not a principal ARN" in res.output


def test_bad_source_ip_is_refused(tmp_path: Path) -> None:
    _, image_id, _ = _kc_ids()
    file = _write(tmp_path, "run.json", {"ImageId": image_id})
    res = _run("simulate", SNAPSHOT, "--run-instances", file, "--as", ALICE, "--source-ip", "203.0.113.300")
    assert res.exit_code == 2 and "--source-ip 203.0.113.300: not an IP address" in res.output


@pytest.mark.parametrize(
    ("flag", "data", "expected"),
    [
        (
            "--run-instances",
            {"ImageId": "ami-1", "InstanceTpe": "t3.micro"},
            'Unknown parameter in input: "InstanceTpe"',
        ),
        (
            "--run-instances",
            {"ImageId": "ami-1", "BlockDeviceMappings": [{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": "8"}}]},
            "Invalid type for parameter BlockDeviceMappings[0].Ebs.VolumeSize",
        ),
        ("--create-fleet", {"Type": "instant"}, 'Missing required parameter in input: "LaunchTemplateConfigs"'),
        ("--request-spot-instances", {"InstanceCount": "1"}, "Invalid type for parameter InstanceCount"),
        ("--create-volume", {"AvailabilityZone": "us-east-1a", "Encrypted": "yes"}, "parameter Encrypted"),
        ("--attach-volume", {"VolumeId": "vol-1"}, 'Missing required parameter in input: "Device"'),
        ("--copy-snapshot", {"SourceSnapshotId": "snap-1"}, 'Missing required parameter in input: "SourceRegion"'),
        ("--copy-image", {"SourceImageId": "ami-1", "SourceRegion": REGION}, '"Name"'),
        # Valid for botocore, but not a launch kmslaunch can simulate: the element path says what is missing.
        (
            "--create-fleet",
            {"LaunchTemplateConfigs": [{}], "TargetCapacitySpecification": {"TotalTargetCapacity": 1}},
            "LaunchTemplateConfigs[0].LaunchTemplateSpecification: missing",
        ),
        (
            "--create-fleet",
            {
                "LaunchTemplateConfigs": [{"LaunchTemplateSpecification": {"LaunchTemplateName": "nodes"}}],
                "TargetCapacitySpecification": {"TotalTargetCapacity": 100},
            },
            "TargetCapacitySpecification.TotalTargetCapacity: 100",
        ),
        ("--request-spot-instances", {"InstanceCount": 1}, "LaunchSpecification: missing"),
        (
            "--request-spot-instances",
            {"LaunchSpecification": {"InstanceType": "m5.large"}},
            "LaunchSpecification.ImageId",
        ),
    ],
)
def test_input_is_checked_against_botocore_shapes(flag: str, data: Any, expected: str, tmp_path: Path) -> None:
    file = _write(tmp_path, "input.json", data)
    before = Path(file).read_bytes()
    res = _run("simulate", SNAPSHOT, flag, file, "--as", ALICE)
    assert res.exit_code == 2, res.output
    assert file in res.output and expected in res.output, res.output
    assert "Traceback" not in res.output and Path(file).read_bytes() == before


def test_one_launch_form_only(tmp_path: Path) -> None:
    res = _run("simulate", SNAPSHOT, "--asg", "a", "--eks-nodegroup", "c/n")
    assert res.exit_code == 2 and "exactly one of" in res.output
    res = _run("simulate", SNAPSHOT, "--eks-nodegroup", "nocluster")
    assert res.exit_code == 2 and "CLUSTER/NAME" in res.output
    res = _run("simulate", SNAPSHOT, "--eks-nodegroup", "prod/general")
    assert res.exit_code == 2 and "eks:cluster-name=prod" in res.output


def test_eks_nodegroup_is_found_by_its_tags() -> None:
    snapshot = str(EXAMPLES / "eks-nodegroup" / "snapshot")
    res = _run("simulate", snapshot, "--eks-nodegroup", "prod/general", "--format", "json")
    out = json.loads(res.output)
    assert res.exit_code == 1
    assert out["launch"]["principal"].endswith(":assumed-role/AWSServiceRoleForAutoScaling/AutoScaling")


def test_create_fleet_type_decides_who_launches(tmp_path: Path) -> None:
    folder = EXAMPLES / "karpenter-create-fleet"
    data = json.loads((folder / "create-fleet.json").read_text())
    role = "arn:aws:sts::111122223333:assumed-role/KarpenterControllerRole/karpenter"
    for fleet_type, principal in (("instant", role), ("maintain", "AWSServiceRoleForEC2Fleet/EC2Fleet")):
        file = _write(tmp_path, f"{fleet_type}.json", {**data, "Type": fleet_type})
        res = _run("simulate", str(folder / "snapshot"), "--create-fleet", file, "--as", role, "--format", "json")
        assert res.exit_code == 1, res.output
        assert json.loads(res.output)["launch"]["principal"].endswith(principal)
    res = _run("simulate", str(folder / "snapshot"), "--create-fleet", file)  # maintain: no caller needed
    assert res.exit_code == 1, res.output
    res = _run("simulate", str(folder / "snapshot"), "--create-fleet", str(tmp_path / "instant.json"))
    assert res.exit_code == 2 and "--create-fleet needs the caller" in res.output


def _narrowing_policy(tmp_path: Path) -> str:
    return _write(
        tmp_path,
        "session.json",
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ec2:*", "Resource": "*"}]},
    )


def test_session_policy_narrows_the_caller(tmp_path: Path) -> None:
    folder = EXAMPLES / "karpenter-create-fleet"
    role = "arn:aws:sts::111122223333:assumed-role/KarpenterControllerRole/karpenter"
    file = str(folder / "create-fleet.json")
    # The fixed account lets the role use the key; a session policy that allows only EC2 takes that away again.
    res = _run("fix", str(folder / "snapshot"), "--create-fleet", file, "--as", role, "--out", str(tmp_path / "fixed"))
    assert res.exit_code == 0, res.output
    args = ["doctor", str(tmp_path / "fixed"), "--create-fleet", file, "--as", role, "--format", "json"]
    assert _run(*args).exit_code == 0
    res = _run(*args, "--session-policy", _narrowing_policy(tmp_path))
    out = json.loads(res.output)
    assert res.exit_code == 1
    refused = next(c for c in out["calls"] if c["decision"] != "allowed")
    assert "session-policy" in refused["denied_by"]
    bad = _write(tmp_path, "bad.json", {"Version": "2012-10-17", "Statement": [{"Effect": "Alow"}]})
    res = _run(*args, "--session-policy", bad)
    assert res.exit_code == 2 and "bad.json" in res.output and "Traceback" not in res.output


def test_replay_takes_the_session_policy_from_cloudtrail() -> None:
    world, req = by_name("service-catalog-launch-role").build()
    kms = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]}
    role = b.add_role(world, ACCOUNT, "SCLaunchRole", managed=[b.EC2_FULL_ACCESS_ARN], inline={"kms": kms})
    result = simulate(world, req)
    assert result.succeeded
    (instance,) = result.instance_ids
    assume = {
        "eventSource": "sts.amazonaws.com",
        "eventName": "AssumeRole",
        "requestParameters": {
            "roleArn": role.arn,
            "roleSessionName": "servicecatalog",
            "policy": json.dumps(
                {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ec2:*", "Resource": "*"}]}
            ),
        },
        "responseElements": {"assumedRoleUser": {"arn": req.caller}},
    }
    world.accounts[ACCOUNT].regions[REGION].trail.events.insert(0, assume)
    replayed = replay_instance(world, ACCOUNT, REGION, instance, None, None)
    assert replayed.caller == req.caller and len(replayed.session_policies) == 1
    again = simulate(copy.deepcopy(world), replayed)
    assert "session-policy" in again.refused_calls[0].denied_by


PREFIX = ".venv/bin/kmslaunch "  # as the README and the examples' READMEs write commands


def _readme_commands() -> list[Any]:
    out = []
    for readme in sorted(EXAMPLES.glob("*/README.md")):
        for line in readme.read_text().splitlines():
            if line.startswith(PREFIX):
                line = line.removeprefix(".venv/bin/")  # noqa: PLW2901 - the command as kmslaunch's own argv
                out.append(pytest.param(line, id=f"{readme.parent.name}:{line.split()[1]}:{len(out)}"))
    # Every example has commands: an empty list would make the test below pass by testing nothing.
    assert len({p.id.split(":")[0] for p in out}) == len(list(EXAMPLES.glob("*/README.md"))), out
    return out


@pytest.mark.parametrize("line", _readme_commands())
def test_every_readme_command_works_when_pasted(line: str, tmp_path: Path) -> None:
    args = [
        a.replace("examples/", str(EXAMPLES) + "/", 1) if a.startswith("examples/") else a
        for a in shlex.split(line)[1:]
    ]
    if "--out" in args:
        args[args.index("--out") + 1] = str(tmp_path / "fixed")
    res = _run(*args)
    assert res.exit_code in (0, 1), res.output


def test_session_policy_needs_a_role_session(tmp_path: Path) -> None:
    _, image_id, _ = _kc_ids()
    file = _write(tmp_path, "run.json", {"ImageId": image_id})
    policy = _narrowing_policy(tmp_path)
    res = _run("simulate", SNAPSHOT, "--run-instances", file, "--as", ALICE, "--session-policy", policy)
    assert res.exit_code == 2 and "is not a role session" in res.output
    res = _run(
        "simulate", str(EXAMPLES / "asg-slr-missing" / "snapshot"), "--asg", "web-asg", "--session-policy", policy
    )
    assert res.exit_code == 2 and "name the session with --as" in res.output


def test_dry_run_of_a_service_launch_needs_the_caller(tmp_path: Path) -> None:
    folder = EXAMPLES / "ec2-fleet-maintain"
    data = json.loads((folder / "create-fleet.json").read_text())
    file = _write(tmp_path, "dry.json", {**data, "DryRun": True})
    res = _run("simulate", str(folder / "snapshot"), "--create-fleet", file)
    assert res.exit_code == 2 and "DryRun" in res.output
    res = _run("simulate", str(folder / "snapshot"), "--create-fleet", file, "--as", ALICE, "--format", "json")
    assert res.exit_code == 0 and json.loads(res.output)["outcome"]["error"]["Code"] == "DryRunOperation"
