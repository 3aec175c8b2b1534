"""The changes a fix makes, as functions of a world (applied to copies to verify them, and by ``fix --out``), and
the AWS CLI command that makes each in a real account."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from kmslaunch.policy.grants import Grant
from kmslaunch.policy.model import PolicyType
from kmslaunch.world.documents import Document
from kmslaunch.world.iam import ManagedPolicy
from kmslaunch.world.world import World

from .locate import holders


def safe_name(text: str) -> str:
    """A file name made of ``text``: ids and ARNs never name a directory or leave the fixes' directory."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.") or "policy"


def in_account(command: str, account: str, note: str = "") -> str:
    """The command with the account it must run in, as a trailing comment that a POSIX shell ignores."""
    return f"{command}   # run in account {account}{note}"


def regional(command: str, arn: str) -> str:
    """A call to a regional service (KMS) names the region of the resource's ARN: the profile's default region
    may be another one (https://docs.aws.amazon.com/cli/latest/userguide/cli-configure-options.html).
    IAM and Organizations are global and take none."""
    return f"{command} --region {arn.split(':')[3]}"


def document_file(kind: str, owner: str, name: str) -> str:
    """The file a command reads its document from, one per place a document lives, so that two fixes never
    share one: ``key-policy-<key id>.json``, ``<user|role|group>-<name>-<policy>.json``,
    ``policy-<managed policy name>.json``, ``<scp|rcp>-<policy id>.json``."""
    if kind == "key-policy":
        return f"key-policy-{safe_name(owner.rsplit('/', 1)[-1])}.json"
    if kind == "managed-policy":
        return f"policy-{safe_name(owner.rsplit('/', 1)[-1])}.json"
    if kind in ("scp", "rcp"):
        return f"{kind}-{safe_name(owner)}.json"
    entity = owner.split(":")[5]
    return f"{safe_name(entity.split('/', 1)[0])}-{safe_name(entity.rsplit('/', 1)[-1])}-{safe_name(name)}.json"


def put_command(kind: str, owner: str, name: str, account: str) -> str:
    """The command that replaces the whole document of this place with ``document_file``'s contents."""
    path = document_file(kind, owner, name)
    if kind == "key-policy":
        cmd = regional(f"aws kms put-key-policy --key-id {owner} --policy-name default --policy file://{path}", owner)
    elif kind == "managed-policy":
        cmd = f"aws iam create-policy-version --policy-arn {owner} --policy-document file://{path} --set-as-default"
    elif kind in ("scp", "rcp"):
        cmd = f"aws organizations update-policy --policy-id {owner} --content file://{path}"
    else:
        entity = owner.split(":")[5]
        noun = entity.split("/", 1)[0]
        cmd = (
            f"aws iam put-{noun}-policy --{noun}-name {entity.rsplit('/', 1)[-1]} --policy-name {name} "
            f"--policy-document file://{path}"
        )
    return in_account(cmd, account)


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
