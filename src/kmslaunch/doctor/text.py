"""Launch results as text for a terminal: what AWS shows, then the KMS calls with their decisions.

Colour only through ``click.style``; click strips it when the output is not a terminal.
"""

from __future__ import annotations

import json
import re

import click

from kmslaunch.doctor.diagnose import Diagnosis
from kmslaunch.doctor.fixes import shown, verified_words
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


def render_launch(result: LaunchResult, *, trail: bool = False, verdict: bool = True) -> list[str]:
    lines = [*render_verdict(result), ""] if verdict else []
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


def render_what_to_do(diag: Diagnosis) -> list[str]:
    """Right after the verdict: the refused call, who made it, the layer that refused it, and the commands that
    fix it; the call-by-call account follows."""
    if not diag.findings:
        return []
    lines = [click.style("What to do:", bold=True)]
    for f in diag.findings:
        c = f.call
        lines.append(f"  refused: {c.action} on {c.resource}")
        lines.append(f"  who:     {_who(c)}")
        lines.append(f"  layer:   {f.layer}")
    plan = shown(diag.plans)
    if plan is None:
        return lines
    where = ", run where the files are (--write-fixes DIR)" if any(fx.files for fx in plan.fixes) else ""
    if plan.verified:
        lines.append(f"  fix ({verified_words(plan)}){where}:")
    else:
        lines.append(f"  no verified fix: {plan.unresolved}")
    for fx in plan.fixes:
        lines.extend(f"    $ {cmd}" for cmd in fx.commands)
    return lines


# An ARN in prose: shortened to its resource (ids to 8 characters) once it has been shown whole.
_ARN = re.compile(r"arn:aws[a-z-]*:[a-z0-9-]+:[a-z0-9-]*:(?:\d{12}|aws)?:[A-Za-z0-9_+=,.@:/-]*[A-Za-z0-9_+=@/-]")
_LONG_ID = re.compile(r"([0-9a-f]{8})[0-9a-f]*(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}|\b(i-[0-9a-f]{8})[0-9a-f]{9}\b")


def _short(arn: str) -> str:
    resource = arn.split(":", 5)[5]
    return _LONG_ID.sub(lambda m: (m.group(1) or m.group(2)) + "…", resource)


def shorten_arns(lines: list[str]) -> list[str]:
    """Each ARN whole the first time, then as its resource part (``key/3ff5ba93…``) where that names no other
    ARN of the output. Commands (``$ …``) and JSON documents are left whole: they are pasted."""
    arns = {a for line in lines for a in _ARN.findall(line)}
    by_short: dict[str, set[str]] = {}
    for a in arns:
        by_short.setdefault(_short(a), set()).add(a)
    seen: set[str] = set()

    def one(m: re.Match[str]) -> str:
        arn = m.group(0)
        if arn not in seen or len(by_short[_short(arn)]) > 1:
            seen.add(arn)
            return arn
        return _short(arn)

    out = []
    for line in lines:
        bare = click.unstyle(line).lstrip()
        if bare.startswith(("$ ", "{", "}", "[", "]", '"')) or " says: " in bare:  # AWS's own words stay whole
            seen.update(_ARN.findall(line))
            out.append(line)
        else:
            out.append(_ARN.sub(one, line))
    return out


def render_diagnosis(diag: Diagnosis, *, trail: bool = False, verbose: bool = False) -> list[str]:
    """The verdict, what to do, then the launch call by call, the diagnosis, CloudTrail, and the verified fix
    with its whole documents. Without ``verbose``, ARNs already shown whole are shortened."""
    lines = render_verdict(diag.result)
    todo = render_what_to_do(diag)
    if todo:
        lines += ["", *todo]
    lines += ["", *render_launch(diag.result, trail=trail, verdict=False)]
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
            if fx.statements and fx.document is not None and fx.kind != "launch-parameter":
                names = ", ".join(json.dumps(st.get("Sid")) if st.get("Sid") else "(no Sid)" for st in fx.statements)
                lines.append(f"     the whole document ({', '.join(n for n, _ in fx.files)}); new or changed: {names}")
                lines.extend("     " + ln for ln in json.dumps(fx.document, indent=2).splitlines())
            elif fx.document is not None:
                lines.extend("     " + ln for ln in json.dumps(fx.document, indent=2).splitlines())
            if fx.grant:
                lines.append(f"     grant: {json.dumps(fx.grant)}")
            for cmd in fx.commands:
                lines.append("     $ " + cmd)
    for u in diag.unknown:
        lines.append(click.style(f"not in the snapshot: {u}", fg="yellow"))
    return lines if verbose else shorten_arns(lines)
