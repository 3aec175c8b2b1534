"""``kmslaunch demo``: the Knowledge Center story of "Client error on launch", told in an account built in memory."""

from __future__ import annotations

import json

import click

from kmslaunch.doctor.diagnose import diagnose
from kmslaunch.doctor.text import render_diagnosis
from kmslaunch.launch.request import simulate
from kmslaunch.scenarios import by_name
from kmslaunch.world.fork import fork


def _section(title: str) -> None:
    click.echo("")
    click.echo(click.style("━" * 100, dim=True))
    click.echo(click.style(title, bold=True))
    click.echo(click.style("━" * 100, dim=True))


@click.command(
    "demo",
    epilog="""\b
Examples:
  kmslaunch demo
  kmslaunch demo --trail | less -R""",
)
@click.option("--trail/--no-trail", default=False, help="Also list the CloudTrail records of each launch.")
def demo_command(trail: bool) -> None:
    """Tell AWS's Knowledge Center story of an instance that terminates with Client.InternalError: the
    failure, the doctor's diagnosis, the verified fix, and the relaunch that runs.

    Needs nothing but kmslaunch: the account, the users, the keys and the image are built in memory.
    """
    click.echo(
        "An instance launched with an encrypted EBS volume goes pending -> shutting-down -> terminated, and\n"
        'describe-instances only says "Client error on launch". kmslaunch replays what EC2 did with KMS.'
    )
    for name, intro in (
        (
            "kc-iam-user",
            "1. alice has AmazonEC2FullAccess and launches an AMI encrypted with a customer managed key whose policy\n"
            "   is the one CreateKey gives by default (it lets IAM decide). Her IAM policies allow nothing of KMS.",
        ),
        (
            "kc-source-ip",
            "2. A second key refuses use from outside the corporate network (203.0.113.0/24) with aws:SourceIp.\n"
            "   alice has the KMS permissions EBS needs and launches from 203.0.113.10, inside the network.",
        ),
    ):
        scenario = by_name(name)
        world, req = scenario.build()
        diag = diagnose(world, req)
        _section(scenario.title)
        click.echo(intro)
        click.echo("")
        click.echo(click.style("$ aws ec2 run-instances " + _cli_args(req.params), dim=True))
        for line in render_diagnosis(diag, trail=trail):
            click.echo(line)
        plan = next((p for p in diag.plans if p.verified), None)
        if plan is None:
            continue
        fixed = fork(world)
        plan.apply(fixed)
        after = simulate(fixed, req)
        click.echo("")
        click.echo(click.style("After the fix, the same launch:", bold=True))
        for res in (after.view or {}).get("Reservations", []):
            for inst in res["Instances"]:
                state = inst["State"]["Name"]
                colour = "green" if state == "running" else "red"
                click.echo(f"  {inst['InstanceId']}  {click.style(state, fg=colour, bold=True)}")
        for i, c in enumerate(after.calls, 1):
            click.echo(f"  {i}. {c.action:<38} {c.verdict.value}  as {c.call.principal.arn}")
    click.echo("")
    click.echo("Assumptions behind these answers, where AWS documents nothing: kmslaunch assumptions")


def _cli_args(params: dict[str, object]) -> str:
    parts = []
    for k, v in params.items():
        flag = "--" + "".join("-" + c.lower() if c.isupper() else c for c in k).lstrip("-")
        parts.append(f"{flag} {v if isinstance(v, str | int) else json.dumps(v)}")
    return " ".join(parts)
