"""A service-linked role using another account's key needs a grant made in its own account; whether the consumer may
create that grant is decided here, with the engine, as the direct call it is."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from kmslaunch.policy.decision import Decision
from kmslaunch.policy.evaluate import Request, authorize
from kmslaunch.policy.model import PolicyType
from kmslaunch.policy.principals import Principal, parse_principal
from kmslaunch.world.authz import policy_set, principal_in_world
from kmslaunch.world.documents import Document
from kmslaunch.world.world import World


def delegation_statements(consumer: str, grantees: set[str]) -> list[dict[str, Any]]:
    """The key owner's statement letting ``consumer`` create grants of the key for exactly ``grantees``: the
    direct CreateGrant a principal of that account makes carries no kms:GrantIsForAWSResource
    (https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-grantee-principal)."""
    return [
        {
            "Sid": f"Allow {consumer} to grant the key to its service-linked role",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{consumer}:root"},
            "Action": "kms:CreateGrant",
            "Resource": "*",
            "Condition": {
                "StringEquals": {
                    "kms:GranteePrincipal": sorted(grantees) if len(grantees) > 1 else next(iter(grantees))
                }
            },
        }
    ]


@dataclass(frozen=True, slots=True)
class GrantRunner:
    """Who in the consumer account runs ``aws kms create-grant``, and the engine's decision on that call.

    ``principal`` is None when no principal of the snapshot is allowed it; the decision is then made for a
    principal of that account holding ``iam_statement`` and nothing else."""

    principal: str | None
    decision: Decision
    iam_statement: dict[str, Any]


def direct_grant_request(who: Principal, key_arn: str, grantee: str, operations: list[str]) -> Request:
    # The direct call as it is: no kms:GrantIsForAWSResource (no AWS service makes it), no kms:ViaService,
    # aws:ViaAWSService false (https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html).
    context = {
        "kms:granteeprincipal": (grantee,),
        "kms:grantoperations": tuple(operations),
        "aws:viaawsservice": ("false",),
    }
    return Request(who, "kms:CreateGrant", key_arn, context)


def grant_runner(world: World, key_arn: str, grantee: str, account: str, operations: list[str]) -> GrantRunner:
    """Decide the consumer's own ``aws kms create-grant`` with the engine: as the first user or role of
    ``account`` (service-linked roles aside) allowed it, else as a principal holding only the least-privilege IAM
    statement for it."""
    key = world.key_by_arn(key_arn)
    statement = {"Effect": "Allow", "Action": "kms:CreateGrant", "Resource": key_arn}
    # (the ARN to name, the ARN that calls: a role calls as one of its sessions)
    candidates: list[tuple[str, str]] = []
    if account in world.accounts:
        iam = world.accounts[account].iam
        candidates += sorted((u.arn, u.arn) for u in iam.users.values())
        candidates += sorted(
            (r.arn, f"arn:aws:sts::{account}:assumed-role/{r.name}/create-grant")
            for r in iam.roles.values()
            if not r.service_linked
        )
    for named, caller in candidates:
        who = principal_in_world(world, caller)
        request = direct_grant_request(who, key_arn, grantee, operations)
        decision = authorize(request, policy_set(world, who, key_arn, key), explain=True)
        if decision.allowed:
            return GrantRunner(named, decision, statement)
    who = parse_principal(f"arn:aws:sts::{account}:assumed-role/grant-creator/create-grant")
    only = Document.parse({"Version": "2012-10-17", "Statement": [statement]}, PolicyType.IDENTITY, "grant-creator")
    ps = dataclasses.replace(policy_set(world, who, key_arn, key), identity=(only.policy,))
    decision = authorize(direct_grant_request(who, key_arn, grantee, operations), ps, explain=True)
    return GrantRunner(None, decision, statement)
