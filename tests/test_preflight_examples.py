"""The CDK pre-flight examples (examples/preflight-cdk-*): a synthesized CDK template and the snapshot of the
account it is deployed into, checked as their README says. examples/generate.py writes them
(tests/test_examples.py keeps them in step); the template is the CDK fixture's, unchanged."""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path

from click.testing import CliRunner

from kmslaunch.cli.main import cli
from kmslaunch.preflight.cloudformation import read_template
from kmslaunch.preflight.scenarios import CDK_AMI, CDK_AMI_SSM, PREFLIGHT_EXAMPLES

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
TEMPLATE = ROOT / "tests" / "fixtures" / "cdk" / "cdk.out" / "AsgDefaultKeyStack.template.json"


def _readme_check(name: str) -> list[str]:
    text = (EXAMPLES / name / "README.md").read_text()
    (line,) = [ln for ln in text.splitlines() if ln.startswith(".venv/bin/kmslaunch check ")]
    return [a.replace("examples/", str(EXAMPLES) + "/", 1) for a in shlex.split(line)[1:]]


def test_the_example_template_is_the_fixture_and_its_ami_is_in_the_snapshot() -> None:
    for name in PREFLIGHT_EXAMPLES:
        folder = EXAMPLES / name
        assert (folder / TEMPLATE.name).read_bytes() == TEMPLATE.read_bytes()
        plan = read_template(folder / TEMPLATE.name, ssm=CDK_AMI_SSM)
        (template,) = [r for r in plan.resources if r.kind == "launch_template"]
        data = template.values["LaunchTemplateData"]
        assert isinstance(data, dict)
        assert data["ImageId"] == CDK_AMI
        images = json.loads((folder / "snapshot/111122223333/us-east-1/ec2/describe-images.json").read_text())
        assert [i["ImageId"] for i in images["Images"]] == [data["ImageId"]]


def test_the_default_key_refuses_auto_scaling_and_the_control_allows_it() -> None:
    res = CliRunner().invoke(cli, [*_readme_check("preflight-cdk-asg-default-key"), "--format", "json"])
    assert res.exit_code == 1, res.output
    out = json.loads(res.output)
    (path,) = out["paths"]
    assert path["verdict"] == "fails" and path["address"] == "AsgASGD1D7B4E2"
    assert path["source_address"] == "AsgDefaultKeyStack/Asg/ASG (AsgASGD1D7B4E2)" and path["line"] == 346
    assert "AWSServiceRoleForAutoScaling" in path["headline"]
    assert path["key_origin"].startswith("the account's default EBS key (alias/ebs-default)")
    (fix,) = path["fix"]["fixes"]
    assert path["fix"]["verified"] and fix["kind"] == "key-policy" and fix["target"] == path["key"]
    assert any("AWSServiceRoleForAutoScaling" in json.dumps(s) for s in fix["statements"])
    control = CliRunner().invoke(cli, _readme_check("preflight-cdk-asg-default-key-control"))
    assert control.exit_code == 0, control.output
    assert "✓ runs: auto-scaling-group AsgDefaultKeyStack/Asg/ASG (AsgASGD1D7B4E2) (line 346)" in control.output


def test_the_fix_is_pasteable_the_policy_file_written_before_put_key_policy(tmp_path: Path) -> None:
    res = CliRunner().invoke(cli, _readme_check("preflight-cdk-asg-default-key"))
    lines = [ln.strip().removeprefix("$ ") for ln in res.output.splitlines() if ln.strip().startswith("$ ")]
    write, put = lines
    assert write.startswith("printf ") and put.startswith("aws kms put-key-policy")
    # The write, run by a shell, makes the file put-key-policy reads: the key's whole policy with the new statements.
    subprocess.run(write, shell=True, cwd=tmp_path, check=True)
    name = put.split("file://")[1].split()[0]
    policy = json.loads((tmp_path / name).read_text())
    sids = [s["Sid"] for s in policy["Statement"]]
    assert "Enable IAM User Permissions" in sids and len(sids) == 3
    assert any("AWSServiceRoleForAutoScaling" in json.dumps(s) for s in policy["Statement"][1:])


def test_without_ssm_the_control_runs_only_unless_its_ami_refuses_it() -> None:
    args = _readme_check("preflight-cdk-asg-default-key-control")
    res = CliRunner().invoke(cli, args[: args.index("--ssm")])
    assert res.exit_code == 3, res.output
    (ssm_name,) = CDK_AMI_SSM
    assert ssm_name in res.output and "runs-unless" in res.output
