"""Launch results as text for a terminal: what AWS shows, then the KMS calls with their decisions.

Colour only through ``click.style``; click strips it when the output is not a terminal.
"""

from __future__ import annotations

import json

import click

from kmslaunch.doctor.diagnose import Diagnosis
from kmslaunch.doctor.fixes import verified_words
from kmslaunch.launch.result import CallResult, CallVerdict, LaunchResult, LaunchVerdict
from kmslaunch.policy.evaluate import build_context
from kmslaunch.policy.explain import conditions_met, describe_near_miss, describe_ref


def _who(c: CallResult) -> str:
    p = c.call.principal
    if p.is_ec2_infrastructure:
        return f"{p.arn} (the instance's own identity)"
    if p.is_service_linked_role:
        return f"{p.arn} (service-linked role, through EC2)"
    return f"{p.arn} (the caller, through EC2)"


def render_call(i: int, c: CallResult) -> list[str]:
    unknown = c.verdict is CallVerdict.UNKNOWN
    if unknown:
        mark, colour = click.style("?", fg="yellow", bold=True), "yellow"
    elif c.refused:
        mark, colour = click.style("✗", fg="red", bold=True), "red"
    else:
        mark, colour = click.style("✓", fg="green"), "green"
    verdict = c.verdict.value + (f" [{', '.join(c.denied_by)}]" if c.refused else "")
    head = f"  {i}. {mark} {c.action:<38} {click.style(verdict, fg=colour)}"
    lines = [head, f"       as {_who(c)}", f"       on {c.resource}", f"       why: {c.call.why}"]
    d = c.authorized.decision
    if unknown:
        lines.extend(f"       not decided: {u.fact}" for u in c.unknowns if u.layer == "key-policy")
    elif c.refused:
        if c.error_code:
            lines.append(f"       KMS says: {c.error_code}: {c.error_message}")
        if d.decided_by:
            lines.append("       denied by:")
            ctx = build_context(c.authorized.request, c.authorized.policies)
            for r in d.decided_by:
                lines.append(f"         - {describe_ref(r)}")
                lines.extend(f"             {m}" for m in conditions_met(c.authorized.policies, r, ctx))
        if d.partial:
            lines.append("       matched, but not enough on their own:")
            lines.extend(f"         - {describe_ref(r)}" for r in d.partial)
        if d.near_misses:
            lines.append("       near misses:")
            lines.extend(f"         - {describe_near_miss(n)}" for n in d.near_misses[:6])
            if len(d.near_misses) > 6:
                lines.append(f"         … and {len(d.near_misses) - 6} more (--format json lists them all)")
    elif d.decided_by:
        lines.append("       allowed by: " + "; ".join(describe_ref(r) for r in d.decided_by))
    return lines


def render_verdict(result: LaunchResult) -> list[str]:
    """The answer first, and the facts the snapshot lacks that could turn it, each with how to learn it."""
    v = result.verdict
    colour = {LaunchVerdict.RUNS: "green", LaunchVerdict.FAILS: "red"}.get(v, "yellow")
    head = f"{result.kind.value}: {result.outcome.state}"
    if result.dry_run_allowed:
        head = f"{result.kind.value} (DryRun): EC2 would accept the request"
    lines = [click.style(head, fg=colour, bold=True)]
    if result.dry_run_allowed:
        # A dry run checks EC2's own permission only: no volume is made, so none of the KMS calls is.
        lines.append("  A dry run makes none of the KMS calls of the launch: run without DryRun to simulate them.")
    if v is LaunchVerdict.RUNS_UNLESS:
        lines.append(click.style("  ... unless something the snapshot does not hold refuses it:", fg="yellow"))
    elif v is LaunchVerdict.FAILS_UNLESS:
        lines.append(
            click.style("  ... unless something the snapshot does not hold allows the refused call:", fg="yellow")
        )
    for u in result.deciding_unknowns:
        lines.append(f"  - {u.fact}")
        lines.append(f"    to know: {u.resolve}")
    return lines


def render_launch(result: LaunchResult, *, trail: bool = False) -> list[str]:
    lines = [*render_verdict(result), ""]
    lines.append(
        click.style(f"{result.kind.value}", bold=True)
        + f" by {result.principal or '(nobody)'} in account {result.account}, {result.region}"
    )
    for v in result.volumes:
        enc = f"encrypted with {v.key.arn} ({v.key_source.value if v.key_source else ''})" if v.key else "unencrypted"
        src = f" from {v.snapshot.snapshot_id}" if v.snapshot else ""
        lines.append(f"  {v.device} {v.volume_id}{src}: {enc}")
    lines.append("")
    out = result.outcome
    if result.dry_run_allowed and out.error:
        lines.append(click.style("EC2's answer:", bold=True))
        lines.append(f"  An error occurred ({out.error['Code']}): {out.error['Message']}")
    elif out.state == "rejected" and out.error:
        lines.append(click.style("The API call failed:", bold=True))
        lines.append(f"  An error occurred ({out.error['Code']}): {out.error['Message']}")
    else:
        lines.append(click.style("What AWS shows (aws ec2 describe-instances):", bold=True))
        for res in (result.view or {}).get("Reservations", []):
            for inst in res["Instances"]:
                state = inst["State"]["Name"]
                colour = "green" if state == "running" else "red"
                lines.append(f"  {inst['InstanceId']}  {click.style(state, fg=colour, bold=True)}")
                if "StateReason" in inst:
                    lines.append(f'  "StateReason": {json.dumps(inst["StateReason"])}')
    for note in result.notes:
        lines.append(click.style(f"  note: {note}", fg="yellow"))
    if result.calls:
        lines.append("")
        lines.append(click.style("KMS calls EC2 made, in order:", bold=True))
        for i, c in enumerate(result.calls, 1):
            lines.extend(render_call(i, c))
        if result.refused_calls:
            lines.append("  (EC2 stops at the first refused call: the calls after it are not made)")
    elif out.state != "rejected":
        lines.append("")
        lines.append("No KMS calls: no volume of this launch is encrypted.")
    if trail:
        lines.append("")
        lines.append(click.style(f"CloudTrail ({len(result.trail)} records):", bold=True))
        for ev in result.trail:
            err = f"  {ev['errorCode']}" if "errorCode" in ev else ""
            lines.append(
                f"  {ev['eventTime']}  {ev['eventSource'].split('.')[0]}:{ev['eventName']:<32} "
                f"{ev['userIdentity'].get('arn', ev['userIdentity'].get('invokedBy', ''))}{err}"
            )
    return lines


def render_diagnosis(diag: Diagnosis, *, trail: bool = False) -> list[str]:
    """The launch, then the diagnosis: refused call, evidence from CloudTrail, and the verified fix."""
    lines = render_launch(diag.result, trail=trail)
    if diag.findings:
        lines.append("")
        lines.append(click.style("Diagnosis:", bold=True))
        for f in diag.findings:
            lines.append("  " + click.style(f.headline, fg="red", bold=True))
            lines.append(f"  who: {f.who}")
            lines.extend(f"  {d}" for d in f.details)
            lines.append(click.style(f"  read: {f.doc}", dim=True))
    if diag.evidence:
        lines.append("")
        lines.append(click.style("What CloudTrail recorded:", bold=True))
        for e in diag.evidence:
            mark = click.style("agrees", fg="green") if e.agrees else click.style("DISAGREES", fg="yellow", bold=True)
            lines.append(f"  {e.event_time} {e.event_name} by {e.principal}: {e.error_code} [{mark}]")
            lines.append(f"    {e.note}")
    for plan in diag.plans:
        lines.append("")
        words = verified_words(plan)
        if plan.alternative:
            lines.append(
                click.style(f"Alternative, changing the launch itself ({words}):", bold=True, fg="cyan")
                + f" {plan.title.removeprefix('alternative: ')}"
            )
        elif plan.verified:
            lines.append(
                click.style(f"Fix ({words}: the launch succeeds when simulated again with it):", bold=True, fg="green")
            )
        else:
            lines.append(click.style("No verified fix:", bold=True, fg="yellow") + f" {plan.unresolved}")
            if plan.fixes:
                lines.append("  changes found before that (not enough on their own):")
        for i, fx in enumerate(plan.fixes, 1):
            lines.append(f"  {i}. [{fx.kind}] {fx.target}")
            lines.append(f"     why: {fx.rationale}")
            for st in fx.statements:
                lines.extend("     " + ln for ln in json.dumps(st, indent=2).splitlines())
            if fx.grant:
                lines.append(f"     grant: {json.dumps(fx.grant)}")
            for cmd in fx.commands:
                lines.append("     $ " + cmd)
    for u in diag.unknown:
        lines.append(click.style(f"not in the snapshot: {u}", fg="yellow"))
    return lines
