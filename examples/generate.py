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
from kmslaunch.preflight.scenarios import PREFLIGHT_SCENARIOS, account_world
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
    return written + write_preflight_examples(root)


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
        res = CliRunner().invoke(cli, [a.replace("examples/", f"{root}/", 1) for a in args])
        output = res.output.replace(f"{root}/", "examples/")
        lines = [
            f"# {scenario.title}",
            "",
            f"Source: {scenario.doc}",
            "",
            "`plan.json` is what `terraform show -json plan.out` prints for the plan; `snapshot/` is the account "
            "it is applied to. From the repository root, after the README's set-up:",
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
        (folder / "README.md").write_text("\n".join(lines))
        written.append(folder / "README.md")
    return written


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent
    files = write_examples(out)
    print(f"wrote {len(files)} files under {out}")
