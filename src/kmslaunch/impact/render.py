"""An impact report as text, JSON, Markdown, SARIF 2.1.0 and one self-contained HTML page.

Where a move's deciding statement is in a changed document, SARIF points at that statement in the CHANGE file
(its Sid, else its Effect; ``uriBaseId`` CHANGES, the directory the files were named from); otherwise at the
snapshot file that holds it, as ``doctor`` and ``audit`` do (``uriBaseId`` SNAPSHOT).
"""

from __future__ import annotations

from collections.abc import Callable
from html import escape
from pathlib import Path as FsPath
from typing import Any

from kmslaunch import __version__
from kmslaunch.audit.render import who
from kmslaunch.doctor.artifacts import Place, locate, member, original_uri_base_ids, place_of_call
from kmslaunch.doctor.html import page
from kmslaunch.doctor.sarif import fingerprint, refusal_rule, sentences, snapshot_root
from kmslaunch.policy.decision import StatementRef
from kmslaunch.policy.model import PolicyType

from .changes import Change, describe
from .compare import MOVES, Cause, ImpactReport, Move, Run

CHANGES_BASE = "CHANGES"
_WORDS = {
    "breaks": "breaks",
    "starts-working": "starts working",
    "to-unknown": "becomes unsure",
    "from-unknown": "becomes sure",
}
_HEADINGS = {
    "breaks": "Paths that break",
    "starts-working": "Paths that start to work",
    "to-unknown": "Paths whose verdict becomes unsure",
    "from-unknown": "Paths whose verdict becomes sure",
}
_MARKS = {"breaks": "✗", "starts-working": "✓", "to-unknown": "?", "from-unknown": "="}


def _verdict(r: Run) -> str:
    extra = f" ({r.state})" if r.state not in (r.verdict, "running") else ""
    return r.verdict + extra


def _ref(ref: StatementRef) -> str:
    layer = ref.layer.value if isinstance(ref.layer, PolicyType) else ref.layer
    return f"{ref.effect.value} statement {ref.statement} of {layer} {ref.policy}"


def statement_place(cause: Cause, find: Callable[[str], FsPath]) -> Place | None:
    """The statement's place in its CHANGE file: the Sid, else the Effect of its position, else the file."""
    if not cause.in_change or cause.change is None or cause.change.origin.file is None or cause.statement is None:
        return None
    file = cause.change.origin.file
    ref = cause.statement
    chain = [member("Statement")]
    if ref.statement.startswith("Statement["):
        chain += [member("Effect")] * (ref.index + 1)
    else:
        chain.append(member("Sid", ref.statement))
    real = find(file)
    got = locate(real.parent, real.name, chain)
    return Place(file, got.line, got.column)


def _cause_lines(c: Cause, find: Callable[[str], FsPath]) -> list[str]:
    layer = f", {c.layer}" if c.layer else ""
    out = [f"call: {c.action} on {c.resource or '-'} by {c.principal} ({c.decision}{layer})"]
    if c.message:
        out.append(f"  {c.message}")
    if c.statement is not None:
        where = ""
        place = statement_place(c, find)
        if place is not None:
            where = f", in {place.uri}" + (f" line {place.line}" if place.line else "")
        out.append(f"statement: {_ref(c.statement)}{where}")
    if c.change is not None:
        out.append(f"change: {c.change.origin.flag}")
    return out


def _summary(r: ImpactReport) -> dict[str, Any]:
    return {
        "paths": r.paths,
        "reached": r.reached,
        "failing_before": r.failing_before,
        "failing_after": r.failing_after,
        **{m.replace("-", "_"): len(r.of(m)) for m in MOVES},
        "simulated_before": r.simulated_before,
        "left_alone": r.left_alone,
        "simulated_after": r.simulated_after,
        "reused": r.reused,
    }


def _headline(r: ImpactReport) -> str:
    s = _summary(r)
    return (
        f"{s['paths']} launch paths, {s['reached']} of which the changes can reach: {s['failing_before']} of those "
        f"fail before the changes, {s['failing_after']} after; "
        f"{s['breaks']} break, {s['starts_working']} start to work, {s['to_unknown']} become unsure, "
        f"{s['from_unknown']} become sure"
    )


def render_text(r: ImpactReport, find: Callable[[str], FsPath] = FsPath) -> list[str]:
    out = [f"kmslaunch impact: {r.snapshot}", "", "changes:"]
    out += [f"  {c.origin.flag}\n    {describe(c)}" for c in r.changes]
    out += [
        "",
        _headline(r),
        f"({r.simulated_before} distinct launches simulated before the changes and {r.left_alone} not, which the "
        f"changes cannot reach; after, {r.simulated_after} simulated again and {r.reused} left as they were)",
    ]
    for move in MOVES:
        moves = r.of(move)
        if not moves:
            continue
        out += ["", f"== {_HEADINGS[move].lower()}"]
        for m in moves:
            p = m.path
            out += ["", f"{_MARKS[move]} {p.account} {p.region} {p.kind}: {who(p)}"]
            out.append(f"  {_verdict(m.before)} → {_verdict(m.after)}")
            run = m.after if move != "from-unknown" else m.before
            if run.unless:
                out += [f"  unless: {u}" for u in run.unless]
            if m.after.note and m.after.verdict in ("unknown", "rejected"):
                out.append(f"  {m.after.note}")
            if m.cause is not None:
                out += [f"  {line}" for line in _cause_lines(m.cause, find)]
    if not r.moves:
        out += ["", "No launch path changes its verdict."]
    if r.unknown:
        out += ["", "what the snapshot does not hold:"] + [f"  {u}" for u in r.unknown]
    if r.unevaluated:
        out += ["", "changes that cannot be evaluated (unknown until apply):"] + [f"  {u}" for u in r.unevaluated]
    out += list(r.notes)
    return out


def _run_json(run: Run) -> dict[str, Any]:
    return {
        "verdict": run.verdict,
        "state": run.state,
        "unless": list(run.unless),
        "note": run.note,
        "error": {"Code": run.error[0], "Message": run.error[1]} if run.error else None,
    }


def _change_json(c: Change) -> dict[str, Any]:
    return {"kind": c.kind, "option": c.origin.flag, "file": c.origin.file, "what": describe(c)}


def _cause_json(c: Cause, find: Callable[[str], FsPath]) -> dict[str, Any]:
    place = statement_place(c, find)
    return {
        "action": c.action,
        "resource": c.resource,
        "principal": c.principal,
        "decision": c.decision,
        "layer": c.layer,
        "message": c.message,
        "statement": c.statement.to_json() if c.statement else None,
        "change": _change_json(c.change) if c.change else None,
        "in_change_file": c.in_change,
        "location": {"file": place.uri, "line": place.line, "column": place.column} if place else None,
    }


def _move_json(m: Move, find: Callable[[str], FsPath]) -> dict[str, Any]:
    p = m.path
    return {
        "move": m.move,
        "kind": p.kind,
        "account": p.account,
        "region": p.region,
        "target": p.target,
        "principal": p.principal,
        "key": p.key,
        "before": _run_json(m.before),
        "after": _run_json(m.after),
        "cause": _cause_json(m.cause, find) if m.cause else None,
    }


def to_json(r: ImpactReport, find: Callable[[str], FsPath] = FsPath) -> dict[str, Any]:
    return {
        "format": "kmslaunch-impact/1",
        "snapshot": r.snapshot,
        "changes": [_change_json(c) for c in r.changes],
        "summary": _summary(r),
        "moves": [_move_json(m, find) for m in r.moves],
        "unknown": list(r.unknown),
        "unevaluated": list(r.unevaluated),
        "notes": list(r.notes),
        "exit_code": r.exit_code,
    }


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def render_markdown(r: ImpactReport, find: Callable[[str], FsPath] = FsPath) -> str:
    s = _summary(r)
    out = [f"# kmslaunch impact: `{r.snapshot}`", "", "## Changes", ""]
    out += [f"- `{c.origin.flag}`: {describe(c)}" for c in r.changes]
    out += ["", "## Summary", "", "| | paths |", "|---|---|", f"| launch paths | {s['paths']} |"]
    out.append(f"| the changes can reach | {s['reached']} |")
    out += [f"| failing before | {s['failing_before']} |", f"| failing after | {s['failing_after']} |"]
    out += [f"| {_WORDS[m]} | {len(r.of(m))} |" for m in MOVES]
    out.append("")
    for move in MOVES:
        moves = r.of(move)
        if not moves:
            continue
        out += [f"## {_HEADINGS[move]}", ""]
        for m in moves:
            out += [f"### {_md(m.path.account)} {m.path.region} {m.path.kind}: {_md(who(m.path))}", ""]
            out.append(f"- {_verdict(m.before)} → **{_verdict(m.after)}**")
            run = m.after if move != "from-unknown" else m.before
            out += [f"- unless: {_md(u)}" for u in run.unless]
            if m.cause is not None:
                out += [f"- {_md(line.strip())}" for line in _cause_lines(m.cause, find)]
            out.append("")
    if not r.moves:
        out += ["No launch path changes its verdict.", ""]
    if r.unevaluated:
        out += ["## Changes that cannot be evaluated (unknown until apply)", ""]
        out += [f"- {_md(u)}" for u in r.unevaluated] + [""]
    out += [_md(line.strip()) for line in r.notes if line.strip()]
    return "\n".join(out)


_RULES = {
    "breaks": ("KMSI", "error", "A change breaks a launch path ({what})"),
    "starts-working": ("KMSI9", "note", "A change makes a launch path work"),
    "to-unknown": ("KMSI8", "warning", "A change makes a launch path depend on a fact the snapshot does not hold"),
    "from-unknown": ("KMSI7", "note", "A change makes a launch path's verdict certain"),
}


def render_sarif(r: ImpactReport, *, uri: str, find: Callable[[str], FsPath] = FsPath) -> dict[str, Any]:
    """SARIF 2.1.0, one result per move; ``uri`` is the snapshot directory."""
    root = snapshot_root(uri)
    rules: dict[str, dict[str, Any]] = {}
    results = []
    for m in r.moves:
        prefix, level, name = _RULES[m.move]
        c = m.cause
        if m.move == "breaks":
            rid, name = refusal_rule(c.layer if c and c.layer else "", prefix, "a launch path makes", name)
        else:
            rid = f"{prefix}00"
        rules[rid] = {"id": rid, "name": name.format(what="refused"), "shortDescription": {"text": name}}
        lines = _cause_lines(c, find) if c is not None else []
        text = sentences(f"{who(m.path)} {_WORDS[m.move]}: {_verdict(m.before)} → {_verdict(m.after)}", *lines)
        place = statement_place(c, find) if c is not None else None
        if place is not None:
            loc: dict[str, Any] = {"artifactLocation": {"uri": place.uri, "uriBaseId": CHANGES_BASE}}
            if FsPath(place.uri).is_absolute():
                loc = {"artifactLocation": {"uri": FsPath(place.uri).as_uri()}}
            if place.line is not None:
                loc["region"] = {"startLine": place.line, "startColumn": place.column or 1}
        elif c is not None and c.call is not None:
            loc = place_of_call(c.call, root, principal=m.path.principal).to_sarif()
        else:
            loc = Place("snapshot.json").to_sarif()
        results.append(
            {
                "ruleId": rid,
                "level": level,
                "message": {"text": text},
                "locations": [
                    {
                        "physicalLocation": loc,
                        "logicalLocations": [{"fullyQualifiedName": m.path.key or m.path.target, "kind": "resource"}],
                    }
                ],
                "partialFingerprints": fingerprint(
                    rid, m.path.principal or m.path.target, c.action if c else m.path.kind, m.path.key or m.path.target
                ),
                "properties": {
                    "move": m.move,
                    "kind": m.path.kind,
                    "before": m.before.verdict,
                    "after": m.after.verdict,
                    "change": c.change.origin.flag if c and c.change else None,
                },
            }
        )
    bases = original_uri_base_ids(uri)
    bases[CHANGES_BASE] = {
        "uri": FsPath.cwd().resolve().as_uri().rstrip("/") + "/",
        "description": {"text": "The directory the CHANGE files were named from."},
    }
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "kmslaunch",
                        "version": __version__,
                        "informationUri": "https://docs.aws.amazon.com/ebs/latest/userguide/ebs-encryption-requirements.html",
                        "rules": [rules[k] for k in sorted(rules)],
                    }
                },
                "results": results,
                "originalUriBaseIds": bases,
                "columnKind": "unicodeCodePoints",
            }
        ],
    }


_CLASSES = {"breaks": "fails", "starts-working": "runs", "to-unknown": "runs-unless", "from-unknown": "not-verified"}


def render_html(r: ImpactReport, find: Callable[[str], FsPath] = FsPath) -> str:
    """The report as one self-contained HTML page (the doctor's skeleton and styles: no script, nothing fetched)."""
    breaks = len(r.of("breaks"))
    verdict = "fails" if breaks else ("runs-unless" if r.exit_code == 3 else "runs")
    title = f"kmslaunch impact: {breaks} of {r.paths} launch paths break"
    body = [
        f'<header class="verdict {verdict}"><h1>{escape(title)}</h1><p>snapshot <code>{escape(r.snapshot)}</code>; '
        f"{escape(_headline(r))}</p></header>",
        "<h2>Changes</h2><ul>",
    ]
    body += [f"<li><code>{escape(c.origin.flag)}</code>: {escape(describe(c))}</li>" for c in r.changes]
    body.append("</ul>")
    for move in MOVES:
        moves = r.of(move)
        if not moves:
            continue
        cls = _CLASSES[move]
        body.append(f'<section id="{move}"><h2>{escape(_HEADINGS[move])}</h2>')
        for m in moves:
            body.append(
                f'<div class="fix path {cls}"><h3><span class="badge {cls}">{escape(_WORDS[move])}</span>'
                f"{escape(m.path.account)} {escape(m.path.region)} {escape(m.path.kind)}: {escape(who(m.path))}</h3>"
                f"<p>{escape(_verdict(m.before))} → <strong>{escape(_verdict(m.after))}</strong></p>"
            )
            run = m.after if move != "from-unknown" else m.before
            if run.unless:
                body.append("<ul>" + "".join(f"<li>unless: {escape(u)}</li>" for u in run.unless) + "</ul>")
            if m.cause is not None:
                body.append(
                    "<ul>" + "".join(f'<li class="mono">{escape(x.strip())}</li>' for x in _cause_lines(m.cause, find))
                )
                body.append("</ul>")
            body.append("</div>")
        body.append("</section>")
    if not r.moves:
        body.append("<p>No launch path changes its verdict.</p>")
    return page(title, "\n".join(body))
