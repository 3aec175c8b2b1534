"""A pre-flight report as text, JSON, Markdown, SARIF 2.1.0 and HTML: each failing launch path pinned to its
resource's address (and the key's), with the refused call, the deciding statement and the doctor's verified fix;
SARIF results point at the plan file and the line where the resource is."""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterator, Sequence
from html import escape
from pathlib import Path
from typing import Any

from kmslaunch import __version__
from kmslaunch.audit.render import _fix_lines, _label
from kmslaunch.doctor.html import page, pre
from kmslaunch.doctor.sarif import UNKNOWN_DOC, UNKNOWN_RULE, fingerprint, refusal_rule, sentences

from .check import CheckReport, PathCheck

_MARK = {"fails": "✗", "fails-unless": "✗", "runs-unless": "?", "not-simulated": "?", "runs": "✓"}


def _name(p: PathCheck) -> str:
    """The resource as the user knows it: a Terraform address, a logical id, or a CDK construct path followed by
    its logical id."""
    return p.source.address if p.source else p.address


def _where(p: PathCheck) -> str:
    line = f" (line {p.source.line})" if p.source and p.source.line else ""
    return f"{_name(p)}{line}"


def _reports(reports: CheckReport | Sequence[CheckReport]) -> list[CheckReport]:
    return [reports] if isinstance(reports, CheckReport) else list(reports)


def _fix_text(fix: dict[str, Any] | None) -> Iterator[str]:
    """The doctor's fix, with the file each command reads written first (one line, so that it survives being
    pasted from an indented report): a key policy outside the plan is replaced whole by put-key-policy."""
    for line in _fix_lines(fix):
        yield line
        for f in (fix or {}).get("fixes") or []:
            if line == f"  [{f['kind']}] {f['target']}" and not f.get("in_plan"):
                for name in f.get("files") or []:
                    if f.get("document") is not None and name.startswith("key-policy-"):
                        document = json.dumps(f["document"], separators=(", ", ": "))
                        yield f"    $ printf '%s\\n' {shlex.quote(document)} > {name}"


def _refused(p: PathCheck) -> str | None:
    call = p.outcome.refused
    if call is None:
        return None
    return (
        f"{call.call.operation or call.action} refused: {call.action} on {call.resource} as {call.call.principal.arn}"
    )


def render_text(reports: CheckReport | Sequence[CheckReport]) -> list[str]:
    """Each plan's report (a cdk.out gives one per stack), separated by a blank line."""
    out: list[str] = []
    for report in _reports(reports):
        out += ([""] if out else []) + _text(report)
    return out


def _text(report: CheckReport) -> list[str]:
    s = report.to_json()["summary"]
    where = "the template" if report.plan.format == "cloudformation" else "the plan"
    out = [f"kmslaunch check: {report.plan.file}" + (f" over {report.snapshot}" if report.snapshot else "")]
    out.append(f"account {report.account}, region {report.region}")
    out.append(
        f"{s['paths']} launch path(s): {s['failing']} fail, {s['unless']} unsure (runs unless / not simulated), "
        f"{s['runs']} run"
    )
    for p in report.paths:
        out += ["", f"{_MARK[p.verdict]} {p.verdict}: {p.what} {_where(p)}"]
        if p.principal:
            out.append(f"  launched as {p.principal}")
        if p.fails:
            out.append(f"  {p.outcome.headline or p.outcome.cause or ''}")
            refused = _refused(p)
            if refused:
                out.append(f"  {refused}")
            if p.key_address:
                line = f", line {p.key_source.line}" if p.key_source and p.key_source.line else ""
                name = p.key_source.address if p.key_source else p.key_address
                out.append(f"  key: {name}{line} ({p.key})")
            elif p.key_origin:
                out.append(f"  key: {p.key}, {p.key_origin}")
            if p.deciding:
                out.append(f"  deciding statement: {p.deciding}")
            out += [f"  {line}" for line in _fix_text(p.outcome.fix)]
            out += [f"  {line}" for line in _in_plan_lines(p.outcome.fix, where)]
        if p.unless:
            out.append("  unless:" if not p.fails else "  it could still run, if:")
            out += [f"  - {u}" for u in p.unless]
        note = p.note or (p.outcome.note if not p.fails else None)
        if note:
            out.append(f"  note: {note}")
    if report.plan.unmodelled:
        out += ["", "not modelled (no launch path reads them): " + ", ".join(a for _, a in report.plan.unmodelled)]
    ignored = [f"{r.address}: {', '.join(r.ignored)}" for r in report.plan.resources if r.ignored]
    if ignored:
        out += ["", "attributes read but not modelled:"] + [f"  {i}" for i in ignored]
    if report.unknown:
        out += ["", "not in the snapshot:"] + [f"- {u}" for u in report.unknown]
    return out


def _in_plan_lines(fix: dict[str, Any] | None, where: str = "the plan") -> list[str]:
    """For a change to a resource the plan creates: the statements to add to its policy in the configuration."""
    out = []
    again = "check again" if where == "the template" else "plan again"
    for f in (fix or {}).get("fixes") or []:
        if f.get("in_plan"):
            line = f" (line {f['line']} of {where})" if f.get("line") else ""
            out.append(f"  add to the policy of {f['in_plan']}{line}, then {again}:")
            out += [f"    {json.dumps(st, separators=(', ', ': '))}" for st in f.get("statements") or []]
    return out


def render_markdown(reports: CheckReport | Sequence[CheckReport]) -> str:
    """One section per plan (a cdk.out gives one per stack)."""
    return "\n".join(_markdown(r, len(_reports(reports)) > 1) for r in _reports(reports))


def _markdown(report: CheckReport, named: bool) -> str:
    s = report.to_json()["summary"]
    title = f"## kmslaunch check: {s['failing']} of {s['paths']} launch paths fail"
    out = [title + (f" in `{report.plan.file}`" if named else ""), ""]
    out += ["| | resource | launch | verdict |", "|---|---|---|---|"]
    for p in report.paths:
        out.append(f"| {_MARK[p.verdict]} | `{_name(p)}` | {p.what} | {p.verdict} |")
    for p in report.failing:
        out += ["", f"### `{_name(p)}`", "", f"**{p.verdict}**: {p.outcome.headline or p.outcome.cause}"]
        refused = _refused(p)
        if refused:
            out += ["", refused]
        if p.key_address:
            out += ["", f"Key: `{p.key_source.address if p.key_source else p.key_address}` (`{p.key}`)"]
        elif p.key_origin:
            out += ["", f"Key: `{p.key}`, {p.key_origin}"]
        if p.deciding:
            out += ["", f"Deciding statement: {p.deciding}"]
        fix = p.outcome.fix
        if fix:
            out += ["", f"{_label(fix)}: {fix['title'].removeprefix('alternative: ')}"]
            cmds = [cmd for f in fix["fixes"] for cmd in f["commands"]]
            if cmds:
                out += ["", "```sh", *cmds, "```"]
            for f in fix["fixes"]:
                if f.get("in_plan"):
                    out += ["", f"Add to the policy of `{f['in_plan']}`:", "", "```json"]
                    out += [json.dumps(f.get("statements") or [], indent=2), "```"]
    unsure = report.unsure
    if unsure:
        out += ["", "### Launch paths that run unless something unknown refuses them", ""]
        for p in unsure:
            out.append(f"- `{_name(p)}`: " + "; ".join(p.unless or (p.note or p.outcome.note or "not simulated",)))
    return "\n".join(out) + "\n"


def render_sarif(reports: CheckReport | Sequence[CheckReport]) -> dict[str, Any]:
    """One result per failing or unsure path, at the plan file's line of the key when the key decided, else of
    the launching resource; the plans of a cdk.out (one per stack) share one run, each result in its template."""
    rules: dict[str, dict[str, Any]] = {}
    results = []
    for report in _reports(reports):
        results += _sarif_results(report, rules)
    return _sarif(rules, results)


def _sarif_results(report: CheckReport, rules: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    results = []
    for p in report.paths:
        if not (p.fails or p.unsure):
            continue
        if p.fails:
            rid, name = refusal_rule(p.outcome.cause or "", "KMSC", "a planned launch makes", "A planned launch fails")
            rules[rid] = {"id": rid, "name": name, "shortDescription": {"text": name}}
            fix = p.outcome.fix
            fix_text = ""
            if fix and fix["verified"]:
                steps = [f["commands"][0] for f in fix["fixes"] if f["commands"]]
                steps += [
                    f"add {len(f.get('statements') or [])} statement(s) to the policy of {f['in_plan']}"
                    for f in fix["fixes"]
                    if f.get("in_plan")
                ]
                fix_text = f"{_label(fix)}: " + "; ".join(steps)
            text = sentences(
                f"{p.what} {_name(p)}: {p.outcome.headline or p.outcome.cause}",
                f"Deciding statement: {p.deciding}" if p.deciding else "",
                fix_text,
            )
            level = "error"
        else:
            rid = UNKNOWN_RULE
            rules[rid] = {
                "id": rid,
                "name": "Launch depends on a fact the plan does not hold",
                "shortDescription": {"text": "Launch depends on a fact the plan does not hold"},
                "helpUri": UNKNOWN_DOC,
            }
            why = "; ".join(p.unless) or p.note or p.outcome.note or "not simulated"
            text = sentences(f"{p.what} {_name(p)} runs only unless this refuses it: {why}")
            level = "warning"
        # The key's line when the key decides or the fix is to its policy; else the launching resource's.
        fixes = (p.outcome.fix or {}).get("fixes") or []
        decided_by_key = p.fails and (
            (p.outcome.cause or "") in ("key-policy", "grant", "key-state")
            or any(f["kind"] == "key-policy" for f in fixes)
        )
        at = p.key_source if decided_by_key and p.key_source else p.source
        region: dict[str, Any] = {"startLine": at.line, "startColumn": at.column or 1} if at and at.line else {}
        location: dict[str, Any] = {
            "physicalLocation": {
                "artifactLocation": {"uri": Path(report.plan.file).as_posix()},
                **({"region": region} if region else {}),
            },
            "logicalLocations": [
                # name: the logical id (or Terraform address); fullyQualifiedName: a CDK construct path with it.
                {"name": p.address, "fullyQualifiedName": _name(p), "kind": "resource"},
                *(
                    [
                        {
                            "name": p.key_address,
                            "fullyQualifiedName": p.key_source.address if p.key_source else p.key_address,
                            "kind": "resource",
                        }
                    ]
                    if p.key_address
                    else []
                ),
            ],
        }
        results.append(
            {
                "ruleId": rid,
                "level": level,
                "message": {"text": text},
                "locations": [location],
                "partialFingerprints": fingerprint(rid, p.principal or p.address, p.what, p.key_address or p.address),
                "properties": {"address": p.address, "verdict": p.verdict, "key_address": p.key_address},
            }
        )
    return results


def _sarif(rules: dict[str, dict[str, Any]], results: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "kmslaunch-check",
                        "version": __version__,
                        "informationUri": "https://docs.aws.amazon.com/ebs/latest/userguide/ebs-encryption-requirements.html",
                        "rules": [rules[k] for k in sorted(rules)],
                    }
                },
                "results": results,
            }
        ],
    }


def render_html(reports: CheckReport | Sequence[CheckReport]) -> str:
    """One page; a section per plan (a cdk.out gives one per stack)."""
    all_ = _reports(reports)
    title = all_[0].plan.file if len(all_) == 1 else f"{len(all_)} stacks"
    return page(f"kmslaunch check: {title}", "".join("".join(_html(r)) for r in all_))


def _html(report: CheckReport) -> list[str]:
    s = report.to_json()["summary"]
    rows = "".join(
        f"<tr class='{escape(p.verdict)}'><td>{_MARK[p.verdict]}</td><td><code>{escape(_name(p))}</code></td>"
        f"<td>{escape(p.what)}</td><td>{escape(p.verdict)}</td></tr>"
        for p in report.paths
    )
    body = [
        f"<h1>kmslaunch check: {s['failing']} of {s['paths']} launch paths fail</h1>",
        f"<p>Plan <code>{escape(report.plan.file)}</code>, account {escape(report.account)}, region "
        f"{escape(report.region)}.</p>",
        f"<table><tr><th></th><th>resource</th><th>launch</th><th>verdict</th></tr>{rows}</table>",
    ]
    for p in report.paths:
        if not (p.fails or p.unsure):
            continue
        body.append(f"<section><h2><code>{escape(_name(p))}</code>: {escape(p.verdict)}</h2>")
        if p.fails:
            body.append(f"<p>{escape(p.outcome.headline or p.outcome.cause or '')}</p>")
            refused = _refused(p)
            if refused:
                body.append(f"<p>{escape(refused)}</p>")
            if p.key_address:
                body.append(f"<p>Key: <code>{escape(p.key_address)}</code> ({escape(p.key or '')})</p>")
            if p.deciding:
                body.append(f"<p>Deciding statement: {escape(p.deciding)}</p>")
            fix = p.outcome.fix
            if fix:
                body.append(f"<p><strong>{escape(_label(fix))}</strong>: {escape(fix['title'])}</p>")
                cmds = [c for f in fix["fixes"] for c in f["commands"]]
                if cmds:
                    body.append(pre("\n".join(f"$ {c}" for c in cmds), "commands"))
                for f in fix["fixes"]:
                    if f.get("in_plan"):
                        body.append(f"<p>Add to the policy of <code>{escape(f['in_plan'])}</code>:</p>")
                        body.append(pre(f.get("statements") or [], "document"))
        if p.unless:
            body.append("<ul>" + "".join(f"<li>{escape(u)}</li>" for u in p.unless) + "</ul>")
        elif p.note:
            body.append(f"<p>{escape(p.note)}</p>")
        body.append("</section>")
    return body
