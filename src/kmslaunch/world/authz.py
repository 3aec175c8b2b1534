"""Every policy that takes part in a request, gathered from the world, and the decision.

This is where "which policies apply to whom" lives: a user's inline, attached and group policies; a role
session's role policies and boundary; a key's policy and grants; the SCPs on the caller's organization path
and the RCPs on the resource's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from kmslaunch.policy.decision import Decision
from kmslaunch.policy.evaluate import Organization as EvalOrganization
from kmslaunch.policy.evaluate import PolicySet, Request, authorize
from kmslaunch.policy.model import Policy
from kmslaunch.policy.principals import Principal, PrincipalType, parse_principal
from kmslaunch.world.iam import Iam
from kmslaunch.world.kms import Key, KeyManager
from kmslaunch.world.organizations import RCP, SCP
from kmslaunch.world.unknowns import Could, Unknown
from kmslaunch.world.world import World


@dataclass(frozen=True, slots=True)
class Authorized:
    """A decision with the request and policies it was made on (the doctor reads all three)."""

    request: Request
    policies: PolicySet
    decision: Decision
    # What the world does not know about this request's policies (world/unknowns.py): the decision was made
    # without them, and the answer must say so.
    unknowns: tuple[Unknown, ...] = ()


def principal_in_world(world: World, arn: str) -> Principal:
    """The caller of a request, with what IAM knows of it: the role's path, tags, unique id."""
    p = parse_principal(arn)
    if p.account is None or p.account not in world.accounts:
        return p
    iam = world.accounts[p.account].iam
    if p.type is PrincipalType.USER and p.name:
        user = iam.users.get(p.name)
        if user:
            return parse_principal(arn, userid=user.user_id, tags=user.tags, org_id=world.organization.org_id)
    if p.type is PrincipalType.ASSUMED_ROLE and p.name:
        role = iam.roles.get(p.name)
        if role:
            userid = f"{role.role_id}:{p.session_name}" if p.session_name else role.role_id
            return parse_principal(
                p.arn, role_arn=role.arn, userid=userid, tags=role.tags, org_id=world.organization.org_id
            )
    return parse_principal(
        p.arn, role_arn=p.principal_arn if p.role_path_known else None, org_id=world.organization.org_id
    )


def identity_policies(iam: Iam, who: Principal) -> tuple[tuple[Policy, ...], Policy | None]:
    """The identity-based policies and the permissions boundary of a caller."""
    docs: list[Policy] = []
    boundary_arn: str | None = None

    def managed(arns: list[str]) -> None:
        for arn in arns:
            mp = iam.policies.get(arn)
            if mp is not None:
                docs.append(mp.document.policy)

    if who.type is PrincipalType.ACCOUNT:
        # The root user has no identity policies: its full access is the engine's rule (RULE_ROOT_USER), limited
        # by SCPs and, for KMS, the key policy (https://docs.aws.amazon.com/IAM/latest/UserGuide/id_root-user.html).
        return (), None
    if who.type is PrincipalType.USER and who.name in iam.users:
        user = iam.users[who.name]
        docs.extend(d.policy for d in user.inline.values())
        managed(user.attached)
        for gname in user.groups:
            group = iam.groups.get(gname)
            if group:
                docs.extend(d.policy for d in group.inline.values())
                managed(group.attached)
        boundary_arn = user.boundary_arn
    elif who.type is PrincipalType.ASSUMED_ROLE and who.name in iam.roles:
        role = iam.roles[who.name]
        docs.extend(d.policy for d in role.inline.values())
        managed(role.attached)
        boundary_arn = role.boundary_arn
    boundary = None
    if boundary_arn and boundary_arn in iam.policies:
        boundary = iam.policies[boundary_arn].document.policy
    return tuple(docs), boundary


_SESSIONS = (PrincipalType.ASSUMED_ROLE, PrincipalType.FEDERATED_USER)


def policy_set(
    world: World, who: Principal, resource: str, key: Key | None, session: tuple[Policy, ...] | None = None
) -> PolicySet:
    """Every policy of one request. ``session``: the caller's session policies when the caller of this request
    knows them (the endpoint's credentials carry them); otherwise those the world holds for the session."""
    acct = world.accounts.get(who.account) if who.account else None
    identity, boundary = identity_policies(acct.iam, who) if acct else ((), None)
    org = world.organization
    scps = org.levels(who.account, SCP) if who.account else ()
    res_acct = resource.split(":")[4] if resource.count(":") >= 5 else None
    rcps = org.levels(res_acct, RCP) if res_acct else ()
    return PolicySet(
        identity=identity,
        resource=key.policy.policy if key is not None and key.policy_known else None,
        boundary=boundary,
        session=session
        if session is not None
        else (world.session_policies.get(who.arn, ()) if who.type in _SESSIONS else ()),
        scps=scps,
        rcps=rcps,
        grants=tuple(key.grants) if key is not None else (),
        resource_account=res_acct,
        key_managed_by_aws=key is not None and key.manager is KeyManager.AWS,
        organization=EvalOrganization(org.management_account, org.org_id),
    )


def authorize_in_world(
    world: World,
    who: Principal,
    action: str,
    resource: str,
    *,
    key: Key | None = None,
    context: Mapping[str, tuple[str, ...]] | None = None,
    encryption_context: Mapping[str, str] | None = None,
    explain: bool = True,
    session: tuple[Policy, ...] | None = None,
) -> Authorized:
    """Decide one request against the world's policies (``session``: see ``policy_set``)."""
    req = Request(who, action, resource, dict(context or {}), encryption_context)
    ps = policy_set(world, who, resource, key, session)
    return Authorized(req, ps, authorize(req, ps, explain=explain), gaps(world, who, resource, key))


def gaps(world: World, who: Principal, resource: str, key: Key | None) -> tuple[Unknown, ...]:
    """What the world leaves unknown about the policies of one request: the caller's IAM, the SCPs on the
    caller's path, the RCPs on the resource's, the key's policy and grants."""
    out: list[Unknown] = []
    org = world.organization
    if who.account and not who.is_service_linked_role and who.account != org.management_account:
        # SCPs govern every principal of a member account but service-linked roles
        # (https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_scps.html).
        out.extend(org.gaps(who.account, SCP))
    if who.account and who.type in (PrincipalType.USER, PrincipalType.ASSUMED_ROLE):
        acct = world.accounts.get(who.account)
        if not who.is_ec2_infrastructure and (acct is None or not acct.iam.known):
            out.append(
                Unknown(
                    f"the IAM policies of {who.arn} (account {who.account}'s IAM is not in the snapshot)",
                    Could.EITHER,
                    f"collect account {who.account}'s IAM: aws iam get-account-authorization-details",
                    "identity-policy",
                )
            )
    res_acct = resource.split(":")[4] if resource.count(":") >= 5 else None
    if res_acct and not (key is not None and key.manager is KeyManager.AWS):
        # RCPs do not govern AWS managed keys (https://docs.aws.amazon.com/organizations/latest/userguide/
        # orgs_manage_policies_rcps.html).
        out.extend(u for u in org.gaps(res_acct, RCP) if u.layer != "scp")
    if key is not None:
        if not key.policy_known:
            out.append(
                Unknown(
                    f"the key policy of {key.arn}",
                    Could.EITHER,
                    f"aws kms get-key-policy --key-id {key.arn} --policy-name default",
                    "key-policy",
                )
            )
        if not key.grants_known:
            out.append(
                Unknown(f"the grants of {key.arn}", Could.ALLOW, f"aws kms list-grants --key-id {key.arn}", "grants")
            )
    return tuple(out)
