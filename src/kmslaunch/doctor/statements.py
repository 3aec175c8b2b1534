"""The least-privilege statements a fix adds: only the actions the refused calls need, on the key, through EC2.

Their shape is AWS's own for EBS: the key users' "Allow use of the key" limited to calls through EC2
(``kms:ViaService`` ec2.<region>.amazonaws.com) and "Allow attachment of persistent resources" with
``kms:GrantIsForAWSResource`` (https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html,
https://docs.aws.amazon.com/autoscaling/ec2/userguide/key-policy-requirements-EBS-encryption.html,
https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-via-service).
"""

from __future__ import annotations

from typing import Any

GRANT_ACTIONS = frozenset({"kms:CreateGrant"})


def key_statements(principal: str, actions: set[str], region: str) -> list[dict[str, Any]]:
    name = principal.rsplit("/", 1)[-1] if ":root" not in principal else principal.split(":")[4]
    use = sorted(actions - GRANT_ACTIONS)
    out: list[dict[str, Any]] = []
    if use:
        out.append(
            {
                "Sid": f"Allow EBS use of the key by {name}",
                "Effect": "Allow",
                "Principal": {"AWS": principal},
                "Action": use,
                "Resource": "*",
                "Condition": {"StringEquals": {"kms:ViaService": f"ec2.{region}.amazonaws.com"}},
            }
        )
    if actions & GRANT_ACTIONS:
        out.append(
            {
                "Sid": f"Allow attachment of persistent resources by {name}",
                "Effect": "Allow",
                "Principal": {"AWS": principal},
                "Action": "kms:CreateGrant",
                "Resource": "*",
                "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}},
            }
        )
    return out


def identity_statements(pairs: set[tuple[str, str]], region: str) -> list[dict[str, Any]]:
    by_key: dict[str, set[str]] = {}
    for action, key in pairs:
        by_key.setdefault(key, set()).add(action)
    out: list[dict[str, Any]] = []
    for i, (key, actions) in enumerate(sorted(by_key.items())):
        suffix = "" if len(by_key) == 1 else str(i + 1)
        use = sorted(actions - GRANT_ACTIONS)
        if use:
            out.append(
                {
                    "Sid": f"UseKeyThroughEbs{suffix}",
                    "Effect": "Allow",
                    "Action": use,
                    "Resource": key,
                    "Condition": {"StringEquals": {"kms:ViaService": f"ec2.{region}.amazonaws.com"}},
                }
            )
        if actions & GRANT_ACTIONS:
            out.append(
                {
                    "Sid": f"GrantsForEbsVolumes{suffix}",
                    "Effect": "Allow",
                    "Action": "kms:CreateGrant",
                    "Resource": key,
                    "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}},
                }
            )
    return out


def unique_sids(existing: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    taken = {s.get("Sid") for s in existing}
    out = []
    for statement in new:
        sid, n, candidate = statement["Sid"], 2, statement["Sid"]
        while candidate in taken:
            candidate = f"{sid} ({n})"
            n += 1
        taken.add(candidate)
        out.append({**statement, "Sid": candidate})
    return out


def statements_of(raw: dict[str, Any]) -> list[dict[str, Any]]:
    st = raw.get("Statement", [])
    return [st] if isinstance(st, dict) else list(st)
