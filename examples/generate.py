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

from kmslaunch.launch.request import simulate
from kmslaunch.launch.result import LaunchKind
from kmslaunch.scenarios import SCENARIOS
from kmslaunch.snapshot.save import save_snapshot


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
        if req.kind is LaunchKind.AUTO_SCALING:
            replay = f"--asg {req.group}"
        else:
            (folder / "run-instances.json").write_text(json.dumps(req.params, indent=4) + "\n")
            written.append(folder / "run-instances.json")
            replay = f"--instance {instance}"
        lines = [
            f"# {scenario.title}",
            "",
            f"Source: {scenario.doc}",
            "",
            f"The snapshot is the account right after the launch: the instance is `{result.outcome.state}`.",
            "",
            "```sh",
            f"kmslaunch doctor examples/{scenario.name}/snapshot {replay}",
        ]
        if req.kind is not LaunchKind.AUTO_SCALING:
            lines.append(
                f"kmslaunch simulate examples/{scenario.name}/snapshot --run-instances "
                f"examples/{scenario.name}/run-instances.json --as {req.caller} --source-ip {req.source_ip}"
            )
        lines += [
            f"kmslaunch fix examples/{scenario.name}/snapshot {replay} --out /tmp/{scenario.name}-fixed",
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
