"""``kmslaunch simulate SNAPSHOT LAUNCH``: replay a launch against an account snapshot."""

from __future__ import annotations

from pathlib import Path

import click

from kmslaunch.cli.common import emit_json, fail, launch_exit
from kmslaunch.cli.launchopts import launch_options, launch_request, open_snapshot
from kmslaunch.doctor.text import render_launch
from kmslaunch.launch.errors import NotInWorld
from kmslaunch.launch.request import simulate
from kmslaunch.policy.errors import InputError


@click.command(
    "simulate",
    epilog="""\b
Examples:
  kmslaunch simulate examples/kc-iam-user/snapshot --run-instances examples/kc-iam-user/run-instances.json \\
      --as arn:aws:iam::111122223333:user/alice
  kmslaunch simulate examples/kc-iam-user/snapshot --instance i-056cc6fd323c6308f --format json""",
)
@launch_options
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--trail/--no-trail", default=False, help="Text output: also list the CloudTrail records.")
def simulate_command(snapshot: Path, fmt: str, trail: bool, **launch: object) -> None:
    """Simulate a launch in an account snapshot: what AWS would show, and every KMS call with its decision.

    SNAPSHOT is a directory of AWS CLI outputs (see the README). Exit status: 0 the launch succeeds, 1 it
    fails, 2 bad input, 3 it succeeds only if what the snapshot does not hold allows it.
    """
    snap = open_snapshot(snapshot)
    req = launch_request(snap.world, **launch)  # type: ignore[arg-type]
    try:
        result = simulate(snap.world, req)
    except (NotInWorld, InputError) as exc:
        fail(str(exc))
    if fmt == "json":
        out = result.to_json()
        out["unknown"] = list(snap.unknown)
        emit_json(out)
    else:
        for line in render_launch(result, trail=trail):
            click.echo(line)
        for u in snap.unknown:
            click.echo(click.style(f"not in the snapshot: {u}", fg="yellow"), err=True)
    raise SystemExit(launch_exit(result))
