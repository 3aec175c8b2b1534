"""A diagnosis as SARIF 2.1.0: one result per refused call, for code-scanning dashboards.

Schema: https://docs.oasis-open.org/sarif/sarif/v2.1.0/sarif-v2.1.0.html
"""

from __future__ import annotations

from typing import Any

from kmslaunch import __version__

from .diagnose import Diagnosis
from .fixes import verified_words

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


def render_sarif(diag: Diagnosis, *, uri: str) -> dict[str, Any]:
    used: dict[str, tuple[str, str]] = {}
    results = []
    verified = diag.fix
    alternative = diag.launch_change_only
    for f in diag.findings:
        rule_id, name = refusal_rule(
            f.layer, "KMS", "EC2 makes for an encrypted volume", "KMS call refused during launch"
        )
        used[rule_id] = (name, f.doc)
        text = f.headline + ". " + " ".join(f.details)
        if verified:
            text += f" Fix ({verified_words(verified)}): " + "; ".join(
                fx.commands[0] for fx in verified.fixes if fx.commands
            )
        elif alternative:
            text += (
                f" No policy fix could be verified. Alternative, changing the launch itself "
                f"({verified_words(alternative)}): {alternative.title.removeprefix('alternative: ')}"
            )
        plans = [p.summary() for p in diag.plans]
        results.append(
            {
                "ruleId": rule_id,
                "level": "error",
                "message": {"text": text},
                "locations": [
                    {
                        "physicalLocation": {"artifactLocation": {"uri": uri}},
                        "logicalLocations": [{"fullyQualifiedName": f.call.resource, "kind": "resource"}],
                    }
                ],
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
                    "message": {"text": f"The launch runs only if {u.fact} does not refuse it. To know: {u.resolve}."},
                    "locations": [{"physicalLocation": {"artifactLocation": {"uri": uri}}}],
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
            }
        ],
    }
