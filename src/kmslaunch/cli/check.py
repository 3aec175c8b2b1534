"""``kmslaunch check PLAN``: before anything is applied, whether the launch paths a Terraform plan, a
CloudFormation template or a CDK cloud assembly (``cdk.out``, one plan per stack) creates would fail on KMS."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from kmslaunch.cli.common import EXIT_OK, bundled, emit_json, emit_lines, fail
from kmslaunch.cli.launchopts import open_snapshot
from kmslaunch.policy.errors import KmslaunchError
from kmslaunch.preflight.check import FORMAT, CheckReport, check_plan
from kmslaunch.preflight.cloudformation import read_cdk_out, read_template
from kmslaunch.preflight.model import Plan
from kmslaunch.preflight.render import render_html, render_markdown, render_sarif, render_text
from kmslaunch.preflight.terraform import is_terraform_plan, parse_terraform_plan


@click.command(
    "check",
    epilog="""\b
Examples:
  kmslaunch check examples/preflight-kops-asg-slr/plan.json --snapshot examples/preflight-kops-asg-slr/snapshot
  terraform show -json plan.out > plan.json && kmslaunch check plan.json --format sarif > check.sarif
  cdk synth && kmslaunch check cdk.out --snapshot snapshot
  kmslaunch check examples/preflight-cfn-asg-key-control/template.yaml \\
    --snapshot examples/preflight-cfn-asg-key-control/snapshot \\
    --parameter SlrInKeyPolicy=true --ssm /app/base-ami=ami-0a1b2c3d4e5f60718""",
)
@click.argument("plan", type=click.Path(path_type=Path))
@click.option(
    "--snapshot",
    type=click.Path(path_type=Path, file_okay=False),
    help="The account the plan is applied to (kmslaunch collect); without it, what the plan does not define "
    "is unknown.",
)
@click.option(
    "--as",
    "caller",
    metavar="ARN",
    help="The identity terraform apply (or CloudFormation's service role) runs as: the launches it makes itself "
    "(instances, instant fleets, volumes) are simulated as it.",
)
@click.option(
    "--parameter",
    "parameters",
    metavar="KEY=VALUE",
    multiple=True,
    help="A CloudFormation template parameter's value, as aws cloudformation deploy --parameter-overrides takes "
    "it (repeatable); a parameter not given takes its Default.",
)
@click.option(
    "--ssm",
    "ssm",
    metavar="NAME=VALUE",
    multiple=True,
    help="The value of an SSM parameter a template parameter of type AWS::SSM::Parameter::Value<...> names "
    "(repeatable): CDK's AMI lookups, e.g. --ssm /aws/service/ami-amazon-linux-latest/al2023-ami-kernel-6.1-x86_64="
    "ami-0453ec754f44f9a4a (aws ssm get-parameter --name NAME prints it); without it that value is unknown.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "markdown", "sarif", "html"]),
    default="text",
    show_default=True,
)
@click.option("--soft-fail", is_flag=True, help="Exit 0 whatever the verdicts (the report is the same).")
def check_command(
    plan: Path,
    snapshot: Path | None,
    caller: str | None,
    parameters: tuple[str, ...],
    ssm: tuple[str, ...],
    fmt: str,
    soft_fail: bool,
) -> None:
    """Simulate every launch path PLAN creates or changes (Auto Scaling groups, EKS managed node groups,
    instances, fleets, volumes) as `simulate` would, before anything is applied. PLAN is `terraform show -json`
    output, a CloudFormation template (YAML or JSON), or a CDK cloud assembly directory (`cdk.out`: each stack
    is checked, in one report; --format json then gives {"plans": [...]}, one report per stack).

    Exit status: 0 every path runs, 1 a path fails, 2 bad input, 3 a path runs only unless something the plan
    and snapshot do not hold refuses it (or could not be simulated); --soft-fail exits 0.
    """
    given = parse_pairs("--parameter", parameters)
    values = parse_pairs("--ssm", ssm)
    path = bundled(plan)
    plans = read_plans(path, given, values)
    snap = open_snapshot(snapshot) if snapshot is not None else None
    try:
        reports = [check_plan(p, snap, caller=caller) for p in plans]
    except KmslaunchError as exc:
        fail(str(exc))
    if fmt == "json":
        emit_json(reports[0].to_json() if not path.is_dir() else _assembly_json(path, reports))
    elif fmt == "markdown":
        click.echo(render_markdown(reports), nl=False)
    elif fmt == "sarif":
        emit_json(render_sarif(reports))
    elif fmt == "html":
        click.echo(render_html(reports), nl=False)
    else:
        emit_lines(render_text(reports))
    codes = {r.exit_code for r in reports}
    raise SystemExit(EXIT_OK if soft_fail else 1 if 1 in codes else 3 if 3 in codes else 0)


def parse_pairs(flag: str, items: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            fail(f"{flag} {item}: expected KEY=VALUE")
        out[key] = value
    return out


def _assembly_json(path: Path, reports: list[CheckReport]) -> dict[str, Any]:
    """A cdk.out's reports, one per stack, with the totals."""
    summaries = [r.to_json()["summary"] for r in reports]
    return {
        "format": FORMAT,
        "assembly": str(path),
        "summary": {k: sum(s[k] for s in summaries) for k in ("paths", "failing", "unless", "runs")},
        "plans": [r.to_json() for r in reports],
    }


def read_plans(path: Path, parameters: dict[str, str], ssm: dict[str, str]) -> list[Plan]:
    """A cdk.out directory (one plan per stack); a Terraform plan (JSON with format_version and planned_values
    or resource_changes); else a CloudFormation template."""
    try:
        if path.is_dir():
            return read_cdk_out(path, parameters, ssm=ssm)
        if not path.is_file():
            fail(
                f"{path}: no such file (expected terraform show -json output, a CloudFormation template or a "
                "cdk.out directory)"
            )
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            fail(f"{path}: cannot read: {exc}")
        data: object = None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            if text.lstrip().startswith(("{", "[")):
                fail(f"{path}: not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")
        if is_terraform_plan(data):
            if parameters or ssm:
                fail(f"{path}: a Terraform plan: --parameter and --ssm apply to CloudFormation templates only")
            return [parse_terraform_plan(data, str(path), text)]
        return [read_template(path, parameters, ssm=ssm)]
    except KmslaunchError as exc:
        fail(str(exc))
