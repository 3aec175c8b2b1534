"""``kmslaunch impact``: what a change to keys and policies breaks, across every launch path of a snapshot."""

from __future__ import annotations

import dataclasses
import shlex
from pathlib import Path

import click

from kmslaunch.cli.check import parse_pairs, read_plans
from kmslaunch.cli.common import EXIT_BAD_INPUT, bundled, emit_json, emit_lines, fail
from kmslaunch.cli.launchopts import open_snapshot
from kmslaunch.impact.changes import parse_changes
from kmslaunch.impact.compare import impact
from kmslaunch.impact.fromplan import PlanChanges, plan_changes
from kmslaunch.impact.render import render_html, render_markdown, render_sarif, render_text, to_json
from kmslaunch.policy.errors import KmslaunchError


def _find(file: str) -> Path:
    return bundled(Path(file))


@click.command(
    "impact",
    epilog="""\b
Examples:
  kmslaunch impact examples/success/snapshot --key-policy alias/app-data=examples/changes/key-deny-outside-network.json
  kmslaunch impact examples/asg-slr-missing/snapshot --key-policy alias/asg-data=examples/changes/asg-key-fix.json
  kmslaunch impact examples/success/snapshot --plan examples/changes/key-deny-plan.json
  kmslaunch impact SNAPSHOT --scp ou-ab12-34cd56ef=deny.json --disable-key alias/old --format sarif > impact.sarif""",
)
@click.argument("snapshot", type=click.Path(path_type=Path, file_okay=False))
@click.option("--key-policy", "key_policy", multiple=True, metavar="KEY=FILE", help="The key's whole new policy.")
@click.option(
    "--identity-policy",
    "identity_policy",
    multiple=True,
    metavar="ARN=FILE",
    help="A customer managed policy's new default version (ARN: the policy's), or an inline policy put "
    "(ARN: USER_ROLE_OR_GROUP_ARN#POLICY_NAME, replaced or added).",
)
@click.option(
    "--scp",
    multiple=True,
    metavar="TARGET=FILE",
    help="A new SCP attached to TARGET (root, r-…, ou-…, an account id); with TARGET an SCP's id (p-…), that "
    "policy's content replaced.",
)
@click.option("--rcp", multiple=True, metavar="TARGET=FILE", help="As --scp, for resource control policies.")
@click.option("--revoke-grant", "revoke_grant", multiple=True, metavar="KEY:GRANT_ID", help="Revoke a grant.")
@click.option(
    "--default-key",
    "default_key",
    multiple=True,
    metavar="[ACCOUNT:]REGION=KEY",
    help="ModifyEbsDefaultKmsKeyId; without ACCOUNT, the one account of the snapshot with REGION.",
)
@click.option("--disable-key", "disable_key", multiple=True, metavar="KEY", help="Disable a key.")
@click.option(
    "--plan",
    "plan",
    type=click.Path(path_type=Path),
    help="A plan's changes to what SNAPSHOT holds, as the other CHANGE options (terraform show -json output, a "
    "CloudFormation template or a cdk.out, read as kmslaunch check reads them); what it creates anew is "
    "kmslaunch check's part.",
)
@click.option("--parameter", "parameters", metavar="KEY=VALUE", multiple=True, help="With --plan, as for check.")
@click.option("--ssm", "ssm", metavar="NAME=VALUE", multiple=True, help="With --plan, as for check.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "markdown", "sarif", "html"]),
    default="text",
    show_default=True,
)
def impact_command(
    snapshot: Path,
    key_policy: tuple[str, ...],
    identity_policy: tuple[str, ...],
    scp: tuple[str, ...],
    rcp: tuple[str, ...],
    revoke_grant: tuple[str, ...],
    default_key: tuple[str, ...],
    disable_key: tuple[str, ...],
    plan: Path | None,
    parameters: tuple[str, ...],
    ssm: tuple[str, ...],
    fmt: str,
) -> None:
    """Simulate every launch path of SNAPSHOT (those `kmslaunch audit` finds) before and after the CHANGE
    options, and report the paths that break, that start to work, and whose verdict becomes or stops being
    unsure, each with the refused call and the statement that decides it. KEY is a key id, key ARN, alias or
    alias ARN. Several changes, of any kinds, are made together.

    Exit status: 0 nothing breaks, 1 a path breaks, 2 bad input, 3 nothing breaks but a path becomes
    runs-unless (it runs only if what the snapshot does not hold allows it) or a --plan change cannot be
    evaluated (a value known only after apply).
    """
    if (parameters or ssm) and plan is None:
        fail("--parameter and --ssm go with --plan")
    plans = read_plans(bundled(plan), parse_pairs("--parameter", parameters), parse_pairs("--ssm", ssm)) if plan else []
    snap = open_snapshot(snapshot)
    from_plan = PlanChanges((), (), (), ())
    try:
        changes = parse_changes(
            snap.world,
            key_policy=key_policy,
            identity_policy=identity_policy,
            scp=scp,
            rcp=rcp,
            revoke_grant=revoke_grant,
            default_key=default_key,
            disable_key=disable_key,
            locate=_find,
        )
        if plan is not None:
            from_plan = plan_changes(snap.world, plans)
    except KmslaunchError as exc:
        fail(str(exc))
    changes += from_plan.changes
    notes = _plan_notes(snapshot, plan, parameters, ssm, from_plan) if plan is not None else ()
    if plan is not None and not changes:
        if from_plan.unevaluated:
            click.echo(f"kmslaunch impact: {snapshot}")
            click.echo("changes that cannot be evaluated (unknown until apply):")
            for fact in from_plan.unevaluated:
                click.echo(f"  {fact}")
        else:
            click.echo(
                f"kmslaunch impact: {snapshot}: nothing in the snapshot changes ({plan} changes nothing it holds)"
            )
        for line in notes:
            click.echo(line)
        raise SystemExit(3 if from_plan.unevaluated else 0)
    if not changes:
        click.echo(
            "kmslaunch: name at least one change: --key-policy, --identity-policy, --scp, --rcp, --revoke-grant, "
            "--default-key, --disable-key or --plan",
            err=True,
        )
        raise SystemExit(EXIT_BAD_INPUT)
    report = impact(snap.world, changes, snapshot=str(snapshot), unknown=snap.unknown)
    report = dataclasses.replace(report, unevaluated=from_plan.unevaluated, notes=notes)
    if fmt == "json":
        emit_json(to_json(report, _find))
    elif fmt == "markdown":
        click.echo(render_markdown(report, _find), nl=False)
    elif fmt == "sarif":
        emit_json(render_sarif(report, uri=str(bundled(snapshot)), find=_find))
    elif fmt == "html":
        click.echo(render_html(report, _find), nl=False)
    else:
        emit_lines(render_text(report, _find))
    raise SystemExit(report.exit_code)


def _plan_notes(
    snapshot: Path, plan: Path, parameters: tuple[str, ...], ssm: tuple[str, ...], got: PlanChanges
) -> tuple[str, ...]:
    """What ``impact`` leaves to others: the plan's new resources (``kmslaunch check``), unmodelled changes."""
    out: list[str] = []
    if got.unmodelled:
        out += ["", "not modelled (their changes are not simulated):"]
        out += [f"  {address} ({type_})" for type_, address in got.unmodelled]
    if got.created:
        args = [str(plan), "--snapshot", str(snapshot)]
        args += [a for p in parameters for a in ("--parameter", p)] + [a for s in ssm for a in ("--ssm", s)]
        out += [
            "",
            f"{len(got.created)} resources the plan creates anew are not changes to existing paths; the launch "
            f"paths they make are simulated by: kmslaunch check {shlex.join(args)}",
        ]
    return tuple(out)
