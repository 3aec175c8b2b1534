"""AWS Organizations: the tree of root, OUs and accounts, with SCPs and RCPs attached at each level."""

from __future__ import annotations

from dataclasses import dataclass, field

from kmslaunch.policy.model import Policy
from kmslaunch.world.documents import Document
from kmslaunch.world.unknowns import Could, Unknown

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
    # From a snapshot: the (policy type, target) listings that were read, and each listed policy's type (known
    # even when its describe-policy file is not). Every root, OU and account has at least one SCP (and RCP, when
    # enabled) attached (https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_scps_attach.html),
    # so a target with no listing is unknown, not bare. Empty for worlds built in memory: all is listed there.
    listed: set[tuple[str, str]] = field(default_factory=set)
    listed_type: dict[str, str] = field(default_factory=dict)  # policy id -> SCP or RCP
    # Whether DescribeOrganization was read (or the account is known to be in no organization). A member
    # account's snapshot may lack it and still hold the parents and policies its collector could read: those
    # are used, and what is missing is reported by ``gaps``.
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

    def _is_root(self, target: str) -> bool:
        return target == self.root_id if self.root_id is not None else target.startswith("r-")

    def levels(self, account: str, kind: str) -> tuple[tuple[Policy, ...], ...]:
        """The policies of ``kind`` at each known level of the account's path, root first; () outside the
        organization. Where the path above some level is unknown, the levels below it still apply (SCPs and
        RCPs of every level must allow, so each known level decides on its own); ``gaps`` names the rest."""
        if not self.attachments:
            return ()
        path = self.path(account)
        if not self._is_root(path[0]) and len(path) == 1 and account not in self.attachments:
            return ()
        out = []
        for target in path:
            if not self.listing_known(kind, target):
                continue  # what is attached there is unknown: gaps() says so
            pols = [self.policies[p] for p in self.attachments.get(target, []) if p in self.policies]
            out.append(tuple(p.document.policy for p in pols if p.type == kind))
        if kind == RCP and all(not level for level in out):
            # No RCP attached anywhere: RCPs are not enabled for the organization.
            return ()
        return tuple(out)

    def listing_known(self, kind: str, target: str) -> bool:
        return not self.listed or (kind, target) in self.listed

    def _enabled(self, kind: str) -> bool:
        if not self.listed:
            return any(p.type == kind for p in self.policies.values())
        return any(k == kind for k, _ in self.listed)

    def in_organization(self, account: str) -> bool | None:
        """True or False when the snapshot says; None when it cannot tell."""
        if self.known:
            return self.org_id is not None
        return True if (account in self.parents or account in self.attachments) else None

    def gaps(self, account: str, kind: str) -> tuple[Unknown, ...]:
        """What the snapshot does not say about the ``kind`` policies (SCP or RCP) that govern ``account``."""
        what = "SCPs" if kind == SCP else "RCPs"
        collect = "collect organizations/ with the management account's credentials (kmslaunch collect)"
        member = self.in_organization(account)
        if member is False:
            return ()
        if member is None:
            return (
                Unknown(
                    f"whether account {account} is in an organization, and the SCPs and RCPs on its path",
                    Could.DENY,
                    collect,
                    "organization",
                ),
            )
        if kind == RCP and not self._enabled(RCP):
            return ()  # no RCP listed anywhere: RCPs are not enabled (the collector lists only enabled types)
        out: list[Unknown] = []
        path = self.path(account)
        if not self._is_root(path[0]):
            out.append(
                Unknown(
                    f"the organization above {path[0]} (organizations/list-parents/{path[0]}.json), and the "
                    f"{what} attached there",
                    Could.DENY,
                    collect,
                    "scp" if kind == SCP else "rcp",
                )
            )
        layer = "scp" if kind == SCP else "rcp"
        for target in path:
            if not self.listing_known(kind, target):
                out.append(
                    Unknown(
                        f"the {what} attached to {target} "
                        f"(organizations/list-policies-for-target/{kind}/{target}.json)",
                        Could.EITHER,
                        collect,
                        layer,
                    )
                )
            for pid in self.attachments.get(target, []):
                if pid not in self.policies and self.listed_type.get(pid, kind) == kind:
                    out.append(
                        Unknown(
                            f"policy {pid} attached to {target} (organizations/describe-policy/{pid}.json)",
                            Could.EITHER,
                            collect,
                            "scp" if kind == SCP else "rcp",
                        )
                    )
        if kind == SCP and not self.known:
            # SCPs do not govern the management account
            # (https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_scps.html).
            out.append(
                Unknown(
                    f"whether account {account} is the organization's management account, which SCPs do not "
                    "govern (organizations/describe-organization.json)",
                    Could.ALLOW,
                    collect,
                    "scp",
                )
            )
        return tuple(out)
