"""Making changes on a world (a copy: ``compare.impact`` never changes the world it is given), and what each
change can reach, so that only the launches it can affect are simulated again.

What a change reaches (``Reach``), and why nothing else can move:

- A key policy, a grant or a key state takes part only in requests on that key: the key policy is the key's
  resource policy, grants are the key's, and KMS checks the state of the key a call names
  (https://docs.aws.amazon.com/kms/latest/developerguide/control-access.html,
  https://docs.aws.amazon.com/kms/latest/developerguide/key-state.html). A launch whose simulation planned no
  volume with that key and made no call on it (``Trace.keys``) decides every call as before. Calls after the
  first refused one are not made (assumption call-order), but the planned volumes name every key the launch
  would use, so a call not made before is still seen.
- An identity policy takes part only in requests by the users and roles it is attached to, all in its account:
  launches whose calls are all made by principals of other accounts are untouched.
- An SCP governs the principals of the accounts under its target
  (https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_scps_evaluation.html); an
  RCP the resources of those accounts
  (https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_rcps_evaluation.html). A
  launch none of whose principals (SCP) or keys and launch account (RCP) is in those accounts is untouched.
- The default EBS key is read only by launches in its own account and region
  (https://docs.aws.amazon.com/ebs/latest/userguide/encryption-by-default.html).

Two filters use this. Before simulating, ``Reach.may_reach`` leaves out the launches that cannot meet what changes
(another account's launch that names none of the changed keys, an account outside an SCP's target): they decide
the same before and after and are not simulated at all. After the changes, ``Reach.touches`` reads the trace of
each launch simulated before, and simulates again only those that met what changed.

Which launch paths exist also depends on the world (who may call ec2:RunInstances, which keys are usable,
whose policies name whom): ``Reach.regions`` are the (account, region) pairs whose paths are enumerated again.
A launch that could not be simulated to the end (an EC2 error before planning, something not in the snapshot)
has no trace to reason on, and is always simulated again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from kmslaunch.policy.model import PolicyType
from kmslaunch.world.documents import Document
from kmslaunch.world.kms import Key, KeyState
from kmslaunch.world.organizations import RCP, OrgPolicy
from kmslaunch.world.world import World

from .changes import (
    Change,
    DefaultKeyChange,
    DisableKey,
    IdentityPolicyChange,
    KeyPolicyChange,
    OrgPolicyChange,
    RevokeGrant,
)

# The AWS managed RCP that enabling RCPs attaches to the root, every OU and every account
# (https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_rcps_evaluation.html).
RCP_FULL_ACCESS_ID = "p-RCPFullAWSAccess"
RCP_FULL_ACCESS = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}],
}


@dataclass(frozen=True)
class Trace:
    """What one simulated launch touched: its account and region, the keys of its planned volumes and calls, the
    accounts of the principals that made its requests, and whether it ran to the end of planning."""

    account: str
    region: str
    keys: frozenset[str]
    principal_accounts: frozenset[str]
    complete: bool

    @property
    def key_accounts(self) -> frozenset[str]:
        return frozenset(k.split(":")[4] for k in self.keys if k.count(":") >= 5)


@dataclass(frozen=True)
class Reach:
    """What a set of changes can affect: launches that touch one of ``keys``, are made by principals of
    ``principal_accounts``, use keys of (or launch in) ``resource_accounts``, or launch in one of ``regions``
    (whose paths are also enumerated again); ``accounts`` are enumerated again in every region."""

    keys: frozenset[str] = frozenset()
    principal_accounts: frozenset[str] = frozenset()
    resource_accounts: frozenset[str] = frozenset()
    regions: frozenset[tuple[str, str]] = frozenset()
    accounts: frozenset[str] = frozenset()
    # (region, names) of the keys whose policy, grants or state change, or that an RCP's accounts hold: the
    # strings by which a launch of another account can name the key (its id, inside a key ARN, and the
    # ``ACCOUNT:alias/NAME`` part of its alias ARNs).
    named: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def may_reach(self, world: World, account: str, region: str, params: object, texts: dict[str, str]) -> bool:
        """Whether a launch in ``account`` and ``region`` with ``params`` can meet what the changes change, told
        before simulating it: a launch in an account or region the changes reach, or one whose parameters, the
        account's templates, launch configurations, groups and EBS defaults, or any image or snapshot of the
        region name one of ``named``. Nothing else chooses a launch's keys (an alias or key id without an account
        resolves in the launch's own account; EBS uses keys of the volume's region: launch/plan.resolve_key);
        and principals of another account make none of its requests, so identity policies, SCPs and RCPs of
        other accounts take no part. ``texts`` caches what is read per account and region."""
        if (account, region) in self.regions or account in self.accounts:
            return True
        names = [n for r, ns in self.named if r == region for n in ns]
        if not names:
            return False
        here = texts.get(f"{account}\x1f{region}")
        if here is None:
            r = world.accounts[account].regions[region]
            here = texts[f"{account}\x1f{region}"] = repr((r.autoscaling, r.ec2.launch_templates, r.ec2.defaults))
        shared = texts.get(region)
        if shared is None:
            parts = [
                (list(rr.ec2.images.values()), list(rr.ec2.snapshots.values()))
                for a in world.accounts.values()
                if (rr := a.regions.get(region)) is not None
            ]
            shared = texts[region] = repr(parts)
        mine = repr(params)
        return any(n in here or n in shared or n in mine for n in names)

    def touches(self, t: Trace) -> bool:
        """Whether the launch traced by ``t`` may decide differently."""
        if not t.complete:
            return True
        if (t.account, t.region) in self.regions or t.account in self.accounts:
            return True
        if t.keys & self.keys:
            return True
        if (t.principal_accounts | {t.account}) & self.principal_accounts:
            return True
        return bool((t.key_accounts | {t.account}) & self.resource_accounts)

    def enumerate_again(self, world: World) -> set[tuple[str, str]]:
        """The (account, region) pairs whose launch paths may differ."""
        out = set(self.regions)
        for a in self.accounts & set(world.accounts):
            out |= {(a, r) for r in world.accounts[a].regions}
        return out


def _under(world: World, target: str) -> set[str]:
    """The accounts of the snapshot whose organization path goes through ``target``."""
    org = world.organization
    return {a for a in world.accounts if target in org.path(a)}


def reach(world: World, changes: Iterable[Change]) -> Reach:
    """What ``changes`` can affect in ``world`` (before they are made: the organization tree does not change)."""
    keys: set[str] = set()
    principals: set[str] = set()
    resources: set[str] = set()
    regions: set[tuple[str, str]] = set()
    accounts: set[str] = set()
    org = world.organization
    named: list[tuple[str, tuple[str, ...]]] = []
    for c in changes:
        if isinstance(c, KeyPolicyChange | RevokeGrant | DisableKey):
            key = world.key_by_arn(c.key_arn)
            if key is not None:
                named.append(_names(world, key))
            keys.add(c.key_arn)
            parts = c.key_arn.split(":")
            regions.add((parts[4], parts[3]))  # its paths: usable keys, whom its policy and grants name
        elif isinstance(c, IdentityPolicyChange):
            principals.add(c.account)
            accounts.add(c.account)
        elif isinstance(c, OrgPolicyChange):
            if c.policy_id is not None:
                under = {a for t, ids in org.attachments.items() if c.policy_id in ids for a in _under(world, t)}
            else:
                assert c.target is not None
                under = _under(world, c.target)
            if c.policy_type == RCP:
                resources |= under
                named += [
                    _names(world, k)
                    for a in sorted(under)
                    for r in world.accounts[a].regions.values()
                    for k in r.kms.keys.values()
                ]
            else:
                principals |= under
            accounts |= under
        elif isinstance(c, DefaultKeyChange):
            regions.add((c.account, c.region))
    return Reach(
        frozenset(keys),
        frozenset(principals),
        frozenset(resources),
        frozenset(regions),
        frozenset(accounts),
        tuple(named),
    )


def _names(world: World, key: Key) -> tuple[str, tuple[str, ...]]:
    kms = world.accounts[key.account].regions[key.region].kms
    return key.region, (key.key_id, *(f"{key.account}:{a}" for a in kms.aliases_of(key.key_id)))


def apply_changes(world: World, changes: Iterable[Change]) -> None:
    """Make ``changes`` on ``world``, in order, as the AWS calls they stand for would."""
    for c in changes:
        _apply(world, c)


def _apply(world: World, c: Change) -> None:
    if isinstance(c, KeyPolicyChange):
        key = world.key_by_arn(c.key_arn)
        assert key is not None
        key.policy, key.policy_known = c.document, True
    elif isinstance(c, IdentityPolicyChange):
        iam = world.account(c.account).iam
        if c.policy_arn is not None:
            mp = iam.policies[c.policy_arn]
            mp.document = c.document
            number = mp.default_version_id[1:]
            mp.default_version_id = f"v{int(number) + 1}" if number.isdigit() else "v2"
        else:
            owners: dict[str, dict[str, Document]] = {u.arn: u.inline for u in iam.users.values()}
            owners |= {r.arn: r.inline for r in iam.roles.values()} | {g.arn: g.inline for g in iam.groups.values()}
            assert c.holder_arn is not None
            inline = owners[c.holder_arn]
            assert c.policy_name is not None
            inline[c.policy_name] = c.document
    elif isinstance(c, OrgPolicyChange):
        _apply_org(world, c)
    elif isinstance(c, RevokeGrant):
        key = world.key_by_arn(c.key_arn)
        assert key is not None
        key.grants = [g for g in key.grants if g.grant_id != c.grant_id]
    elif isinstance(c, DefaultKeyChange):
        defaults = world.account(c.account).region(c.region).ec2.defaults
        # As ModifyEbsDefaultKmsKeyId: the default key is set (and known); encryption by default is not turned on.
        defaults.default_kms_key_id, defaults.known = c.key_arn, True
    else:
        key = world.key_by_arn(c.key_arn)
        assert key is not None
        key.state = KeyState.DISABLED


def _apply_org(world: World, c: OrgPolicyChange) -> None:
    org = world.organization
    if c.policy_id is not None:
        org.policies[c.policy_id].document = c.document
        return
    assert c.target is not None
    if c.policy_type == RCP and not any(p.type == RCP for p in org.policies.values()):
        _enable_rcps(world)
    n = 1
    while f"p-kmslaunch{n}" in org.policies:
        n += 1
    pid = f"p-kmslaunch{n}"
    org.policies[pid] = OrgPolicy(pid, c.name, c.policy_type, c.document, description=c.origin.flag)
    org.attachments.setdefault(c.target, []).append(pid)
    if org.listed:
        org.listed.add((c.policy_type, c.target))
        org.listed_type[pid] = c.policy_type


def _enable_rcps(world: World) -> None:
    """EnablePolicyType RESOURCE_CONTROL_POLICY: RCPFullAWSAccess on the root, every OU and every account."""
    org = world.organization
    doc = Document.parse(RCP_FULL_ACCESS, PolicyType.RCP, "RCPFullAWSAccess")
    org.policies[RCP_FULL_ACCESS_ID] = OrgPolicy(RCP_FULL_ACCESS_ID, "RCPFullAWSAccess", RCP, doc, aws_managed=True)
    targets = {*org.parents, *org.parents.values()}
    if org.root_id:
        targets.add(org.root_id)
    for t in targets:
        org.attachments.setdefault(t, []).append(RCP_FULL_ACCESS_ID)
        if org.listed:
            org.listed.add((RCP, t))
    if org.listed:
        org.listed_type[RCP_FULL_ACCESS_ID] = RCP
