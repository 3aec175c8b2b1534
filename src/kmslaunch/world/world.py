"""The world: accounts, each with IAM and regions (KMS, EC2/EBS, Auto Scaling, CloudTrail), plus the
organization. One object, passed in; a fresh one per test."""

from __future__ import annotations

from dataclasses import dataclass, field

from kmslaunch.policy.model import Policy
from kmslaunch.world.autoscaling import AutoScaling
from kmslaunch.world.clock import Clock, Ids
from kmslaunch.world.cloudtrail import Trail
from kmslaunch.world.ec2 import Ec2, Image, Snapshot
from kmslaunch.world.iam import Iam
from kmslaunch.world.kms import Key, Kms
from kmslaunch.world.organizations import Organization


@dataclass
class Region:
    name: str
    kms: Kms = field(default_factory=Kms)
    ec2: Ec2 = field(default_factory=Ec2)
    autoscaling: AutoScaling = field(default_factory=AutoScaling)
    trail: Trail = field(default_factory=Trail)


@dataclass
class Account:
    account_id: str
    iam: Iam = field(default_factory=Iam)
    regions: dict[str, Region] = field(default_factory=dict)

    def region(self, name: str) -> Region:
        """The region, created empty on first use."""
        if name not in self.regions:
            self.regions[name] = Region(name)
        return self.regions[name]


@dataclass
class World:
    clock: Clock = field(default_factory=Clock)
    ids: Ids = field(default_factory=Ids)
    partition: str = "aws"
    accounts: dict[str, Account] = field(default_factory=dict)
    organization: Organization = field(default_factory=Organization)
    # The session policies STS keeps with each role session (AssumeRole's Policy and PolicyArns), by session
    # ARN: they narrow that session's identity permissions
    # (https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies.html#policies_session).
    session_policies: dict[str, tuple[Policy, ...]] = field(default_factory=dict)
    # A world read from a snapshot holds what its collector could see: an AMI or snapshot it lacks may still
    # exist (Amazon's and Marketplace AMIs are not the account's to list), so "not found" means "unknown".
    partial: bool = False

    def account(self, account_id: str) -> Account:
        """The account, created empty on first use."""
        if account_id not in self.accounts:
            self.accounts[account_id] = Account(account_id)
        return self.accounts[account_id]

    def key_by_arn(self, arn: str) -> Key | None:
        """A key anywhere in the world by its key ARN (or alias ARN)."""
        parts = arn.split(":", 5)
        if len(parts) != 6 or parts[2] != "kms":
            return None
        acct = self.accounts.get(parts[4])
        if acct is None or parts[3] not in acct.regions:
            return None
        return acct.regions[parts[3]].kms.resolve(arn)

    def find_image(self, region: str, image_id: str) -> Image | None:
        for acct in self.accounts.values():
            r = acct.regions.get(region)
            if r and image_id in r.ec2.images:
                return r.ec2.images[image_id]
        return None

    def find_snapshot(self, region: str, snapshot_id: str) -> Snapshot | None:
        for acct in self.accounts.values():
            r = acct.regions.get(region)
            if r and snapshot_id in r.ec2.snapshots:
                return r.ec2.snapshots[snapshot_id]
        return None
