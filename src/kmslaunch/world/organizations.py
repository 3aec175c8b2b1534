"""AWS Organizations: the tree of root, OUs and accounts, with SCPs and RCPs attached at each level."""

from __future__ import annotations

from dataclasses import dataclass, field

from kmslaunch.policy.model import Policy
from kmslaunch.world.documents import Document

SCP = "SERVICE_CONTROL_POLICY"
RCP = "RESOURCE_CONTROL_POLICY"


@dataclass
class OrgPolicy:
    policy_id: str
    name: str
    type: str  # SCP or RCP
    document: Document
    arn: str = ""
    aws_managed: bool = False
    description: str = ""


@dataclass
class Organization:
    management_account: str | None = None
    org_id: str | None = None
    root_id: str | None = None
    parents: dict[str, str] = field(default_factory=dict)  # child id (account or OU) -> parent id
    policies: dict[str, OrgPolicy] = field(default_factory=dict)
    attachments: dict[str, list[str]] = field(default_factory=dict)  # target id -> policy ids
    known: bool = True

    def path(self, account: str) -> list[str]:
        """Target ids from the root down to the account; just the account when its parents are unknown."""
        chain = [account]
        seen = {account}
        while chain[-1] in self.parents:
            parent = self.parents[chain[-1]]
            if parent in seen:
                break
            chain.append(parent)
            seen.add(parent)
        return list(reversed(chain))

    def levels(self, account: str, kind: str) -> tuple[tuple[Policy, ...], ...]:
        """The policies of ``kind`` at each level of the account's path, root first; () outside the org."""
        if not self.attachments or self.root_id is None:
            return ()
        path = self.path(account)
        if path[0] != self.root_id:
            return ()
        out = []
        for target in path:
            pols = [self.policies[p] for p in self.attachments.get(target, []) if p in self.policies]
            out.append(tuple(p.document.policy for p in pols if p.type == kind))
        if kind == RCP and all(not level for level in out):
            # No RCP attached anywhere: RCPs are not enabled for the organization.
            return ()
        return tuple(out)
