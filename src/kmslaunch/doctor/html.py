"""A diagnosis as one self-contained HTML page: the verdict first, the launch as a sequence diagram (inline SVG),
the fix, what CloudTrail recorded, and what the snapshot does not hold.

Inline CSS and SVG only: no script, nothing fetched, so the file reads the same attached to a ticket, opened
from disk or mailed. Every value from the account (ARNs, policy documents, CloudTrail messages) is user data and
goes through ``html.escape``.
"""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass
from html import escape
from typing import Any

from kmslaunch.launch.plan import instance_identity
from kmslaunch.launch.result import CallResult, CallVerdict, LaunchResult, LaunchVerdict
from kmslaunch.policy.evaluate import build_context
from kmslaunch.policy.explain import conditions_met, describe_ref

from .diagnose import Diagnosis
from .fixes import FixPlan, verified_words

CSS = """
:root { --red: #b3261e; --red-bg: #fdecea; --green: #1e6b35; --green-bg: #e7f4ea; --amber: #8a5a00;
  --amber-bg: #fff4dc; --grey: #9aa0a6; --ink: #1f2328; --muted: #57606a; --line: #d0d7de; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", sans-serif; color: var(--ink);
  margin: 0 auto; max-width: 1160px; padding: 24px; }
h1 { font-size: 22px; margin: 0 0 6px; }
h2 { font-size: 18px; margin: 28px 0 10px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
h3 { font-size: 15px; margin: 16px 0 6px; }
code, pre, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "DejaVu Sans Mono", monospace;
  font-size: 13px; }
pre { background: #f6f8fa; border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px;
  overflow-x: auto; white-space: pre-wrap; word-break: break-all; margin: 6px 0; }
.verdict { border-radius: 8px; padding: 14px 18px; border-left: 6px solid; }
.verdict.fails, .verdict.fails-unless { background: var(--red-bg); border-color: var(--red); }
.verdict.runs { background: var(--green-bg); border-color: var(--green); }
.verdict.runs-unless { background: var(--amber-bg); border-color: var(--amber); }
.badge { display: inline-block; font-weight: 600; font-size: 12px; padding: 1px 8px; border-radius: 10px;
  color: #fff; vertical-align: middle; margin-right: 6px; text-transform: uppercase; letter-spacing: .03em; }
.badge.fails, .badge.fails-unless, .badge.refused { background: var(--red); }
.badge.runs, .badge.allowed { background: var(--green); }
.badge.runs-unless, .badge.unknown, .badge.alternative { background: var(--amber); }
.badge.not-verified { background: var(--muted); }
.muted { color: var(--muted); }
.headline { font-weight: 600; color: var(--red); }
table { border-collapse: collapse; width: 100%; margin: 6px 0; }
th, td { text-align: left; vertical-align: top; padding: 5px 8px; border-bottom: 1px solid var(--line); }
th { font-size: 13px; color: var(--muted); font-weight: 600; }
td.refused { color: var(--red); font-weight: 600; }
.diagram { overflow-x: auto; border: 1px solid var(--line); border-radius: 6px; padding: 8px; background: #fff; }
.diagram svg { display: block; max-width: 100%; height: auto; }
.fix { border: 1px solid var(--line); border-radius: 6px; padding: 8px 14px; margin: 10px 0; }
.unknowns li { margin-bottom: 6px; }
footer { margin-top: 32px; font-size: 12px; color: var(--muted); }
"""


def page(title: str, body: str) -> str:
    """The whole document: a title, the stylesheet, and ``body`` (already escaped HTML)."""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n{body}\n"
        "<footer>Made by kmslaunch from an account snapshot. Self-contained: no script, nothing fetched.</footer>\n"
        "</body>\n</html>\n"
    )


def pre(value: Any, cls: str = "") -> str:
    """A ``<pre>`` of a JSON value (indented as the snapshot stores documents) or of lines of text."""
    text = value if isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False)
    attr = f' class="{cls}"' if cls else ""
    return f"<pre{attr}>{escape(text)}</pre>"


def verdict_class(verdict: LaunchVerdict) -> str:
    return verdict.value


# -- The sequence diagram ----------------------------------------------------------------------------------------

_COL = 190  # distance between lifelines
_LEFT = 95  # x of the first lifeline
_HEAD = 58  # height of a lifeline's box
_ROW = 50  # height of one message
_NOTE_W = 430  # width of the note column right of KMS
_CHARS = 62  # characters per line of a note


@dataclass(frozen=True)
class _Lifeline:
    id: str
    title: str
    sub: str


def _origin(c: CallResult) -> str:
    p = c.call.principal
    if p.is_ec2_infrastructure:
        return "infra"
    if p.is_service_linked_role:
        return "slr"
    # Forward access: EC2 makes the call with the caller's permissions.
    return "ec2"


def not_made(diag: Diagnosis) -> tuple[CallResult, ...]:
    """The KMS calls EC2 would have made after the refused one, as the least-privilege plan's verifying launch
    made them; empty when that launch is not the same launch up to the refusal (its calls differ)."""
    made = diag.result.calls
    if not diag.result.refused_calls:
        return ()
    plan = next((p for p in diag.plans if not p.alternative and p.after is not None), None)
    if plan is None or plan.after is None:
        return ()
    after = plan.after.calls
    # The ids differ (a verifying launch gets new ones): compare what each call is.
    same = [(c.call.operation, c.action, _origin(c)) for c in after[: len(made)]]
    if same != [(c.call.operation, c.action, _origin(c)) for c in made]:
        return ()
    return after[len(made) :]


def refusal_notes(c: CallResult) -> list[str]:
    """What refused a call, as the diagram prints it beside the red arrow: the deciding statement, or the layer
    where no statement allows it."""
    d = c.authorized.decision
    out = [f"refused: {c.verdict.value} [{', '.join(c.denied_by)}]"]
    if c.verdict is CallVerdict.KEY_STATE:
        out.append(f"{c.error_code}: {c.error_message}")
        return out
    if d.decided_by:
        ctx = build_context(c.authorized.request, c.authorized.policies)
        for r in d.decided_by:
            out.append(f"deciding statement: {describe_ref(r)}")
            out.extend(f"  {m}" for m in conditions_met(c.authorized.policies, r, ctx))
    else:
        layers = ", ".join(c.denied_by)
        out.append(f"missing statement: nothing in {layers} allows {c.action} for this caller on this key")
        out.extend(f"matched, not enough alone: {describe_ref(r)}" for r in d.partial)
    return out


def _wrap(lines: list[str]) -> list[str]:
    out: list[str] = []
    for line in lines:
        indent = "  " if line.startswith("  ") else ""
        out.extend(textwrap.wrap(line, _CHARS, subsequent_indent=indent + "  ") or [""])
    return out


def _text(x: float, y: float, s: str, cls: str = "", anchor: str = "middle") -> str:
    c = f' class="{cls}"' if cls else ""
    return f'<text x="{x:.0f}" y="{y:.0f}" text-anchor="{anchor}"{c}>{escape(s)}</text>'


def sequence_svg(result: LaunchResult, later: tuple[CallResult, ...]) -> str:
    """The launch as a sequence diagram: lifelines for the caller, EC2, the service-linked role and the instance
    identity when they call, and KMS; each KMS call an arrow in order, the refused one red with what decided it,
    the calls not made after it grey."""
    calls = list(result.calls)
    every = calls + list(later)
    lanes = [_Lifeline("caller", "Caller", _short(result.principal or "(nobody)")), _Lifeline("ec2", "Amazon EC2", "")]
    slr = next((c.call.principal for c in every if _origin(c) == "slr"), None)
    if slr is not None:
        lanes.append(_Lifeline("slr", "Service-linked role", slr.name or slr.arn))
    infra = next((c.call.principal for c in every if _origin(c) == "infra"), None)
    if infra is not None or any(c.action == "kms:Decrypt" for c in every):
        # The verifying launch that shows the calls not made has instances of its own: name this launch's.
        sub = result.instance_ids[0] if result.instance_ids else "aws:ec2-infrastructure"
        if infra is not None and any(_origin(c) == "infra" for c in calls):
            sub = infra.arn.rsplit("/", 1)[-1]
        lanes.append(_Lifeline("infra", "Instance identity", sub))
    keys = sorted({c.resource for c in every})
    lanes.append(_Lifeline("kms", "AWS KMS", _short(keys[0]) if len(keys) == 1 else f"{len(keys)} keys"))
    x = {lane.id: _LEFT + i * _COL for i, lane in enumerate(lanes)}
    note_x = x["kms"] + 24
    width = note_x + _NOTE_W
    body: list[str] = []
    y = _HEAD + 36

    def arrow(a: str, b: str, y: float, label: str, cls: str, dashed: bool = False) -> str:
        x1, x2 = x[a], x[b]
        pad = 6 if x2 > x1 else -6
        dash = ' stroke-dasharray="6 4"' if dashed else ""
        return (
            f'<line x1="{x1:.0f}" y1="{y:.0f}" x2="{x2 - pad:.0f}" y2="{y:.0f}"{dash} '
            f'marker-end="url(#head-{cls})"/>' + _text((x1 + x2) / 2, y - 7, label)
        )

    launch = result.kind.value
    body.append(f'<g class="msg api">{arrow("caller", "ec2", y, launch, "api")}</g>')
    y += _ROW
    for i, c in enumerate(calls, 1):
        refused = c.refused
        cls = "refused" if refused else ("unknown" if c.verdict is CallVerdict.UNKNOWN else "allowed")
        label = f"{i}. {c.action}"
        parts = [arrow(_origin(c), "kms", y, label, cls)]
        if refused:
            notes = _wrap(refusal_notes(c))
            for j, line in enumerate(notes):
                parts.append(_text(note_x, y - 7 + j * 16, line, "note", "start"))
            y += 26
            parts.append(arrow("kms", _origin(c), y, c.error_code or "refused", cls, dashed=True))
            y += max(0, (len(notes) - 3) * 16)
        else:
            parts.append(_text(note_x, y - 7, c.verdict.value, "note", "start"))
        body.append(
            f'<g class="{cls}" data-action="{escape(c.action)}" data-decision="{escape(c.verdict.value)}">'
            + "".join(parts)
            + "</g>"
        )
        y += _ROW
    for i, c in enumerate(later, len(calls) + 1):
        label = f"{i}. {c.action}"
        body.append(
            f'<g class="not-made" data-action="{escape(c.action)}">'
            + arrow(_origin(c), "kms", y, label, "not-made")
            + _text(note_x, y - 7, "not made: EC2 stops at the first refused call", "note", "start")
            + "</g>"
        )
        y += _ROW
    state = result.outcome.state
    reason = (result.outcome.state_reason or {}).get("Code") or (result.outcome.error or {}).get("Code")
    end_cls = "allowed" if result.succeeded else "refused"
    body.append(
        f'<g class="msg outcome">{arrow("ec2", "caller", y, state + (f": {reason}" if reason else ""), end_cls, True)}'
        "</g>"
    )
    height = y + 30
    heads = []
    for lane in lanes:
        cx = x[lane.id]
        heads.append(
            f'<g class="lane"><rect x="{cx - 85}" y="8" width="170" height="{_HEAD - 10}" rx="6"/>'
            + _text(cx, 28, lane.title, "lane-title")
            + _text(cx, 46, _clip(lane.sub, 26), "lane-sub")
            + f'<line class="life" x1="{cx}" y1="{_HEAD - 2}" x2="{cx}" y2="{height - 8}"/></g>'
        )
    style = (
        "<style>text{font:13px system-ui,sans-serif;fill:#1f2328}"
        ".lane rect{fill:#f6f8fa;stroke:#8c959f}.lane-title{font-weight:600}.lane-sub{font-size:11px;fill:#57606a}"
        ".life{stroke:#8c959f;stroke-dasharray:3 4}line{stroke:#1f2328;stroke-width:1.6}"
        ".refused line{stroke:#b3261e;stroke-width:2.4}.refused text{fill:#b3261e;font-weight:600}"
        ".refused text.note{font-weight:400}.allowed line{stroke:#1e6b35}.note{font-size:12px;fill:#57606a}"
        ".allowed text.note{fill:#1e6b35}.unknown line{stroke:#8a5a00}.unknown text{fill:#8a5a00}"
        ".not-made line{stroke:#c4c9ce;stroke-dasharray:5 4}.not-made text{fill:#9aa0a6}"
        ".outcome.msg text{font-weight:600}</style>"
    )
    markers = "".join(
        f'<marker id="head-{name}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" markerHeight="8" '
        f'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{colour}"/></marker>'
        for name, colour in (
            ("api", "#1f2328"),
            ("allowed", "#1e6b35"),
            ("refused", "#b3261e"),
            ("unknown", "#8a5a00"),
            ("not-made", "#c4c9ce"),
        )
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height:.0f}" width="{width}" '
        f'height="{height:.0f}" role="img" aria-label="The launch{escape(", " + launch)}: its KMS calls in order">'
        f"{style}<defs>{markers}</defs>{''.join(heads)}{''.join(body)}</svg>"
    )


def _short(arn: str) -> str:
    """An ARN's last part, which is what a lifeline's box has room for."""
    return arn.rsplit("/", 1)[-1] if "/" in arn else arn.rsplit(":", 1)[-1]


def _clip(s: str, n: int) -> str:
    return s if len(s) <= n else s[: n - 1] + "…"


# -- The page ----------------------------------------------------------------------------------------------------


def _calls_table(result: LaunchResult, later: tuple[CallResult, ...]) -> str:
    rows = []
    for i, c in enumerate(result.calls, 1):
        cls = "refused" if c.refused else ""
        why = "<br>".join(escape(n) for n in refusal_notes(c)) if c.refused else escape(c.verdict.value)
        rows.append(
            f'<tr><td>{i}</td><td class="{cls or "call"}"><code>{escape(c.action)}</code></td>'
            f'<td class="mono">{escape(c.call.principal.arn)}</td><td>{why}</td></tr>'
        )
    for i, c in enumerate(later, len(result.calls) + 1):
        who = c.call.principal.arn
        if c.call.principal.is_ec2_infrastructure and result.instance_ids:
            who = instance_identity(result.account, result.instance_ids[0], who.split(":")[1])
        rows.append(
            f'<tr class="muted"><td>{i}</td><td><code>{escape(c.action)}</code></td>'
            f'<td class="mono">{escape(who)}</td><td>not made</td></tr>'
        )
    return (
        "<table><thead><tr><th>#</th><th>call</th><th>as</th><th>decision</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
    )


def plan_html(plan: FixPlan) -> str:
    """One fix plan: its label, and each change with its commands and full documents."""
    words = verified_words(plan)
    if plan.alternative:
        badge, head = (
            "alternative",
            f"Alternative, changing the launch itself: {plan.title.removeprefix('alternative: ')}",
        )
    elif plan.verified:
        badge, head = "allowed", "Fix: the launch succeeds when simulated again with it"
    else:
        badge, head = "not-verified", "No verified fix"
    out = [f'<h3><span class="badge {badge}">{escape(words.split(",")[0])}</span>{escape(head)}</h3>']
    if words != words.split(",")[0]:
        out.append(f'<p class="muted">{escape(words)}</p>')
    if plan.unresolved:
        out.append(f"<p>{escape(plan.unresolved)}</p>")
    for i, fx in enumerate(plan.fixes, 1):
        out.append(
            f'<div class="fix"><p><strong>{i}. [{escape(fx.kind)}]</strong> <code>{escape(fx.target)}</code>'
            f" — account {escape(fx.account)}</p><p>{escape(fx.rationale)}</p>"
        )
        if fx.document is not None:
            out.append("<p>The whole document, as it is after the change:</p>" + pre(fx.document, "document"))
        elif fx.statements:
            out.append("<p>Statements:</p>" + pre(list(fx.statements), "document"))
        if fx.grant:
            out.append("<p>Grant:</p>" + pre(fx.grant, "document"))
        if fx.commands:
            out.append("<p>Commands:</p>" + pre("\n".join(f"$ {c}" for c in fx.commands), "commands"))
        out.append("</div>")
    return "".join(out)


def unknowns_html(result: LaunchResult, other: tuple[str, ...]) -> str:
    deciding = result.deciding_unknowns
    if not deciding and not other:
        return ""
    out = ['<section id="unknowns"><h2>What the snapshot does not hold</h2>']
    if deciding:
        out.append('<p>These could turn the answer:</p><ul class="unknowns">')
        out.extend(
            f'<li>{escape(u.fact)} <span class="muted">(could {escape(u.could.value)}; {escape(u.layer)})</span>'
            f"<br>to know: {escape(u.resolve)}</li>"
            for u in deciding
        )
        out.append("</ul>")
    if other:
        out.append("<p>Also missing from the snapshot:</p><ul>")
        out.extend(f"<li>{escape(u)}</li>" for u in other)
        out.append("</ul>")
    out.append("</section>")
    return "".join(out)


def render_html(diag: Diagnosis) -> str:
    """The diagnosis as one self-contained HTML page."""
    r = diag.result
    v = r.verdict
    later = not_made(diag)
    body = [
        f'<header class="verdict {verdict_class(v)}"><h1><span class="badge {verdict_class(v)}">'
        f"{escape(v.value)}</span>{escape(r.verdict_sentence())}</h1>",
        f"<p>{escape(r.kind.value)} by <code>{escape(r.principal or '(nobody)')}</code> in account "
        f"{escape(r.account)}, {escape(r.region)}</p>",
    ]
    if r.outcome.state_reason:
        body.append(f"<p>EC2 shows: <code>{escape(json.dumps({'StateReason': r.outcome.state_reason}))}</code></p>")
    if r.outcome.error:
        body.append(
            f"<p>EC2 answers: <code>{escape(r.outcome.error['Code'])}</code>: {escape(r.outcome.error['Message'])}</p>"
        )
    for f in diag.findings:
        body.append(f'<p class="headline">{escape(f.headline)}</p>')
    body.append("</header>")
    if r.calls:
        body.append('<section id="launch"><h2>The launch, call by call</h2>')
        body.append(f'<div class="diagram">{sequence_svg(r, later)}</div>')
        body.append(_calls_table(r, later))
        if r.refused_calls:
            body.append('<p class="muted">EC2 stops at the first refused call: the calls after it are not made.</p>')
        body.append("</section>")
    elif r.outcome.state != "rejected":
        body.append("<p>No KMS calls: no volume of this launch is encrypted.</p>")
    if r.volumes:
        body.append("<h3>Volumes</h3><ul>")
        for vol in r.volumes:
            enc = f"encrypted with {vol.key.arn}" if vol.key else "unencrypted"
            src = f" from {vol.snapshot.snapshot_id}" if vol.snapshot else ""
            body.append(
                f"<li><code>{escape(vol.device)} {escape(vol.volume_id)}</code>{escape(src)}: {escape(enc)}</li>"
            )
        body.append("</ul>")
    if diag.findings:
        body.append('<section id="diagnosis"><h2>Why</h2>')
        for f in diag.findings:
            body.append(f'<p class="headline">{escape(f.headline)}</p><p>who: {escape(f.who)}</p>')
            if f.details:
                body.append("<ul>" + "".join(f"<li>{escape(d)}</li>" for d in f.details) + "</ul>")
            body.append(f'<p>read: <a href="{escape(f.doc)}">{escape(f.doc)}</a></p>')
        body.append("</section>")
    if diag.plans:
        body.append('<section id="fix"><h2>Fix</h2>')
        body.extend(plan_html(p) for p in diag.plans)
        body.append("</section>")
    if diag.evidence:
        body.append(
            '<section id="cloudtrail"><h2>What CloudTrail recorded</h2><table><thead><tr><th>time</th>'
            "<th>call</th><th>by</th><th>error</th><th>against the prediction</th></tr></thead><tbody>"
        )
        for e in diag.evidence:
            mark = "agrees" if e.agrees else "DISAGREES"
            body.append(
                f"<tr><td>{escape(e.event_time)}</td><td>{escape(e.event_name)}</td>"
                f'<td class="mono">{escape(e.principal)}</td><td>{escape(e.error_code)}: {escape(e.error_message)}</td>'
                f"<td><strong>{mark}</strong>: {escape(e.note)}</td></tr>"
            )
        body.append("</tbody></table></section>")
    body.append(unknowns_html(r, diag.unknown))
    return page(f"kmslaunch doctor: {r.verdict_sentence()}", "\n".join(body))
