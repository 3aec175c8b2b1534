"""An audit report as text, JSON, Markdown and SARIF 2.1.0. A summary first (paths audited, failing, by cause),
then the details: each failing path with the finding's headline and the doctor's fix, then the lint findings."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, Protocol

from kmslaunch import __version__
from kmslaunch.doctor.artifacts import Place, place_of_call, place_of_statement
from kmslaunch.doctor.sarif import (
    UNKNOWN_DOC,
    UNKNOWN_RULE,
    fingerprint,
    refusal_rule,
    run_properties,
    sentences,
    snapshot_root,
)
from kmslaunch.snapshot.layout import IAM_DETAILS

from .engine import AuditReport, PathResult
from .lint import RULES


class _Named(Protocol):
    """What names a launch path: audit's PathResult, impact's Path."""

    @property
    def kind(self) -> str: ...
    @property
    def target(self) -> str: ...
    @property
    def principal(self) -> str | None: ...
    @property
    def key(self) -> str | None: ...


FORMAT = "kmslaunch-audit/1"


def to_json(report: AuditReport, *, lazy: bool = False) -> dict[str, Any]:
    """The report as data; the shape is documented in ``kmslaunch.audit``. ``lazy``: "paths" is an iterator,
    each path made as it is written (``cli.jsonout``), rather than a list of them all at once."""
    paths = (p.to_json() for p in report.paths)
    return {
        "format": FORMAT,
        "snapshot": report.snapshot,
        "summary": _summary(report),
        "paths": paths if lazy else list(paths),
        "lint": [f.to_json() for f in report.lint],
        "unknown": list(report.unknown),
    }


def _summary(report: AuditReport) -> dict[str, Any]:
    return {
        "paths": len(report.paths),
        "failing": len(report.failing),
        "unless": len(report.unsure),
        "simulations": report.simulations,
        "diagnoses": report.diagnoses,
        "by_cause": report.by_cause(),
        "by_kind": report.by_kind(),
        "lint": {
            "error": report.lint_errors,
            "warning": len(report.lint) - report.lint_errors,
        },
    }


def who(p: _Named) -> str:
    """A launch path in words (also impact's)."""
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
    out.append(f"{'launch paths':<28}{'audited':>10}{'failing':>10}{'unless':>10}{'not simulated':>16}")
    for kind, row in sorted(s["by_kind"].items()):
        out.append(f"{kind:<28}{row['paths']:>10}{row['failing']:>10}{row['unless']:>10}{row['not_simulated']:>16}")
    out.append(f"{'total':<28}{s['paths']:>10}{s['failing']:>10}{s['unless']:>10}")
    out.append(f"({report.simulations} distinct launches simulated, {report.diagnoses} diagnosed)")
    if s["by_cause"]:
        out += ["", "failing, by cause:"]
        out += [f"  {cause:<26}{n:>10}" for cause, n in s["by_cause"].items()]
    out.append(f"lint: {s['lint']['error']} error(s), {s['lint']['warning']} warning(s)")
    failing = report.failing
    if failing:
        out += ["", "== failing launch paths"]
        for p in failing:
            out += ["", f"✗ {p.account} {p.region} {p.kind}: {who(p)}"]
            out.append(f"  {p.outcome.state}: {p.outcome.headline or p.outcome.cause or ''}")
            if p.representative:
                out.append(f"  (same policies as {p.representative}, which was simulated)")
            out += [f"  {line}" for line in _fix_lines(p.outcome.fix)]
    if report.unsure:
        out += ["", "== launch paths that run unless something the snapshot does not hold refuses them"]
        for p in report.unsure:
            out += ["", f"? {p.account} {p.region} {p.kind}: {who(p)}"]
            out += [f"  - {fact}" for fact in p.outcome.unless]
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
    out += ["| launch paths | audited | failing | unless | not simulated |", "|---|---:|---:|---:|---:|"]
    for kind, row in sorted(s["by_kind"].items()):
        out.append(f"| {kind} | {row['paths']} | {row['failing']} | {row['unless']} | {row['not_simulated']} |")
    out.append(f"| **total** | {s['paths']} | {s['failing']} | {s['unless']} | |")
    if s["by_cause"]:
        out += ["", "| cause | failing |", "|---|---:|"] + [f"| {c} | {n} |" for c, n in s["by_cause"].items()]
    out += ["", f"Lint: {s['lint']['error']} error(s), {s['lint']['warning']} warning(s)."]
    for p in report.failing:
        out += ["", f"### {p.account} {p.region} — {who(p)}", "", f"**{p.outcome.state}**: {p.outcome.headline}"]
        if p.representative:
            out += ["", f"Same policies as `{p.representative}`, which was simulated."]
        fix = p.outcome.fix
        if fix:
            label, title = _label(fix), fix["title"].removeprefix("alternative: ")
            out += ["", f"{label[0].upper()}{label[1:]}: {title}", "", "```sh"]
            out += [cmd for f in fix["fixes"] for cmd in f["commands"]]
            out.append("```")
    if report.unsure:
        out += ["", "### Launch paths that run unless something the snapshot does not hold refuses them", ""]
        out += [f"- {who(p)} ({p.account} {p.region}): " + "; ".join(p.outcome.unless) for p in report.unsure]
    if report.lint:
        out += ["", "### Lint", "", "| severity | rule | resource | path | message |", "|---|---|---|---|---|"]
        for f in report.lint:
            msg = f.message.replace("|", "\\|")
            out.append(f"| {f.severity.value} | {f.rule} | `{f.resource}` | `{f.path}` | {msg} |")
    return "\n".join(out) + "\n"


def render_sarif(report: AuditReport, *, uri: str) -> dict[str, Any]:
    """SARIF 2.1.0: one result per failing launch path and one per lint finding; ``uri`` is the snapshot
    directory, and each result points at the file (and line) of the statement behind it."""
    root = snapshot_root(uri)
    rules: dict[str, dict[str, Any]] = {}
    results = []
    for p in report.failing:
        rid, name = refusal_rule(p.outcome.cause or "", "KMSA", "a launch path makes", "A launch path fails")
        rules[rid] = {"id": rid, "name": name, "shortDescription": {"text": name}}
        fix = p.outcome.fix
        fix_text = ""
        if fix and fix["verified"]:
            fix_text = f"{_label(fix)}: " + "; ".join(f["commands"][0] for f in fix["fixes"] if f["commands"])
        text = sentences(f"{who(p)}: {p.outcome.headline or p.outcome.cause}", fix_text)
        call, located = p.outcome.refused, p.outcome.located
        if located is not None:
            place, action = located.place, located.action
        else:
            place = place_of_call(call, root, principal=p.principal) if call is not None else _fallback(p)
            action = call.action if call is not None else ""
        results.append(
            {
                "ruleId": rid,
                "level": "error",
                "message": {"text": text},
                "locations": [_location(place, p.key or p.target, p.account, p.region)],
                "partialFingerprints": fingerprint(rid, p.principal or p.target, action, p.key or p.target),
                "properties": {"kind": p.kind, "principal": p.principal, "cause": p.outcome.cause},
            }
        )
    for p in report.unsure:
        rules[UNKNOWN_RULE] = {
            "id": UNKNOWN_RULE,
            "name": "Launch depends on a fact the snapshot does not hold",
            "shortDescription": {"text": "Launch depends on a fact the snapshot does not hold"},
            "helpUri": UNKNOWN_DOC,
        }
        results.append(
            {
                "ruleId": UNKNOWN_RULE,
                "level": "warning",
                "message": {
                    "text": sentences(f"{who(p)} runs only unless this refuses it: " + "; ".join(p.outcome.unless))
                },
                "locations": [_location(Place("snapshot.json"), p.key or p.target, p.account, p.region)],
                "partialFingerprints": fingerprint(
                    UNKNOWN_RULE, p.principal or p.target, p.kind, "; ".join(p.outcome.unless)
                ),
                "properties": {"kind": p.kind, "principal": p.principal},
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
        text = sentences(f.message, f"Suggestion: {f.suggestion}" if f.suggestion else "")
        m = re.match(r"Statement\[(\d+)\]", f.path)
        place = place_of_statement(f.account, f.region, f.resource, f.policy, int(m.group(1)) if m else None, root)
        loc = _location(place, f.resource, f.account, f.region)
        loc["logicalLocations"].append({"fullyQualifiedName": f"{f.policy}:{f.path}", "kind": "member"})
        results.append(
            {
                "ruleId": rule.sarif_id,
                "level": f.severity.value,
                "message": {"text": text},
                "locations": [loc],
                "partialFingerprints": fingerprint(rule.sarif_id, f.policy, f.path, f.resource),
            }
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
                **run_properties(uri),
            }
        ],
    }


def _fallback(p: PathResult) -> Place:
    """A failing path without a refused call (no diagnosis): the account's IAM details."""
    return Place(f"{p.account}/{IAM_DETAILS}")


def _location(place: Place, resource: str, account: str, region: str | None) -> dict[str, Any]:
    return {
        "physicalLocation": place.to_sarif(),
        "logicalLocations": [
            {"fullyQualifiedName": resource, "kind": "resource"},
            {"fullyQualifiedName": f"{account}/{region or 'global'}", "kind": "namespace"},
        ],
    }
