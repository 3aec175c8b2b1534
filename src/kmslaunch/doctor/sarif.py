"""A diagnosis as SARIF 2.1.0: one result per refused call, for code-scanning dashboards.

Schema: https://docs.oasis-open.org/sarif/sarif/v2.1.0/sarif-v2.1.0.html
"""

from __future__ import annotations

from typing import Any

from kmslaunch import __version__

from .diagnose import Diagnosis

_RULES = {
    "identity-policy": ("KMS001", "IAM policy does not allow a KMS call EC2 makes for an encrypted volume"),
    "key-policy": ("KMS002", "Key policy refuses a KMS call EC2 makes for an encrypted volume"),
    "key-state": ("KMS003", "KMS key is not usable in its state"),
    "scp": ("KMS004", "Service control policy refuses a KMS call EC2 makes"),
    "rcp": ("KMS005", "Resource control policy refuses a KMS call EC2 makes"),
    "permissions-boundary": ("KMS006", "Permissions boundary refuses a KMS call EC2 makes"),
    "session-policy": ("KMS007", "Session policy refuses a KMS call EC2 makes"),
}


def render_sarif(diag: Diagnosis, *, uri: str) -> dict[str, Any]:
    used: dict[str, tuple[str, str]] = {}
    results = []
    verified = next((p for p in diag.plans if p.verified), None)
    for f in diag.findings:
        rule_id, name = _RULES.get(f.layer, ("KMS000", "KMS call refused during launch"))
        used[rule_id] = (name, f.doc)
        text = f.headline + ". " + " ".join(f.details)
        if verified:
            text += " Verified fix: " + "; ".join(fx.commands[0] for fx in verified.fixes if fx.commands)
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
                },
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
