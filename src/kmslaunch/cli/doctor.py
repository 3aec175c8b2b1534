"""``kmslaunch doctor`` and ``kmslaunch fix``: name the refused call, propose the verified fix, apply it to a copy."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import click

from kmslaunch.cli.common import EXIT_DENIED, EXIT_OK, check_out_dir, emit_json, fail, launch_exit
from kmslaunch.cli.launchopts import launch_options, launch_request, open_snapshot
from kmslaunch.cli.proving import all_proved, attach_json, echo_proofs, prove_plans, require_z3
from kmslaunch.doctor.diagnose import Diagnosis, diagnose
from kmslaunch.doctor.fixes import shown, verified_words
from kmslaunch.doctor.html import render_html
from kmslaunch.doctor.iac import render_cloudformation, render_terraform
from kmslaunch.doctor.markdown import render_markdown
from kmslaunch.doctor.paste import write_fix_files
from kmslaunch.doctor.sarif import render_sarif
from kmslaunch.doctor.text import render_diagnosis
from kmslaunch.launch.errors import NotInWorld
from kmslaunch.launch.request import simulate
from kmslaunch.policy.errors import InputError, KmslaunchError
from kmslaunch.snapshot.save import save_snapshot

# Where ``fix --out`` puts the files its commands name: inside OUT (nothing is written outside it), in a folder
# the snapshot loader does not read (only 12-digit account folders and organizations/ are snapshot data).
COMMANDS_DIR = "commands"


def _diagnose(snapshot: Path, launch: dict[str, object]) -> tuple[Diagnosis, object]:
    snap = open_snapshot(snapshot)
    req = launch_request(snap.world, **launch)  # type: ignore[arg-type]
    try:
        diag = diagnose(snap.world, req, unknown=tuple(snap.unknown), instance_id=launch.get("instance_id"))  # type: ignore[arg-type]
    except (NotInWorld, InputError) as exc:
        fail(str(exc))
    return diag, snap


@click.command(
    "doctor",
    epilog="""\b
Examples:
  kmslaunch doctor examples/kc-iam-user/snapshot --instance i-056cc6fd323c6308f
  kmslaunch doctor examples/kc-iam-user/snapshot --run-instances examples/kc-iam-user/run-instances.json \\
      --as arn:aws:iam::111122223333:user/alice --format markdown
  kmslaunch doctor examples/asg-slr-missing/snapshot --asg web-asg --format sarif
  kmslaunch doctor examples/asg-slr-missing/snapshot --asg web-asg --fix-format terraform > fix.tf""",
)
@launch_options
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "markdown", "sarif", "html"]),
    default="text",
    show_default=True,
)
@click.option("--trail/--no-trail", default=False, help="Text output: also list the CloudTrail records.")
@click.option(
    "--write-fixes",
    "fixes_dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Write every file the fix commands name (whole policy documents) into this directory; run the commands there.",
)
@click.option("--force", is_flag=True, help="Write into --write-fixes even if it is not empty.")
@click.option("-v", "--verbose", is_flag=True, help="Text output: ARNs in full everywhere, not shortened once shown.")
@click.option(
    "--fix-format",
    type=click.Choice(["commands", "terraform", "cloudformation"]),
    default="commands",
    show_default=True,
    help="terraform or cloudformation: print only the fix (the first that keeps the launch, else the best plan) as "
    "infrastructure code, for accounts whose policies live in code.",
)
@click.option(
    "--prove",
    is_flag=True,
    help="Prove with the z3 solver that each fix grants nothing beyond the launch's own KMS calls, or show a "
    "request it allows that the launch does not need (needs: pip install 'kmslaunch[prove]').",
)
def doctor_command(
    snapshot: Path,
    fmt: str,
    trail: bool,
    fixes_dir: Path | None,
    force: bool,
    verbose: bool,
    fix_format: str,
    prove: bool,
    **launch: object,
) -> None:
    """Diagnose a launch: the refused KMS call, who made it and why, the policy behind it, what CloudTrail
    recorded, and the least-privilege fix, verified by simulating the launch again.

    Exit status: 0 the launch succeeds, 1 it fails, 2 bad input, 3 it succeeds only if what the
    snapshot does not hold allows it. With --prove, 1 also when a fix's proof does not hold.
    """
    if prove:
        require_z3()
    diag, snap = _diagnose(snapshot, launch)
    proofs = prove_plans(snap.world, diag) if prove else []  # type: ignore[attr-defined]
    written: list[Path] | None = None
    if fixes_dir is not None:
        try:
            written = write_fix_files(diag.plans, fixes_dir, force=force)
        except KmslaunchError as exc:
            fail(str(exc))
    if fix_format != "commands":
        plan = diag.fix or shown(diag.plans)
        if plan is None:
            click.echo(
                "no fix to write as infrastructure code: "
                + ("the launch runs" if diag.result.succeeded else "no change the doctor can make lets it run"),
                err=True,
            )
        elif fix_format == "terraform":
            click.echo(render_terraform(plan), nl=False)
        else:
            emit_json(render_cloudformation(plan))
        raise SystemExit(launch_exit(diag.result))
    if fmt == "json":
        out = diag.to_json()
        if prove:
            attach_json(out, proofs)
        if written is not None:
            out["written_fixes"] = {"directory": str(fixes_dir), "files": [str(p) for p in written]}
        emit_json(out)
    elif fmt == "markdown":
        click.echo(render_markdown(diag), nl=False)
    elif fmt == "sarif":
        emit_json(render_sarif(diag, uri=str(snapshot)))
    elif fmt == "html":
        click.echo(render_html(diag), nl=False)
    else:
        for line in render_diagnosis(diag, trail=trail, verbose=verbose):
            click.echo(line)
    if prove and fmt != "json":
        echo_proofs(proofs, err=fmt != "text")
    if written is not None and fmt != "json":
        # stderr for the formats whose stdout is a document of its own (SARIF, Markdown, HTML)
        click.echo(
            f"wrote {len(written)} files to {fixes_dir}: run the fix commands there (cd {fixes_dir})",
            err=fmt != "text",
        )
    if prove and not all_proved(proofs):
        click.echo("a fix's proof does not hold: see the proof above", err=True)
        raise SystemExit(EXIT_DENIED)
    raise SystemExit(launch_exit(diag.result))


@click.command(
    "fix",
    epilog="""\b
Examples:
  kmslaunch fix examples/kc-iam-user/snapshot --instance i-056cc6fd323c6308f --out /tmp/kc-iam-user-fixed
  kmslaunch simulate /tmp/kc-iam-user-fixed --instance i-056cc6fd323c6308f""",
)
@launch_options
@click.option(
    "--out",
    "out",
    type=click.Path(path_type=Path, file_okay=False),
    required=True,
    help="Where to write the fixed snapshot.",
)
@click.option("--force", is_flag=True, help="Write into --out even if it is not empty (it is never the input).")
@click.option(
    "--prove",
    is_flag=True,
    help="Write the fix only if z3 proves it grants nothing beyond the launch's own KMS calls "
    "(needs: pip install 'kmslaunch[prove]').",
)
def fix_command(snapshot: Path, out: Path, force: bool, prove: bool, **launch: object) -> None:
    """Write a copy of SNAPSHOT with the first verified fix applied, the files as AWS would show them after the
    fix's commands. The input snapshot is never modified.

    Only a fix that keeps the launch as it is (its key and parameters) is written, and the written snapshot is
    read back and the same launch simulated in it. When the only verified fix is a change to the launch itself
    (another key), nothing is written and the change is printed.

    The files the fix's commands name (whole policy documents) are written to OUT/commands/, so that the
    commands, run there, make the same change in the real account.

    With --prove the fix is proved first, and nothing is written when the proof does not hold.

    Exit status: 0 a verified fix was written, 1 no verified fix to the account exists (or, with --prove, its
    proof does not hold), 2 bad input.
    """
    if prove:
        require_z3()
    if out.resolve() == snapshot.resolve() or snapshot.resolve() in out.resolve().parents:
        fail(f"{out}: the fixed snapshot must go somewhere else than the input snapshot {snapshot}")
    check_out_dir(out, "--out", force=force)
    diag, snap = _diagnose(snapshot, launch)
    if diag.result.succeeded:
        click.echo("The launch already succeeds: nothing to fix.")
        raise SystemExit(EXIT_OK)
    plan = diag.fix
    if plan is None:
        change = diag.launch_change_only
        if change is not None:
            # Writing a snapshot would change nothing the launch reads: say what must change instead.
            click.echo(
                "No fix to the account could be verified; nothing was written. The only verified fix is a change "
                f"to the launch itself: {change.title.removeprefix('alternative: ')}.",
                err=True,
            )
            for f in change.fixes:
                click.echo(f"  {f.rationale}", err=True)
                if f.document is not None:
                    click.echo(f"  launch parameters: {json.dumps(f.document)}", err=True)
            reason = next((p.unresolved for p in diag.plans if not p.alternative and p.unresolved), None)
            if reason:
                click.echo(f"  (why no policy fix: {reason})", err=True)
            raise SystemExit(EXIT_DENIED)
        reason = diag.plans[0].unresolved if diag.plans else "the launch is refused by EC2 itself"
        click.echo(f"No verified fix: {reason}", err=True)
        raise SystemExit(EXIT_DENIED)
    if prove:
        from kmslaunch.prove.fixes import prove_fix  # noqa: PLC0415 - z3 is optional: imported only with --prove

        plan_proofs = [[prove_fix(snap.world, plan, f) for f in plan.fixes]]  # type: ignore[attr-defined]
        echo_proofs(plan_proofs)
        if not all_proved(plan_proofs):
            click.echo("the fix's proof does not hold: nothing was written", err=True)
            raise SystemExit(EXIT_DENIED)
    world = copy.deepcopy(snap.world)  # type: ignore[attr-defined]
    plan.apply(world)
    try:
        written = save_snapshot(world, out, meta=dict(snap.meta), overwrite=force)  # type: ignore[attr-defined]
        commands_dir = out / COMMANDS_DIR
        documents = write_fix_files((plan,), commands_dir, force=force)
    except KmslaunchError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"--out {out}: cannot write the fixed snapshot: {exc.strerror or exc}")
    # The promise is about the files, not the copy in memory: read them back and launch again.
    again = open_snapshot(out)
    after = simulate(copy.deepcopy(again.world), launch_request(again.world, **launch))  # type: ignore[arg-type]
    if not after.succeeded:
        click.echo(
            f"wrote {len(written)} files to {out}, but the same launch still fails there ({after.outcome.state}): "
            "the fix could not be written as files; apply the commands below by hand",
            err=True,
        )
        for f in plan.fixes:
            for cmd in f.commands:
                click.echo(f"  $ {cmd}", err=True)
        raise SystemExit(EXIT_DENIED)
    click.echo(f"applied ({verified_words(plan)}):")
    for f in plan.fixes:
        click.echo(f"applied [{f.kind}] {f.target}")
        for cmd in f.commands:
            click.echo(f"  $ {cmd}")
    click.echo(f"wrote {len(written)} files to {out}; the same launch runs there")
    click.echo(f"wrote {len(documents)} files the commands name to {commands_dir}: run the commands there")
    raise SystemExit(EXIT_OK)
