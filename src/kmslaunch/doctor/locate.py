"""Where a policy lives in the world, so a fix can change it: the user, role, managed policy, key or
organization policy that holds a parsed ``Policy``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from kmslaunch.policy.model import Policy
from kmslaunch.world.documents import Document
from kmslaunch.world.world import World


@dataclass(frozen=True)
class Holder:
    """A policy document's place: what it is (``kind``), its owner's ARN, the account, a name for commands, and
    how to replace the document."""

    kind: str  # identity-policy (inline), managed-policy, key-policy, scp, rcp
    account: str
    owner_arn: str
    name: str
    document: Document
    replace: Callable[[Document], None]


def holders(world: World) -> Iterator[Holder]:
    for acct_id, acct in world.accounts.items():
        iam = acct.iam
        for user in iam.users.values():
            for name, doc in list(user.inline.items()):
                yield Holder("identity-policy", acct_id, user.arn, name, doc, _setter(user.inline, name))
        for role in iam.roles.values():
            for name, doc in list(role.inline.items()):
                yield Holder("identity-policy", acct_id, role.arn, name, doc, _setter(role.inline, name))
        for group in iam.groups.values():
            for name, doc in list(group.inline.items()):
                yield Holder("identity-policy", acct_id, group.arn, name, doc, _setter(group.inline, name))
        for mp in iam.policies.values():

            def set_managed(d: Document, mp: object = mp) -> None:
                mp.document = d  # type: ignore[attr-defined]  # ManagedPolicy, bound per loop iteration

            yield Holder("managed-policy", acct_id, mp.arn, mp.name, mp.document, set_managed)
        for region in acct.regions.values():
            for key in region.kms.keys.values():

                def set_key(d: Document, key: object = key) -> None:
                    key.policy = d  # type: ignore[attr-defined]  # Key, bound per loop iteration

                yield Holder("key-policy", acct_id, key.arn, "default", key.policy, set_key)
    for pol in world.organization.policies.values():

        def set_org(d: Document, pol: object = pol) -> None:
            pol.document = d  # type: ignore[attr-defined]  # OrgPolicy, bound per loop iteration

        kind = "scp" if pol.type == "SERVICE_CONTROL_POLICY" else "rcp"
        yield Holder(kind, world.organization.management_account or "", pol.policy_id, pol.name, pol.document, set_org)


def _setter(mapping: dict[str, Document], name: str) -> Callable[[Document], None]:
    def set_doc(d: Document) -> None:
        mapping[name] = d

    return set_doc


def holder_of(world: World, policy: Policy) -> Holder | None:
    """The holder of this exact parsed policy (identity, not equality: two keys can share a policy text)."""
    for h in holders(world):
        if h.document.policy is policy:
            return h
    return None
