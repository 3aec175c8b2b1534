"""A diagnosis as Markdown, for a ticket or a pull-request comment."""

from __future__ import annotations

import json

from .diagnose import Diagnosis
from .fixes import shown, verified_words


def render_markdown(diag: Diagnosis) -> str:
    r = diag.result
    out = [f"## kmslaunch: {r.kind.value} in {r.account} {r.region} — **{r.outcome.state}**", ""]
    out.append(f"Launched by `{r.principal}`.")
    if r.deciding_unknowns:
        turn = "refuses it" if r.succeeded else "allows the refused call"
        out += ["", f"**{r.outcome.state}, unless something the snapshot does not hold {turn}:**", ""]
        out += [f"- {u.fact} (to know: `{u.resolve}`)" for u in r.deciding_unknowns]
    first = shown(diag.plans)
    if diag.findings:
        out += ["", "**What to do**", ""]
        for f in diag.findings:
            c = f.call
            out.append(f"- refused: `{c.action}` by `{c.call.principal.arn}` on `{c.resource}` ({f.layer})")
        if first is not None and first.fixes:
            head = "the fix, " + verified_words(first) if first.verified else f"no verified fix: {first.unresolved}"
            where = (
                "; run where the files are (`kmslaunch doctor … --write-fixes DIR`)"
                if any(fx.files for fx in first.fixes)
                else ""
            )
            out += [f"- {head}{where}:", ""]
            out += ["```sh", *(c for fx in first.fixes for c in fx.commands), "```"]
    if r.outcome.state_reason:
        out += ["", "```json", json.dumps({"StateReason": r.outcome.state_reason}, indent=2), "```"]
    if r.outcome.error:
        out += ["", f"The API call failed: `{r.outcome.error['Code']}`: {r.outcome.error['Message']}"]
    if r.calls:
        out += ["", "| # | call | as | decision | refused by |", "|---|---|---|---|---|"]
        for i, c in enumerate(r.calls, 1):
            refused_by = ", ".join(c.denied_by) or "—"
            out.append(f"| {i} | `{c.action}` | `{c.call.principal.arn}` | {c.verdict.value} | {refused_by} |")
    for f in diag.findings:
        out += ["", f"### {f.headline}", "", f"*Who:* {f.who}", ""]
        out += [f"- {d}" for d in f.details]
        out += ["", f"See [{f.doc}]({f.doc})."]
    if diag.evidence:
        out += ["", "### CloudTrail", ""]
        out += [f"- `{e.event_name}` by `{e.principal}` ({e.error_code}): {e.note}" for e in diag.evidence]
    for plan in diag.plans:
        words = verified_words(plan)
        if plan.alternative:
            title = plan.title.removeprefix("alternative: ")
            out += ["", f"### Alternative, changing the launch itself: {title} — {words}"]
        elif plan.verified:
            out += ["", f"### Fix ({words}, by re-simulating the launch)"]
        else:
            out += ["", "### Fix — not verified"]
        if not plan.verified:
            out += ["", f"{plan.unresolved}"]
        for i, fx in enumerate(plan.fixes, 1):
            out += ["", f"{i}. **{fx.kind}** on `{fx.target}` — {fx.rationale}", ""]
            for name, doc in fx.files:
                changed = ", ".join(f"`{st['Sid']}`" for st in fx.statements if st.get("Sid"))
                out += [f"`{name}`, the whole document" + (f" (new or changed: {changed})" if changed else "") + ":"]
                out += ["", "```json", json.dumps(doc, indent=2), "```", ""]
            out += ["```sh", *fx.commands, "```"]
    if diag.unknown:
        out += ["", "### Not in the snapshot", ""] + [f"- {u}" for u in diag.unknown]
    return "\n".join(out) + "\n"
