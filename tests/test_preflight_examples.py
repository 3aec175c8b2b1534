"""The pre-flight examples (examples/preflight-*): each holds a synthesized CDK template and the snapshot of the
account it is checked against. The snapshots are what ``write_preflight_examples`` writes from
``kmslaunch.scenarios.PREFLIGHT_EXAMPLES``; the templates are the CDK fixture's, unchanged.

To rewrite them: ``PYTHONPATH=src python tests/test_preflight_examples.py`` from the repository root.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from click.testing import CliRunner

from kmslaunch.cli.main import cli
from kmslaunch.preflight.cloudformation import read_template
from kmslaunch.scenarios import AUTO_SCALING_SESSION, CDK_AMI_SSM, CDK_ASG_RUN_INSTANCES, PREFLIGHT_EXAMPLES
from kmslaunch.snapshot.save import save_snapshot

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
TEMPLATE = ROOT / "tests" / "fixtures" / "cdk" / "cdk.out" / "AsgDefaultKeyStack.template.json"


def write_preflight_examples(root: Path) -> list[Path]:
    """Each example's snapshot, template and run-instances.json (its README is written by hand)."""
    written: list[Path] = []
    for name, build in PREFLIGHT_EXAMPLES.items():
        folder = root / name
        if (folder / "snapshot").exists():
            shutil.rmtree(folder / "snapshot")
        folder.mkdir(parents=True, exist_ok=True)
        written += save_snapshot(build(), folder / "snapshot", meta={"collected_at": "2026-01-15T09:31:00Z"})
        shutil.copyfile(TEMPLATE, folder / TEMPLATE.name)
        (folder / "run-instances.json").write_text(json.dumps(CDK_ASG_RUN_INSTANCES, indent=4) + "\n")
        written += [folder / TEMPLATE.name, folder / "run-instances.json"]
    return written


def test_preflight_examples_are_up_to_date(tmp_path: Path) -> None:
    made = write_preflight_examples(tmp_path)
    assert made
    for file in made:
        bundled = EXAMPLES / file.relative_to(tmp_path)
        assert bundled.is_file(), f"{bundled} is missing: run PYTHONPATH=src python tests/test_preflight_examples.py"
        assert bundled.read_bytes() == file.read_bytes(), f"{bundled} is stale"
    for name in PREFLIGHT_EXAMPLES:
        # Nothing else in the snapshot: a file left over from an older version would be read too.
        bundled = {p.relative_to(EXAMPLES / name) for p in (EXAMPLES / name / "snapshot").rglob("*") if p.is_file()}
        written = {p.relative_to(tmp_path / name) for p in (tmp_path / name / "snapshot").rglob("*") if p.is_file()}
        assert bundled == written


def test_the_example_template_reads_as_the_launch_the_snapshot_replays() -> None:
    # run-instances.json is what the group's launch template asks of RunInstances, with the AMI its SSM
    # parameter resolves to, an image the snapshot lists.
    folder = EXAMPLES / "preflight-cdk-asg-default-key"
    plan = read_template(folder / TEMPLATE.name, ssm=CDK_AMI_SSM)
    (template,) = [r for r in plan.resources if r.kind == "launch_template"]
    data = template.values["LaunchTemplateData"]
    assert isinstance(data, dict)
    assert data["ImageId"] == CDK_ASG_RUN_INSTANCES["ImageId"]
    images = json.loads((folder / "snapshot/111122223333/us-east-1/ec2/describe-images.json").read_text())
    assert [i["ImageId"] for i in images["Images"]] == [data["ImageId"]]
    assert data["BlockDeviceMappings"] == CDK_ASG_RUN_INSTANCES["BlockDeviceMappings"]
    assert data["InstanceType"] == CDK_ASG_RUN_INSTANCES["InstanceType"]


def _simulate_as_auto_scaling(name: str) -> str:
    folder = EXAMPLES / name
    res = CliRunner().invoke(
        cli,
        [
            "simulate",
            str(folder / "snapshot"),
            "--run-instances",
            str(folder / "run-instances.json"),
            "--as",
            AUTO_SCALING_SESSION,
        ],
    )
    return f"{res.exit_code}\n{res.output}"


def test_the_default_key_refuses_auto_scaling_and_the_control_allows_it() -> None:
    failing = _simulate_as_auto_scaling("preflight-cdk-asg-default-key")
    assert failing.startswith("1\n"), failing
    assert "AWSServiceRoleForAutoScaling" in failing
    control = _simulate_as_auto_scaling("preflight-cdk-asg-default-key-control")
    assert control.startswith("0\n"), control


if __name__ == "__main__":
    files = write_preflight_examples(EXAMPLES)
    print(f"wrote {len(files)} files under {EXAMPLES}")
