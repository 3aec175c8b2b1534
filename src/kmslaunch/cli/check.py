"""``kmslaunch check PLAN``: before anything is applied, whether the launch paths a Terraform plan (or a
CloudFormation template) creates would fail on KMS."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import click

from kmslaunch.cli.common import EXIT_OK, bundled, emit_json, fail
from kmslaunch.cli.launchopts import open_snapshot
from kmslaunch.policy.errors import KmslaunchError
from kmslaunch.preflight.check import check_plan
from kmslaunch.preflight.model import Plan
from kmslaunch.preflight.render import render_html, render_markdown, render_sarif, render_text
from kmslaunch.preflight.terraform import is_terraform_plan, parse_terraform_plan


@click.command(
    "check",
    epilog="""\b
Examples:
  kmslaunch check examples/preflight-kops-asg-slr/plan.json --snapshot examples/preflight-kops-asg-slr/snapshot
  terraform show -json plan.out > plan.json && kmslaunch check plan.json --format sarif > check.sarif""",
)
@click.argument("plan", type=click.Path(path_type=Path, dir_okay=False))
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
    help="The identity terraform apply runs as: the launches it makes itself (instances, instant fleets, "
    "volumes) are simulated as it.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "markdown", "sarif", "html"]),
    default="text",
    show_default=True,
)
@click.option("--soft-fail", is_flag=True, help="Exit 0 whatever the verdicts (the report is the same).")
def check_command(plan: Path, snapshot: Path | None, caller: str | None, fmt: str, soft_fail: bool) -> None:
    """Simulate every launch path PLAN creates or changes (Auto Scaling groups, EKS managed node groups,
    instances, fleets, volumes) as `simulate` would, before anything is applied. PLAN is `terraform show -json`
    output or a CloudFormation template.

    Exit status: 0 every path runs, 1 a path fails, 2 bad input, 3 a path runs only unless something the plan
    and snapshot do not hold refuses it (or could not be simulated); --soft-fail exits 0.
    """
    parsed = _read(bundled(plan))
    snap = open_snapshot(snapshot) if snapshot is not None else None
    try:
        report = check_plan(parsed, snap, caller=caller)
    except KmslaunchError as exc:
        fail(str(exc))
    if fmt == "json":
        emit_json(report.to_json())
    elif fmt == "markdown":
        click.echo(render_markdown(report), nl=False)
    elif fmt == "sarif":
        emit_json(render_sarif(report))
    elif fmt == "html":
        click.echo(render_html(report), nl=False)
    else:
        for line in render_text(report):
            click.echo(line)
    raise SystemExit(EXIT_OK if soft_fail else report.exit_code)


def _read(path: Path) -> Plan:
    """A Terraform plan (JSON with format_version and planned_values or resource_changes), else a
    CloudFormation template, read by the CloudFormation reader."""
    if not path.is_file():
        fail(f"{path}: no such file (expected terraform show -json output or a CloudFormation template)")
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
    try:
        if is_terraform_plan(data):
            return parse_terraform_plan(data, str(path), text)
        try:
            module = importlib.import_module("kmslaunch.preflight.cloudformation")
        except ModuleNotFoundError:
            fail(
                f"{path}: not a Terraform plan (no format_version with planned_values or resource_changes), and "
                "this kmslaunch cannot read CloudFormation templates yet: give terraform show -json output"
            )
        got = module.read_template(path)
        assert isinstance(got, Plan)
        return got
    except KmslaunchError as exc:
        fail(str(exc))
