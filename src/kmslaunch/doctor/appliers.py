"""The changes a fix makes, as functions of a world (applied to copies to verify them, and by ``fix --out``), and
the AWS CLI command that makes each in a real account."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kmslaunch.policy.grants import Grant
from kmslaunch.policy.model import PolicyType
from kmslaunch.world.documents import Document
from kmslaunch.world.iam import ManagedPolicy
from kmslaunch.world.world import World

from .locate import holders


def put_command(kind: str, owner: str, name: str) -> str:
    if kind == "key-policy":
        return f"aws kms put-key-policy --key-id {owner} --policy-name default --policy file://key-policy.json"
    if kind == "managed-policy":
        return (
            f"aws iam create-policy-version --policy-arn {owner} --policy-document file://policy.json --set-as-default"
        )
    if kind in ("scp", "rcp"):
        return f"aws organizations update-policy --policy-id {owner} --content file://policy.json"
    entity = owner.split(":")[5]
    verb = "put-user-policy --user-name" if entity.startswith("user/") else "put-role-policy --role-name"
    return f"aws iam {verb} {entity.rsplit('/', 1)[-1]} --policy-name {name} --policy-document file://policy.json"


def set_key_policy(key_arn: str, doc: dict[str, Any]) -> Callable[[World], None]:
    def apply(w: World) -> None:
        key = w.key_by_arn(key_arn)
        if key is not None:
            key.policy = Document.parse(doc, PolicyType.KEY, key_arn)

    return apply


def put_inline(acct: str, name: str, is_user: bool, policy_name: str, doc: dict[str, Any]) -> Callable[[World], None]:
    def apply(w: World) -> None:
        iam = w.account(acct).iam
        holder = iam.users.get(name) if is_user else iam.roles.get(name)
        if holder is not None:
            holder.inline[policy_name] = Document.parse(doc, PolicyType.IDENTITY, policy_name)

    return apply


def add_grant(key_arn: str, grantee: str, operations: list[str], acct: str) -> Callable[[World], None]:
    def apply(w: World) -> None:
        key = w.key_by_arn(key_arn)
        if key is not None:
            key.grants.append(
                Grant(
                    grant_id=w.ids.grant_id(),
                    grantee=grantee,
                    operations=frozenset(operations),
                    key_arn=key_arn,
                    issuing_account=f"arn:aws:iam::{acct}:root",
                )
            )

    return apply


def replace_doc(owner: str, kind: str, name: str, doc: dict[str, Any], ptype: PolicyType) -> Callable[[World], None]:
    def apply(w: World) -> None:
        for h in holders(w):
            if h.owner_arn == owner and h.kind == kind and h.name == name:
                h.replace(Document.parse(doc, ptype, h.document.policy.name))
                return

    return apply


def replace_managed(acct: str, arn: str, doc: dict[str, Any]) -> Callable[[World], None]:
    def apply(w: World) -> None:
        mp = w.account(acct).iam.policies.get(arn)
        if mp is not None:
            mp.document = Document.parse(doc, PolicyType.IDENTITY, mp.name)
            number = int(mp.default_version_id.lstrip("v") or "1") + 1 if mp.default_version_id[1:].isdigit() else 2
            mp.default_version_id = f"v{number}"

    return apply


def new_boundary(acct: str, entity_arn: str, arn: str, name: str, doc: dict[str, Any]) -> Callable[[World], None]:
    def apply(w: World) -> None:
        iam = w.account(acct).iam
        iam.policies[arn] = ManagedPolicy(
            arn, name, Document.parse(doc, PolicyType.IDENTITY, name), policy_id=w.ids.unique_id("ANPA")
        )
        entity: Any = iam.user_by_arn(entity_arn) or iam.role_by_arn(entity_arn)
        if entity is not None:
            entity.boundary_arn = arn

    return apply
