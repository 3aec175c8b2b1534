"""An audit report as text, JSON, Markdown and SARIF 2.1.0. A summary first (paths audited, failing, by cause),
then the details: each failing path with the finding's headline and the doctor's fix, then the lint findings."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from kmslaunch import __version__
from kmslaunch.doctor.sarif import refusal_rule

from .engine import AuditReport, PathResult
from .lint import RULES

FORMAT = "kmslaunch-audit/1"


def to_json(report: AuditReport) -> dict[str, Any]:
    """The report as data; the shape is documented in ``kmslaunch.audit``."""
    return {
        "format": FORMAT,
        "snapshot": report.snapshot,
        "summary": _summary(report),
        "paths": [p.to_json() for p in report.paths],
        "lint": [f.to_json() for f in report.lint],
        "unknown": list(report.unknown),
    }


def _summary(report: AuditReport) -> dict[str, Any]:
    return {
        "paths": len(report.paths),
        "failing": len(report.failing),
        "simulations": report.simulations,
        "diagnoses": report.diagnoses,
        "by_cause": report.by_cause(),
        "by_kind": report.by_kind(),
        "lint": {
            "error": report.lint_errors,
            "warning": len(report.lint) - report.lint_errors,
        },
    }


def _who(p: PathResult) -> str:
    if p.kind == "auto-scaling-group":
        return f"Auto Scaling group {p.target}"
    if p.kind == "launch-template":
        return f"launch template {p.target} by {p.principal}"
    if p.kind == "terminated-instance":
        return f"terminated instance {p.target}" + (f" launched by {p.principal}" if p.principal else "")
    if p.kind == "default-key":
        return f"default EBS key {p.target} by {p.principal}"
    return f"{p.principal} with {p.key}"


def _label(fix: dict[str, Any]) -> str:
    """The label of a fix: "fix (verified…)" or "alternative, changing the launch itself (verified…)"."""
    words = "not verified"
    if fix["verified"]:
        rests = "; ".join(f"assumption {a['id']}: {a['choice']}" for a in fix.get("assumptions") or [])
        words = "verified" + (f", resting on {rests}" if rests else "")
        if fix.get("unless"):
            words += ", unless something the snapshot does not hold refuses it: " + "; ".join(fix["unless"])
    return f"{'alternative, changing the launch itself' if fix.get('alternative') else 'fix'} ({words})"


def _fix_lines(fix: dict[str, Any] | None) -> Iterator[str]:
    if not fix:
        return
    yield f"{_label(fix)}: {fix['title'].removeprefix('alternative: ')}"
    if fix.get("unresolved"):
        yield f"  unresolved: {fix['unresolved']}"
    for f in fix["fixes"]:
        yield f"  [{f['kind']}] {f['target']}"
        for cmd in f["commands"]:
            yield f"    $ {cmd}"


def render_text(report: AuditReport) -> list[str]:
    s = _summary(report)
    out = [f"kmslaunch audit: {report.snapshot}", ""]
    out.append(f"{'launch paths':<28}{'audited':>10}{'failing':>10}{'not simulated':>16}")
    for kind, row in sorted(s["by_kind"].items()):
        out.append(f"{kind:<28}{row['paths']:>10}{row['failing']:>10}{row['not_simulated']:>16}")
    out.append(f"{'total':<28}{s['paths']:>10}{s['failing']:>10}")
    out.append(f"({report.simulations} distinct launches simulated, {report.diagnoses} diagnosed)")
    if s["by_cause"]:
        out += ["", "failing, by cause:"]
        out += [f"  {cause:<26}{n:>10}" for cause, n in s["by_cause"].items()]
    out.append(f"lint: {s['lint']['error']} error(s), {s['lint']['warning']} warning(s)")
    failing = report.failing
    if failing:
        out += ["", "== failing launch paths"]
        for p in failing:
            out += ["", f"✗ {p.account} {p.region} {p.kind}: {_who(p)}"]
            out.append(f"  {p.outcome.state}: {p.outcome.headline or p.outcome.cause or ''}")
            if p.representative:
                out.append(f"  (same policies as {p.representative}, which was simulated)")
            out += [f"  {line}" for line in _fix_lines(p.outcome.fix)]
    if report.lint:
        out += ["", "== lint"]
        for f in report.lint:
            where = f"{f.account}{' ' + f.region if f.region else ''} {f.resource}"
            out.append(f"{f.severity.value}: [{f.rule}] {where}: {f.path}: {f.message}")
            if f.suggestion:
                out.append(f"  suggestion: {f.suggestion}")
    if report.unknown:
        out += ["", "== not in the snapshot"] + [f"- {u}" for u in report.unknown]
    return out


def render_markdown(report: AuditReport) -> str:
    s = _summary(report)
    out = [f"## kmslaunch audit: {s['failing']} of {s['paths']} launch paths fail", ""]
    out += ["| launch paths | audited | failing | not simulated |", "|---|---:|---:|---:|"]
    for kind, row in sorted(s["by_kind"].items()):
        out.append(f"| {kind} | {row['paths']} | {row['failing']} | {row['not_simulated']} |")
    out.append(f"| **total** | {s['paths']} | {s['failing']} | |")
    if s["by_cause"]:
        out += ["", "| cause | failing |", "|---|---:|"] + [f"| {c} | {n} |" for c, n in s["by_cause"].items()]
    out += ["", f"Lint: {s['lint']['error']} error(s), {s['lint']['warning']} warning(s)."]
    for p in report.failing:
        out += ["", f"### {p.account} {p.region} — {_who(p)}", "", f"**{p.outcome.state}**: {p.outcome.headline}"]
        if p.representative:
            out += ["", f"Same policies as `{p.representative}`, which was simulated."]
        fix = p.outcome.fix
        if fix:
            label, title = _label(fix), fix["title"].removeprefix("alternative: ")
            out += ["", f"{label[0].upper()}{label[1:]}: {title}", "", "```sh"]
            out += [cmd for f in fix["fixes"] for cmd in f["commands"]]
            out.append("```")
    if report.lint:
        out += ["", "### Lint", "", "| severity | rule | resource | path | message |", "|---|---|---|---|---|"]
        for f in report.lint:
            msg = f.message.replace("|", "\\|")
            out.append(f"| {f.severity.value} | {f.rule} | `{f.resource}` | `{f.path}` | {msg} |")
    return "\n".join(out) + "\n"


def render_sarif(report: AuditReport, *, uri: str) -> dict[str, Any]:
    """SARIF 2.1.0: one result per failing launch path and one per lint finding."""
    rules: dict[str, dict[str, Any]] = {}
    results = []
    for p in report.failing:
        rid, name = refusal_rule(p.outcome.cause or "", "KMSA", "a launch path makes", "A launch path fails")
        rules[rid] = {"id": rid, "name": name, "shortDescription": {"text": name}}
        text = f"{_who(p)}: {p.outcome.headline or p.outcome.cause}"
        fix = p.outcome.fix
        if fix and fix["verified"]:
            text += f". {_label(fix)}: " + "; ".join(f["commands"][0] for f in fix["fixes"] if f["commands"])
        results.append(
            {
                "ruleId": rid,
                "level": "error",
                "message": {"text": text},
                "locations": [_location(uri, p.key or p.target, p.account, p.region)],
                "properties": {"kind": p.kind, "principal": p.principal, "cause": p.outcome.cause},
            }
        )
    for f in report.lint:
        rule = RULES[f.rule]
        rules[rule.sarif_id] = {
            "id": rule.sarif_id,
            "name": rule.id,
            "shortDescription": {"text": rule.title},
            "helpUri": rule.doc,
        }
        text = f.message + (f" (suggestion: {f.suggestion})" if f.suggestion else "")
        loc = _location(uri, f.resource, f.account, f.region)
        loc["logicalLocations"].append({"fullyQualifiedName": f"{f.policy}:{f.path}", "kind": "member"})
        results.append(
            {"ruleId": rule.sarif_id, "level": f.severity.value, "message": {"text": text}, "locations": [loc]}
        )
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "kmslaunch-audit",
                        "version": __version__,
                        "informationUri": "https://docs.aws.amazon.com/ebs/latest/userguide/ebs-encryption-requirements.html",
                        "rules": [rules[k] for k in sorted(rules)],
                    }
                },
                "results": results,
            }
        ],
    }


def _location(uri: str, resource: str, account: str, region: str | None) -> dict[str, Any]:
    return {
        "physicalLocation": {"artifactLocation": {"uri": uri}},
        "logicalLocations": [
            {"fullyQualifiedName": resource, "kind": "resource"},
            {"fullyQualifiedName": f"{account}/{region or 'global'}", "kind": "namespace"},
        ],
    }
