"""Organization-wide audit: every launch path of a snapshot simulated, and a lint of key policies and KMS IAM
statements for known traps (``engine``: the paths; ``lint``: the rules; ``render``: the formats).

``kmslaunch audit --format json`` prints the document below, indented as ``json.dumps(indent=2)`` indents it
down to each path and lint finding, which is written on one line of its own (an organization's report has a
hundred thousand paths: ``cli.jsonout``)::

    {
      "format": "kmslaunch-audit/1",
      "snapshot": "<path>",
      "summary": {
        "paths": 1234, "failing": 56, "unless": 3, "simulations": 321, "diagnoses": 12,
        "by_cause": {"key-policy": 40, "identity-policy": 16},       # failing paths per refusing layer
        "by_kind": {"<kind>": {"paths": n, "failing": n, "unless": n, "not_simulated": n}},
        "lint": {"error": n, "warning": n}
      },
      "paths": [{
        "kind": "auto-scaling-group" | "launch-template" | "principal-key" | "default-key" | "terminated-instance",
        "account": "111122223333", "region": "us-east-1",
        "target": "<group name | template id | key ARN | default key id | instance id>",
        "principal": "<caller ARN>" | null,                # null for Auto Scaling (its service-linked role)
        "key": "<key ARN or reference>" | null,
        "state": "running" | "terminated" | "rejected" | "unknown" | …,
        "verdict": "runs" | "runs-unless" | "fails" | "fails-unless" | null,   # null: not simulated
        "unless": ["<a fact the snapshot lacks that could turn the verdict>"],
        "fails": true,
        "cause": "key-policy" | "identity-policy" | "key-state" | "scp" | … | "ec2:<Code>" | null,
        "headline": "<the doctor's finding>" | null,
        "fix": {"title": "…", "verified": true, "alternative": false,        # alternative: changes the launch
                "assumptions": [{"id": "…", "choice": "…"}], "unless": ["…"], "unresolved": null,
                "fixes": [<doctor fix JSON>]} | null,
        "note": "<why not simulated>" | null,
        "representative": "<principal simulated for this path's group>" | null
      }],
      "lint": [{
        "rule": "source-ip-deny", "id": "KMSL001", "severity": "error" | "warning",
        "account": "…", "region": "…" | null, "resource": "<key ARN | policy ARN | principal ARN>",
        "policy": "key policy | <policy name>", "path": "Statement[1].Condition…",
        "message": "…", "suggestion": "…" | null, "doc": "<AWS page>"
      }],
      "unknown": ["<what the snapshot lacks>"]
    }

A path fails when the launch ends terminated (or stopped, or a volume failed); ``rejected`` (EC2 refused the API
call: an image not in the snapshot) and ``unknown`` (a key policy not collected) paths are counted as not
simulated, not as failing. A path whose verdict is ``runs-unless`` ran with what the snapshot holds, but a fact
it lacks could refuse it: ``unless`` names the facts, and the exit status is 3 when nothing fails.
"""
