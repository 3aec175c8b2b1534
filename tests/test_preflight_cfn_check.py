"""`kmslaunch check` on CloudFormation: a hand-written YAML template (the bundled examples/preflight-cfn-*), the
real cdk.out fixture (tests/fixtures/cdk, two stacks), --parameter and --ssm, and bad input."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from kmslaunch.cli.main import cli
from kmslaunch.preflight.scenarios import AMI, AMI_PARAMETER, TEMPLATE_SCENARIOS, account_world
from kmslaunch.snapshot.save import save_snapshot

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
CDK_OUT = ROOT / "tests" / "fixtures" / "cdk" / "cdk.out"
# The CDK fixture's account (CDK's default key policy; no default-key problem): the preflight examples' own.
CDK_SNAPSHOT = EXAMPLES / "preflight-kops-asg-slr" / "snapshot"
CDK_SSM = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-6.1-x86_64=ami-0a1b2c3d4e5f60718"
YAML = EXAMPLES / "preflight-cfn-asg-key" / "template.yaml"
SNAPSHOT = EXAMPLES / "preflight-cfn-asg-key" / "snapshot"
SSM = f"{AMI_PARAMETER}={AMI}"


def _run(*args: str) -> tuple[int, str]:
    res = CliRunner().invoke(cli, ["check", *args])
    return res.exit_code, res.output


def _line_of(path: Path, text: str) -> int:
    return next(i for i, ln in enumerate(path.read_text().splitlines(), 1) if ln == text)


@pytest.mark.parametrize("scenario", TEMPLATE_SCENARIOS, ids=lambda s: s.name)
def test_template_examples_run_as_their_readme_says(scenario) -> None:  # type: ignore[no-untyped-def]
    text = (EXAMPLES / scenario.name / "README.md").read_text()
    line = next(ln for ln in text.splitlines() if ln.startswith(".venv/bin/kmslaunch check "))
    args = [a.replace("examples/", f"{EXAMPLES}/", 1) for a in shlex.split(line)[2:]]
    code, output = _run(*args)
    assert code == (1 if scenario.expect == "fails" else 0), output
    assert ("✗ fails: auto-scaling-group AppGroup" in output) == (scenario.expect == "fails")


def test_yaml_template_failing_path_pinned_to_its_logical_ids_and_lines() -> None:
    group_line = _line_of(YAML, "  AppGroup:")
    key_line = _line_of(YAML, "  VolumeKey:")
    code, text = _run(str(YAML), "--snapshot", str(SNAPSHOT), "--ssm", SSM)
    assert code == 1
    assert f"✗ fails: auto-scaling-group AppGroup (line {group_line})" in text
    assert f"key: VolumeKey, line {key_line} (arn:aws:kms:us-east-1:111122223333:key/" in text
    assert f"add to the policy of VolumeKey (line {key_line} of the template), then check again:" in text
    code, out = _run(str(YAML), "--snapshot", str(SNAPSHOT), "--ssm", SSM, "--format", "json")
    (path,) = json.loads(out)["paths"]
    assert (path["address"], path["line"], path["key_address"], path["key_line"]) == (
        "AppGroup",
        group_line,
        "VolumeKey",
        key_line,
    )
    assert json.loads(out)["plan_format"] == "cloudformation"
    code, out = _run(str(YAML), "--snapshot", str(SNAPSHOT), "--ssm", SSM, "--format", "sarif")
    (result,) = json.loads(out)["runs"][0]["results"]
    loc = result["locations"][0]
    assert loc["physicalLocation"]["artifactLocation"]["uri"].endswith("preflight-cfn-asg-key/template.yaml")
    assert loc["physicalLocation"]["region"]["startLine"] == key_line  # the key's policy decides
    assert [x["name"] for x in loc["logicalLocations"]] == ["AppGroup", "VolumeKey"]


def test_parameter_decides_the_key_policy_condition() -> None:
    code, out = _run(str(YAML), "--snapshot", str(SNAPSHOT), "--ssm", SSM, "--parameter", "SlrInKeyPolicy=true")
    assert code == 0, out
    assert "✓ runs: auto-scaling-group AppGroup" in out


def test_without_ssm_the_ami_is_unknown_and_a_passing_path_runs_only_unless() -> None:
    code, out = _run(str(YAML), "--snapshot", str(SNAPSHOT), "--parameter", "SlrInKeyPolicy=true")
    assert code == 3, out
    assert "runs-unless" in out and AMI_PARAMETER in out


@pytest.mark.parametrize(
    ("args", "expect"),
    [
        (["--parameter", "Nope=1"], "Parameters: no parameter 'Nope' in the template"),
        (["--parameter", "SlrInKeyPolicy"], "--parameter SlrInKeyPolicy: expected KEY=VALUE"),
        (["--ssm", "=ami-1"], "--ssm =ami-1: expected KEY=VALUE"),
    ],
)
def test_bad_options_exit_2_in_one_line(args: list[str], expect: str) -> None:
    code, out = _run(str(YAML), *args)
    assert code == 2
    assert expect in out and len(out.strip().splitlines()) == 1 and "Traceback" not in out


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        ("Resources: [1, 2]\n", "Resources: expected a map of logical ids to resources"),
        ("Resources:\n  A: {Properties: {}}\n", "Resources.A: expected a resource"),
        ("Resources:\n  A: {Type: 'AWS::KMS::Key'\n", "not a YAML or JSON template"),
        ("Resources:\n  A:\n    Type: AWS::EC2::LaunchTemplate\n    Properties: {LaunchTemplateData: !Ref B}\n", ""),
    ],
)
def test_bad_template_exits_2_naming_the_file_in_one_line(tmp_path: Path, text: str, expect: str) -> None:
    path = tmp_path / "template.yaml"
    path.write_text(text)
    code, out = _run(str(path))
    assert code == 2, out
    assert out.startswith(f"kmslaunch: {path}") and expect in out
    assert len(out.strip().splitlines()) == 1 and "Traceback" not in out


def test_parameter_on_a_terraform_plan_exits_2() -> None:
    code, out = _run(str(EXAMPLES / "preflight-kops-asg-slr" / "plan.json"), "--parameter", "A=b")
    assert code == 2 and "CloudFormation templates only" in out


def test_cdk_out_checks_each_stack_in_one_report(tmp_path: Path) -> None:
    code, text = _run(str(CDK_OUT), "--snapshot", str(CDK_SNAPSHOT), "--ssm", CDK_SSM)
    assert code == 1
    assert text.count("kmslaunch check: ") == 2
    cmk = CDK_OUT / "AsgCmkStack.template.json"
    key_line = _line_of(cmk, '  "VolumeKeyB3FBD601": {')
    group_line = _line_of(cmk, '  "AsgASGD1D7B4E2": {')
    assert f"✗ fails: auto-scaling-group AsgCmkStack/Asg/ASG (AsgASGD1D7B4E2) (line {group_line})" in text
    assert f"key: AsgCmkStack/VolumeKey (VolumeKeyB3FBD601), line {key_line}" in text
    code, out = _run(str(CDK_OUT), "--snapshot", str(CDK_SNAPSHOT), "--ssm", CDK_SSM, "--format", "json")
    data = json.loads(out)
    assert data["assembly"] == str(CDK_OUT) and len(data["plans"]) == 2
    by_stack = {Path(p["plan"]).name: p for p in data["plans"]}
    (path,) = by_stack["AsgCmkStack.template.json"]["paths"]
    assert path["source_address"] == "AsgCmkStack/Asg/ASG (AsgASGD1D7B4E2)"
    assert (path["key_address"], path["key_line"]) == ("VolumeKeyB3FBD601", key_line)
    # This account's default EBS key is aws/ebs: the default-key stack runs.
    assert data["summary"] == {"paths": 2, "failing": 1, "unless": 0, "runs": 1}
    code, out = _run(str(CDK_OUT), "--snapshot", str(CDK_SNAPSHOT), "--ssm", CDK_SSM, "--format", "sarif")
    (result,) = json.loads(out)["runs"][0]["results"]
    loc = result["locations"][0]
    assert loc["physicalLocation"]["artifactLocation"]["uri"].endswith("cdk.out/AsgCmkStack.template.json")
    assert loc["physicalLocation"]["region"]["startLine"] == key_line
    assert loc["logicalLocations"][1]["fullyQualifiedName"] == "AsgCmkStack/VolumeKey (VolumeKeyB3FBD601)"
    for fmt in ("markdown", "html"):
        code, out = _run(str(CDK_OUT), "--snapshot", str(CDK_SNAPSHOT), "--ssm", CDK_SSM, "--format", fmt)
        assert code == 1 and "AsgCmkStack/Asg/ASG (AsgASGD1D7B4E2)" in out and "AsgDefaultKeyStack" in out


def test_a_directory_that_is_not_a_cdk_out_exits_2(tmp_path: Path) -> None:
    code, out = _run(str(tmp_path))
    assert code == 2 and "manifest.json" in out and "cdk.out" in out


def test_without_snapshot_a_template_takes_the_cdk_environment(tmp_path: Path) -> None:
    # The account and region come from the manifest: no placeholder account in the report.
    code, out = _run(str(CDK_OUT / "AsgCmkStack.template.json"), "--ssm", CDK_SSM)
    assert code == 1, out
    assert "account 111122223333, region us-east-1" in out


def test_snapshot_written_for_a_template_reads_back(tmp_path: Path) -> None:
    # The YAML template's account: a snapshot written here is one check reads (the examples' own).
    save_snapshot(account_world(), tmp_path / "snap")
    code, out = _run(str(YAML), "--snapshot", str(tmp_path / "snap"), "--ssm", SSM)
    assert code == 1 and "AppGroup" in out
