"""``kmslaunch audit``: every launch path of a snapshot, what would fail and the fix; and a lint of the policies."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from kmslaunch.audit.engine import assemble, audit
from kmslaunch.audit.html import render_html
from kmslaunch.audit.render import render_markdown, render_sarif, render_text, to_json
from kmslaunch.audit.units import AuditOptions, prime, run_units, units
from kmslaunch.cli.common import emit_json, emit_lines
from kmslaunch.cli.launchopts import open_snapshot


@click.command(
    "audit",
    epilog="""\b
Examples:
  kmslaunch audit examples/asg-slr-missing/snapshot
  kmslaunch audit SNAPSHOT --format sarif > audit.sarif
  kmslaunch audit SNAPSHOT --workers 2 --format json > audit.json""",
)
@click.argument("snapshot", type=click.Path(path_type=Path, file_okay=False))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "markdown", "sarif", "html"]),
    default="text",
    show_default=True,
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Audit the accounts in this many processes (the report is the same as with 1).",
)
def audit_command(snapshot: Path, fmt: str, workers: int) -> None:
    """Simulate every launch path in SNAPSHOT (Auto Scaling groups, launch templates, each principal allowed
    ec2:RunInstances with each key it could use, the default EBS key) and lint key policies and KMS IAM
    statements for known traps.

    Exit status: 0 nothing fails, 1 a path would fail or a lint finding is an error, 2 bad input.
    """
    snap = open_snapshot(snapshot)
    bar: Any = None

    def progress(n: int) -> None:
        nonlocal bar
        if bar is None:
            bar = click.progressbar(length=n, label="auditing accounts", file=sys.stderr, show_pos=True)
        else:
            bar.update(n)

    # A progress line only on a terminal: in a pipe or a file, stderr stays for errors.
    shown = progress if sys.stderr.isatty() else None
    if workers > 1:
        options = AuditOptions(locations=fmt == "sarif", root=str(snapshot) if snapshot.is_dir() else None)
        where = str(snap.path.resolve())
        prime(where, snap.world)
        results = run_units(units(where, snap.world, options), workers, shown)
        report = assemble(snap.world, results, snapshot=str(snapshot), unknown=snap.unknown)
    else:
        report = audit(snap.world, snapshot=str(snapshot), unknown=snap.unknown, progress=shown)
    if bar is not None:
        bar.render_finish()
    if fmt == "json":
        # One launch path per line: an organization's report is too large to indent in full (cli.jsonout).
        emit_json(to_json(report, lazy=True), flat=2)
    elif fmt == "markdown":
        click.echo(render_markdown(report), nl=False)
    elif fmt == "sarif":
        emit_json(render_sarif(report, uri=str(snapshot)), flat=4)
    elif fmt == "html":
        click.echo(render_html(report), nl=False)
    else:
        emit_lines(render_text(report))
    raise SystemExit(report.exit_code)
