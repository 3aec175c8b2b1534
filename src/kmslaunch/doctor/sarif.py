"""A diagnosis as SARIF 2.1.0: one result per refused call, for code-scanning dashboards.

Each result points at the snapshot file that holds the deciding statement (``artifactLocation.uri`` relative to
``uriBaseId`` SNAPSHOT, the snapshot directory) and, where the file is there to read, the line of the
statement's Sid; ``partialFingerprints`` let a dashboard follow one finding across runs.

Schema: https://docs.oasis-open.org/sarif/sarif/v2.1.0/sarif-v2.1.0.html
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from kmslaunch import __version__

from .artifacts import Place, original_uri_base_ids, place_of_call
from .diagnose import Diagnosis
from .fixes import verified_words

# The key of kmslaunch's own fingerprint in ``partialFingerprints``; its version changes when what is hashed does.
FINGERPRINT = "kmslaunch/v1"

# The layers a refusal comes from, numbered once; doctor and audit derive their rule ids and names from it.
REFUSAL_RULES: dict[str, tuple[int, str]] = {
    "identity-policy": (1, "IAM policy does not allow a KMS call {what}"),
    "key-policy": (2, "Key policy refuses a KMS call {what}"),
    "key-state": (3, "KMS key is not usable in its state"),
    "scp": (4, "Service control policy refuses a KMS call {what}"),
    "rcp": (5, "Resource control policy refuses a KMS call {what}"),
    "permissions-boundary": (6, "Permissions boundary refuses a KMS call {what}"),
    "session-policy": (7, "Session policy refuses a KMS call {what}"),
}


UNKNOWN_RULE = "KMS100"
UNKNOWN_DOC = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html"


def refusal_rule(layer: str, prefix: str, what: str, other: str) -> tuple[str, str]:
    """(rule id, name) for a refusal from ``layer``: ``prefix`` + number; number 0 and ``other`` when unknown."""
    number, name = REFUSAL_RULES.get(layer, (0, other))
    return f"{prefix}{number:03d}", name.format(what=what)


def sentence(text: str) -> str:
    """``text`` as a sentence: code-scanning services show messages as prose, ending with a period."""
    text = text.strip()
    if not text:
        return text
    first = text.split(" ", 1)[0]
    if first.isalpha() and first.islower():
        text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def sentences(*parts: str) -> str:
    return " ".join(sentence(p) for p in parts if p.strip())


def fingerprint(rule: str, principal: str, action: str, resource: str) -> dict[str, str]:
    """A fingerprint that stays the same while the finding does: the rule, who is refused (a role, not one of its
    sessions: an instance identity's session is named after a new instance each launch), what, on which key."""
    digest = hashlib.sha256("\x1f".join((rule, principal, action, resource)).encode()).hexdigest()
    return {FINGERPRINT: digest[:32]}


def snapshot_root(uri: str) -> Path | None:
    """The snapshot directory the files are read from, when ``uri`` names one."""
    root = Path(uri)
    return root if root.is_dir() else None


def run_properties(uri: str) -> dict[str, Any]:
    """What every run says about where its artifacts are."""
    return {"originalUriBaseIds": original_uri_base_ids(uri), "columnKind": "unicodeCodePoints"}


def render_sarif(diag: Diagnosis, *, uri: str) -> dict[str, Any]:
    """The diagnosis as SARIF; ``uri`` is the snapshot directory the launch was read from."""
    root = snapshot_root(uri)
    used: dict[str, tuple[str, str]] = {}
    results = []
    verified = diag.fix
    alternative = diag.launch_change_only
    for f in diag.findings:
        rule_id, name = refusal_rule(
            f.layer, "KMS", "EC2 makes for an encrypted volume", "KMS call refused during launch"
        )
        used[rule_id] = (name, f.doc)
        fix = ""
        if verified:
            fix = f"Fix ({verified_words(verified)}): " + "; ".join(
                fx.commands[0] for fx in verified.fixes if fx.commands
            )
        elif alternative:
            fix = (
                "No policy fix could be verified. Alternative, changing the launch itself "
                f"({verified_words(alternative)}): {alternative.title.removeprefix('alternative: ')}"
            )
        text = sentences(f.headline, *f.details, fix)
        principal = f.call.call.principal.principal_arn
        plans = [p.summary() for p in diag.plans]
        results.append(
            {
                "ruleId": rule_id,
                "level": "error",
                "message": {"text": text},
                "locations": [
                    {
                        "physicalLocation": place_of_call(f.call, root).to_sarif(),
                        "logicalLocations": [{"fullyQualifiedName": f.call.resource, "kind": "resource"}],
                    }
                ],
                "partialFingerprints": fingerprint(rule_id, principal, f.call.action, f.call.resource),
                "properties": {
                    "action": f.call.action,
                    "principal": f.call.call.principal.arn,
                    "decision": f.call.verdict.value,
                    "layer": f.layer,
                    "fix_plans": [
                        {k: p[k] for k in ("title", "verified", "alternative", "assumptions", "unresolved")}
                        for p in plans
                    ],
                },
            }
        )
    if diag.result.succeeded:
        # A launch that ran only because a fact was missing is a finding of its own: "will launch" it is not.
        for u in diag.result.deciding_unknowns:
            used[UNKNOWN_RULE] = ("Launch depends on a fact the snapshot does not hold", UNKNOWN_DOC)
            results.append(
                {
                    "ruleId": UNKNOWN_RULE,
                    "level": "warning",
                    "message": {
                        "text": sentences(
                            f"The launch runs only if {u.fact} does not refuse it", f"To know: {u.resolve}"
                        )
                    },
                    "locations": [{"physicalLocation": Place("snapshot.json").to_sarif()}],
                    "partialFingerprints": fingerprint(UNKNOWN_RULE, diag.result.principal, u.layer, u.fact),
                    "properties": {"layer": u.layer, "could": u.could.value},
                }
            )
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
                        "rules": [
                            {"id": rid, "name": name, "shortDescription": {"text": name}, "helpUri": doc}
                            for rid, (name, doc) in sorted(used.items())
                        ],
                    }
                },
                "results": results,
                **run_properties(uri),
            }
        ],
    }
