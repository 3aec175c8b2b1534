"""An audit report as one self-contained HTML page: the summary, every launch path (failing ones first, each with
the doctor's finding and fix), then the lint findings. The page skeleton and styles are the doctor's."""

from __future__ import annotations

from html import escape
from typing import Any

from kmslaunch.doctor.html import page, pre

from .engine import AuditReport, PathResult
from .render import _label, _summary, who


def _order(p: PathResult) -> int:
    if p.outcome.fails:
        return 0
    if p.outcome.unsure:
        return 1
    if p.outcome.verdict is None:
        return 3  # not simulated
    return 2


def _status(p: PathResult) -> tuple[str, str]:
    """(CSS class, word) of a path's result."""
    if p.outcome.fails:
        return "fails", "fails"
    if p.outcome.unsure:
        return "runs-unless", "runs unless"
    if p.outcome.verdict is None:
        return "not-verified", "not simulated"
    return "runs", "runs"


def _fix_html(fix: dict[str, Any] | None) -> str:
    if not fix:
        return ""
    out = [f"<p><strong>{escape(_label(fix))}</strong>: {escape(fix['title'].removeprefix('alternative: '))}</p>"]
    if fix.get("unresolved"):
        out.append(f"<p>unresolved: {escape(fix['unresolved'])}</p>")
    for f in fix["fixes"]:
        out.append(f"<p>[{escape(f['kind'])}] <code>{escape(f['target'])}</code> — {escape(f['rationale'])}</p>")
        if f.get("document") is not None:
            out.append(pre(f["document"], "document"))
        elif f.get("statements"):
            out.append(pre(f["statements"], "document"))
        if f.get("commands"):
            out.append(pre("\n".join(f"$ {c}" for c in f["commands"]), "commands"))
    return "".join(out)


def _path_html(p: PathResult) -> str:
    cls, word = _status(p)
    o = p.outcome
    out = [
        f'<div class="fix path {cls}"><h3><span class="badge {cls}">{escape(word)}</span>'
        f"{escape(p.account)} {escape(p.region)} {escape(p.kind)}: {escape(who(p))}</h3>"
    ]
    line = o.headline or o.cause or o.note or ""
    out.append(f"<p>{escape(o.state)}" + (f': <span class="headline">{escape(line)}</span>' if line else "") + "</p>")
    if p.representative:
        out.append(f'<p class="muted">same policies as {escape(p.representative)}, which was simulated</p>')
    if o.unless:
        out.append("<ul>" + "".join(f"<li>unless: {escape(u)}</li>" for u in o.unless) + "</ul>")
    if o.fails:
        out.append(_fix_html(o.fix))
    out.append("</div>")
    return "".join(out)


def render_html(report: AuditReport) -> str:
    """The audit as one self-contained HTML page."""
    s = _summary(report)
    verdict = "fails" if s["failing"] else ("runs-unless" if s["unless"] else "runs")
    body = [
        f'<header class="verdict {verdict}"><h1>kmslaunch audit: {s["failing"]} of {s["paths"]} launch paths '
        f"fail</h1><p>snapshot <code>{escape(report.snapshot)}</code>; {report.simulations} distinct launches "
        f"simulated, {report.diagnoses} diagnosed; lint: {s['lint']['error']} error(s), "
        f"{s['lint']['warning']} warning(s)</p></header>",
        "<h2>Summary</h2><table><thead><tr><th>launch paths</th><th>audited</th><th>failing</th><th>unless</th>"
        "<th>not simulated</th></tr></thead><tbody>",
    ]
    for kind, row in sorted(s["by_kind"].items()):
        body.append(
            f"<tr><td>{escape(kind)}</td><td>{row['paths']}</td><td>{row['failing']}</td><td>{row['unless']}</td>"
            f"<td>{row['not_simulated']}</td></tr>"
        )
    body.append(f"<tr><th>total</th><th>{s['paths']}</th><th>{s['failing']}</th><th>{s['unless']}</th><th></th></tr>")
    body.append("</tbody></table>")
    if s["by_cause"]:
        body.append("<p>Failing, by cause: " + ", ".join(f"{escape(c)} {n}" for c, n in s["by_cause"].items()) + "</p>")
    body.append('<section id="paths"><h2>Launch paths</h2>')
    body.extend(_path_html(p) for p in sorted(report.paths, key=_order))
    body.append("</section>")
    if report.lint:
        body.append(
            '<section id="lint"><h2>Lint</h2><table><thead><tr><th>severity</th><th>rule</th><th>where</th>'
            "<th>path</th><th>finding</th></tr></thead><tbody>"
        )
        for f in report.lint:
            where = f"{f.account}{' ' + f.region if f.region else ''} {f.resource} ({f.policy})"
            sev = f.severity.value
            suggestion = f"<br>suggestion: {escape(f.suggestion)}" if f.suggestion else ""
            body.append(
                f'<tr><td class="{"refused" if sev == "error" else ""}">{escape(sev)}</td><td>{escape(f.rule)}</td>'
                f'<td class="mono">{escape(where)}</td><td class="mono">{escape(f.path)}</td>'
                f"<td>{escape(f.message)}{suggestion}</td></tr>"
            )
        body.append("</tbody></table></section>")
    if report.unknown:
        body.append('<section id="unknowns"><h2>What the snapshot does not hold</h2><ul>')
        body.extend(f"<li>{escape(u)}</li>" for u in report.unknown)
        body.append("</ul></section>")
    return page(f"kmslaunch audit: {s['failing']} of {s['paths']} launch paths fail", "\n".join(body))
