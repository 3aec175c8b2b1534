"""Write the bundled example snapshots from kmslaunch's documented scenarios.

Each example is an account as `kmslaunch collect` would see it right after the launch failed (or succeeded):
its IAM, keys, images, Auto Scaling groups, and the CloudTrail records of that launch. Run from the repository
root: `python examples/generate.py`. A test checks that the bundled files are what this script writes.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from click.testing import CliRunner

from kmslaunch.cli.main import cli
from kmslaunch.launch.request import LaunchRequest, simulate
from kmslaunch.launch.result import LaunchKind
from kmslaunch.preflight.planjson import PlanBuilder
from kmslaunch.preflight.scenarios import (
    AMI,
    AMI_PARAMETER,
    ASG_KEY_TEMPLATE,
    CDK_AMI_SSM,
    PREFLIGHT_EXAMPLES,
    PREFLIGHT_SCENARIOS,
    TEMPLATE_SCENARIOS,
    account_world,
)
from kmslaunch.scenarios import SCENARIOS
from kmslaunch.snapshot.save import save_snapshot
from kmslaunch.world.world import World

# The README's command prefix: the virtualenv its set-up line makes, run from the repository root.
KMSLAUNCH = ".venv/bin/kmslaunch"


def _as(req: LaunchRequest) -> str:
    return f" --as {req.caller}" if req.caller else ""


def _ip(req: LaunchRequest) -> str:
    return f" --source-ip {req.source_ip}" if req.source_ip else ""


def _launch_args(
    world: World, name: str, req: LaunchRequest, instance: str | None
) -> tuple[str, list[str], list[Path]]:
    """How the example's README names its launch: the LAUNCH options the doctor and fix replay it with, extra
    simulate commands, and the input files they read (written next to the snapshot)."""
    folder = f"examples/{name}"
    if req.kind is LaunchKind.AUTO_SCALING:
        assert req.group is not None
        group = world.account(req.account).region(req.region).autoscaling.groups[req.group]
        if group.eks_nodegroup:
            cluster, nodegroup = group.eks_nodegroup
            return f"--eks-nodegroup {cluster}/{nodegroup}", [f"--asg {req.group}"], []
        return f"--asg {req.group}", [], []
    if req.kind is LaunchKind.START_INSTANCES:
        return f"--start-instances {req.instance_id}{_as(req)}{_ip(req)}", [], []
    if req.form in ("create-fleet", "request-spot-instances"):
        file = f"{folder}/{req.form}.json"
        return f"--{req.form} {file}{_as(req)}{_ip(req)}", [], [Path(f"{req.form}.json")]
    file = f"{folder}/run-instances.json"
    return f"--instance {instance}", [f"--run-instances {file}{_as(req)}{_ip(req)}"], [Path("run-instances.json")]


def write_examples(root: Path) -> list[Path]:
    written: list[Path] = []
    for scenario in SCENARIOS:
        world, req = scenario.build()
        result = simulate(world, req)
        folder = root / scenario.name
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        written += save_snapshot(world, folder / "snapshot", meta={"collected_at": "2026-01-15T09:31:00Z"})
        instance = result.instance_ids[0] if result.instance_ids else None
        replay, simulations, inputs = _launch_args(world, scenario.name, req, instance)
        for rel in inputs:
            (folder / rel).write_text(json.dumps(req.params, indent=4) + "\n")
            written.append(folder / rel)
        lines = [
            f"# {scenario.title}",
            "",
            f"Source: {scenario.doc}",
            "",
            f"Launched as: `{result.principal}` (EC2 makes the volumes' KMS calls as this identity; the instance "
            "identity decrypts).",
            "",
            f"The snapshot is the account right after the launch: the instance is `{result.outcome.state}`.",
            "",
            "From the repository root, after the README's set-up:",
            "",
            "```sh",
            f"{KMSLAUNCH} doctor examples/{scenario.name}/snapshot {replay}",
        ]
        lines += [f"{KMSLAUNCH} simulate examples/{scenario.name}/snapshot {args}" for args in simulations]
        lines += [
            f"{KMSLAUNCH} fix examples/{scenario.name}/snapshot {replay} --out /tmp/{scenario.name}-fixed",
            "```",
            "",
        ]
        (folder / "README.md").write_text("\n".join(lines))
        written.append(folder / "README.md")
    written += write_preflight_examples(root) + write_template_preflight_examples(root)
    return written + write_cdk_preflight_examples(root) + write_change_plans(root)


# The success example's key (alias/app-data), as Terraform's state knows it.
APP_DATA_KEY = "arn:aws:kms:us-east-1:111122223333:key/3ff5ba93-a89b-4ec2-a7a8-23aefad6c857"


def key_policy_plan(key_arn: str, policy: dict[str, object], address: str = "aws_kms_key.data") -> PlanBuilder:
    """A plan updating the key ``key_arn`` (in state) to ``policy``: what ``kmslaunch impact --plan`` reads."""
    key_id = key_arn.rsplit("/", 1)[-1]
    before = {"arn": key_arn, "key_id": key_id, "id": key_id, "is_enabled": True, "description": "app data"}
    after = {**before, "policy": json.dumps(policy)}
    return PlanBuilder().add(address, after, actions=("update",), before=before)


def write_change_plans(root: Path) -> list[Path]:
    """examples/changes/key-deny-plan.json: key-deny-outside-network.json put on alias/app-data by Terraform."""
    policy = json.loads((Path(__file__).parent / "changes" / "key-deny-outside-network.json").read_text())
    folder = root / "changes"
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / "key-deny-plan.json"
    out.write_text(json.dumps(key_policy_plan(APP_DATA_KEY, policy).to_json(), indent=2) + "\n")
    return [out]


def write_preflight_examples(root: Path) -> list[Path]:
    """The pre-flight examples: a Terraform plan (as terraform show -json prints it), the snapshot of the
    account it is applied to, and a README with the check command and what it prints."""
    written: list[Path] = []
    for scenario in PREFLIGHT_SCENARIOS:
        folder = root / scenario.name
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        written += save_snapshot(account_world(), folder / "snapshot", meta={"collected_at": "2026-01-15T09:31:00Z"})
        (folder / "plan.json").write_text(json.dumps(scenario.build(), indent=2) + "\n")
        written.append(folder / "plan.json")
        where = f"examples/{scenario.name}"
        args = ["check", f"{where}/plan.json", "--snapshot", f"{where}/snapshot"]
        lines = [
            f"# {scenario.title}",
            "",
            f"Source: {scenario.doc}",
            "",
            "`plan.json` is what `terraform show -json plan.out` prints for the plan; `snapshot/` is the account "
            "it is applied to. From the repository root, after the README's set-up:",
        ]
        lines = _check_readme(root, args, lines)
        (folder / "README.md").write_text("\n".join(lines))
        written.append(folder / "README.md")
    return written


# Reading a template needs cfn-lint (the check extra), which the README's demo set-up does not install.
FROM_ROOT = (
    "From the repository root, after the README's set-up and `.venv/bin/pip install -e '.[check]'` (cfn-lint "
    "reads the template):"
)


def _check_readme(root: Path, args: list[str], lines: list[str]) -> list[str]:
    """The README's check command and what it prints."""
    res = CliRunner().invoke(cli, [a.replace("examples/", f"{root}/", 1) for a in args])
    output = res.output.replace(f"{root}/", "examples/")
    return [
        *lines,
        "",
        "```sh",
        f"{KMSLAUNCH} {' '.join(args)}",
        "```",
        "",
        f"prints (exit status {res.exit_code}):",
        "",
        "```text",
        output.rstrip("\n"),
        "```",
        "",
    ]


def write_template_preflight_examples(root: Path) -> list[Path]:
    """The CloudFormation pre-flight examples: a hand-written YAML template (short-form tags), the snapshot of
    the account it is deployed into, and a README with the check command (its --parameter and --ssm) and what it
    prints."""
    written: list[Path] = []
    for scenario in TEMPLATE_SCENARIOS:
        folder = root / scenario.name
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        written += save_snapshot(account_world(), folder / "snapshot", meta={"collected_at": "2026-01-15T09:31:00Z"})
        (folder / "template.yaml").write_text(ASG_KEY_TEMPLATE)
        written.append(folder / "template.yaml")
        where = f"examples/{scenario.name}"
        args = ["check", f"{where}/template.yaml", "--snapshot", f"{where}/snapshot"]
        args += [a for k, v in scenario.parameters for a in ("--parameter", f"{k}={v}")]
        args += ["--ssm", f"{AMI_PARAMETER}={AMI}"]
        lines = [
            f"# {scenario.title}",
            "",
            f"Source: {scenario.doc}",
            "",
            "`template.yaml` is a CloudFormation template (YAML, short-form tags): a key, a launch template "
            "encrypting the root volume with it (`!GetAtt VolumeKey.Arn`) and an Auto Scaling group; the key "
            "policy names Auto Scaling's service-linked role only when the parameter `SlrInKeyPolicy` is `true` "
            "(`--parameter`). Its AMI is an SSM parameter CloudFormation reads when the stack is deployed: "
            f"`--ssm` gives its value. `snapshot/` is the account it is deployed into. {FROM_ROOT}",
        ]
        (folder / "README.md").write_text("\n".join(_check_readme(root, args, lines)))
        written.append(folder / "README.md")
    return written


# The real cdk synth output the CDK pre-flight examples check (the app and the versions: tests/fixtures/cdk/).
CDK_TEMPLATE = Path(__file__).resolve().parent.parent / "tests/fixtures/cdk/cdk.out/AsgDefaultKeyStack.template.json"
CDK_README = {
    "preflight-cdk-asg-default-key": (
        "Before deploy: a CDK Auto Scaling group on the account's default EBS key, which Auto Scaling cannot use",
        "In the account in `snapshot/` (before the stack is deployed) the region's default EBS key is a customer "
        "managed key, `alias/ebs-default`, with CreateKey's default policy: it delegates to IAM, and the Auto "
        "Scaling service-linked role, whose IAM policy cannot be changed, gets no KMS permission from it. Every "
        "instance the group launches would be terminated: the template is fine, the account is not, and the fix "
        "is to that key's policy.",
    ),
    "preflight-cdk-asg-default-key-control": (
        "Before deploy: the same CDK stack, the default EBS key's policy allowing the service-linked role (passes)",
        "Here the default key's policy also gives Auto Scaling's service-linked role the two statements the guide "
        "asks for.",
    ),
}


def write_cdk_preflight_examples(root: Path) -> list[Path]:
    """The CDK pre-flight examples: the synthesized template, the snapshot of the account (from
    ``kmslaunch.preflight.scenarios.PREFLIGHT_EXAMPLES``) and a README with the check command and what it prints."""
    written: list[Path] = []
    for name, build in PREFLIGHT_EXAMPLES.items():
        folder = root / name
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        written += save_snapshot(build(), folder / "snapshot", meta={"collected_at": "2026-01-15T09:31:00Z"})
        shutil.copyfile(CDK_TEMPLATE, folder / CDK_TEMPLATE.name)
        written.append(folder / CDK_TEMPLATE.name)
        where = f"examples/{name}"
        args = ["check", f"{where}/{CDK_TEMPLATE.name}", "--snapshot", f"{where}/snapshot"]
        args += [a for k, v in CDK_AMI_SSM.items() for a in ("--ssm", f"{k}={v}")]
        title, account = CDK_README[name]
        lines = [
            f"# {title}",
            "",
            "Source: https://docs.aws.amazon.com/autoscaling/ec2/userguide/key-policy-requirements-EBS-encryption.html",
            "",
            f"`{CDK_TEMPLATE.name}` is the real `cdk synth` output of an Auto Scaling group with `blockDevices: "
            "[{deviceName: '/dev/xvda', volume: BlockDeviceVolume.ebs(8, {encrypted: true})}]` and no key (the app "
            "and the versions are in `tests/fixtures/cdk/`). With no key named, EBS encrypts the volumes with the "
            f"region's default EBS key. {account}",
            "",
            "The group's AMI is CDK's SSM parameter lookup, which CloudFormation resolves when the stack is "
            "deployed: `--ssm` gives its value (what `aws ssm get-parameter --name NAME` prints; without it the AMI "
            f"is unknown and a passing check exits 3). {FROM_ROOT}",
        ]
        lines = _check_readme(root, args, lines)
        (folder / "README.md").write_text("\n".join(lines))
        written.append(folder / "README.md")
    return written


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent
    files = write_examples(out)
    print(f"wrote {len(files)} files under {out}")
