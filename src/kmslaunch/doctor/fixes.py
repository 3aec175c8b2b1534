"""Least-privilege fixes for a failed launch: what each refused call needs, and where it belongs. ``rounds`` finds
a fix round by round and proves it by simulating the launch again; ``appliers`` holds the changes as functions of
a world with their AWS CLI commands; ``statements`` the statements a fix adds; ``delegation`` decides the
consumer's own create-grant. Where each change goes:

- the caller's IAM policy, only when the key policy delegates to IAM and the caller is a user or a role that
  IAM can change (https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html);
- the key policy, for service-linked roles (their IAM policies cannot be edited) and for keys that do not
  delegate, with CreateGrant limited by kms:GrantIsForAWSResource as AWS's key-user statements have it
  (https://docs.aws.amazon.com/autoscaling/ec2/userguide/key-policy-requirements-EBS-encryption.html);
- a grant made in the launching account, for a service-linked role using another account's key (same page);
- the Deny statement that caught an EC2 call, exempting EC2's own calls as AWS's data-perimeter examples do
  (``perimeter``; https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/iam-roles-for-amazon-ec2.html);
- the caller's permissions boundary, when that is where the allow is missing: a boundary only limits, so the
  identity policy's allow takes effect once the boundary allows the same actions on the key
  (https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_boundaries.html);
- the key's state (EnableKey, CancelKeyDeletion).
Fixes that keep the user's key and launch parameters come first; a change to the launch itself (another key) is
only ever offered after them, as an alternative.
Never ``kms:*``, never ``"Principal": "*"``: only the actions the refused calls need, on the key's ARN.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kmslaunch.assumptions import ASSUMPTIONS
from kmslaunch.launch.result import CallResult, CallVerdict, LaunchResult
from kmslaunch.policy.decision import Decision, Layer, Verdict
from kmslaunch.policy.evaluate import build_context
from kmslaunch.policy.explain import find_statement_policy
from kmslaunch.policy.model import PolicyType
from kmslaunch.policy.principals import Principal, PrincipalType
from kmslaunch.world.fork import fork
from kmslaunch.world.kms import Key, KeyState
from kmslaunch.world.world import World

from .appliers import (
    add_grant,
    document_file,
    in_account,
    new_boundary,
    put_command,
    put_inline,
    regional,
    replace_doc,
    replace_managed,
    safe_name,
    set_key_policy,
)
from .delegation import delegation_statements, grant_runner
from .locate import Holder, holder_of, holders
from .perimeter import (
    ConditionEntry,
    add_to_statement,
    exemption_for_call,
    recommendation,
)
from .statements import identity_statements, key_statements, statements_of, unique_sids

MAX_ROUNDS = 8
AWS_MANAGED_POLICIES = (
    "https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_managed-vs-inline.html#aws-managed-policies"
)


@dataclass
class Needs:
    """What the launch needs, gathered round by round, by where it goes."""

    identity: dict[tuple[str, str], set[tuple[str, str]]] = field(
        default_factory=dict
    )  # (acct, holder arn) -> {(action, key)}
    key_policy: dict[tuple[str, str], set[str]] = field(default_factory=dict)  # (key arn, principal arn) -> actions
    grants: dict[tuple[str, str, str], set[str]] = field(default_factory=dict)  # (key arn, grantee, account) -> ops
    # (key arn, consumer account) -> grantees: the key's owner lets the account grant the key to them
    grant_delegations: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    # (holder kind, owner ARN, policy name, statement index) -> the condition entries to add to that Deny
    exemptions: dict[tuple[str, str, str, int], set[ConditionEntry]] = field(default_factory=dict)
    # (account, user or role ARN, boundary policy ARN) -> {(action, key)} the boundary must allow
    boundary: dict[tuple[str, str, str], set[tuple[str, str]]] = field(default_factory=dict)
    key_state: dict[str, KeyState] = field(default_factory=dict)
    region: str = "us-east-1"

    def empty(self) -> bool:
        return not (
            self.identity
            or self.key_policy
            or self.grants
            or self.exemptions
            or self.key_state
            or self.boundary
            or self.grant_delegations
        )


@dataclass(frozen=True)
class Fix:
    """One change to one place, as the doctor proposes it."""

    kind: str  # identity-policy | key-policy | grant | key-state | permissions-boundary | scp | rcp | launch-parameter
    account: str
    target: str
    rationale: str
    commands: tuple[str, ...]
    statements: tuple[dict[str, Any], ...] = ()
    document: dict[str, Any] | None = None
    grant: dict[str, Any] | None = None
    apply: Callable[[World], None] | None = field(default=None, compare=False, repr=False)
    # (file name, whole document) for every ``file://`` the commands name, relative to the directory they run in
    files: tuple[tuple[str, dict[str, Any]], ...] = ()
    # Where the document lives, for infrastructure code (doctor/iac.py): (holder kind, policy name), the holder
    # kinds of doctor/locate.py plus "new-boundary" for a customer managed copy made to be a boundary.
    place: tuple[str, str] | None = None

    def to_json(self, verified: bool) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "account": self.account,
            "target": self.target,
            "statements": list(self.statements),
            "document": self.document,
            "grant": self.grant,
            "commands": list(self.commands),
            "files": [name for name, _ in self.files],
            "verified": verified,
            "rationale": self.rationale,
        }


@dataclass(frozen=True)
class FixPlan:
    """A set of changes that together make the launch succeed (``verified``), or that could not.

    ``alternative``: the plan changes the launch itself (another key), not a policy: it is never the fix
    ``kmslaunch fix`` applies, and every format labels it. ``assumptions``: ids of the assumption-table entries
    the verifying simulation's allowed calls rested on (``kmslaunch.assumptions``)."""

    title: str
    fixes: tuple[Fix, ...]
    verified: bool
    unresolved: str | None = None
    after: LaunchResult | None = None
    alternative: bool = False
    assumptions: tuple[str, ...] = ()

    def to_json(self) -> list[dict[str, Any]]:
        return [f.to_json(self.verified) for f in self.fixes]

    @property
    def unless(self) -> tuple[str, ...]:
        """What the snapshot does not hold that could still refuse the verifying launch: a launch that ran with
        facts missing is not "will launch", so neither is its verification."""
        if not self.verified or self.after is None:
            return ()
        return tuple(u.fact for u in self.after.deciding_unknowns)

    def summary(self) -> dict[str, Any]:
        """The plan as the diagnosis and the audit print it."""
        return {
            "title": self.title,
            "verified": self.verified,
            "alternative": self.alternative,
            "assumptions": [{"id": a, "choice": assumption_choice(a)} for a in self.assumptions],
            "unless": list(self.unless),
            "unresolved": self.unresolved,
            "fixes": self.to_json(),
        }

    def apply(self, world: World) -> None:
        for f in self.fixes:
            if f.apply is not None:
                f.apply(world)


def decision_assumptions(decision: Decision) -> tuple[str, ...]:
    """Ids of the assumption-table entries a decision relied on (``Decision.assumptions``), read in this one
    place for every format."""
    return decision.assumptions


def verification_assumptions(result: LaunchResult | None) -> tuple[str, ...]:
    """The assumptions a verifying simulation rests on: those of every call it allowed, in order, once each."""
    out: list[str] = []
    for c in result.calls if result is not None else ():
        if c.refused:
            continue
        for a in decision_assumptions(c.authorized.decision):
            if a not in out:
                out.append(a)
    return tuple(out)


def assumption_choice(assumption_id: str) -> str:
    """What kmslaunch chose for an assumption id (the id itself when the table does not hold it)."""
    return next((a.choice for a in ASSUMPTIONS if a.id == assumption_id), "not in kmslaunch's assumption table")


def verified_words(plan: FixPlan) -> str:
    """The same words in every format: "verified", "verified, resting on assumption <id>: <choice>", and what
    the snapshot does not hold that could still refuse the verifying launch."""
    if not plan.verified:
        return "not verified"
    words = "verified"
    if plan.assumptions:
        words += ", resting on " + "; ".join(f"assumption {a}: {assumption_choice(a)}" for a in plan.assumptions)
    if plan.unless:
        words += ", unless something the snapshot does not hold refuses it: " + "; ".join(plan.unless)
    return words


def preferred(plans: tuple[FixPlan, ...]) -> FixPlan | None:
    """The fix to apply: the first verified plan that keeps the user's key and launch parameters."""
    return next((p for p in plans if p.verified and not p.alternative), None)


def shown(plans: tuple[FixPlan, ...]) -> FixPlan | None:
    """The plan to show first: the preferred one, else the policy plan even unverified (with why), else the
    first plan."""
    return preferred(plans) or next((p for p in plans if not p.alternative), None) or (plans[0] if plans else None)


# ---------------------------------------------------------------------------------------------------------
# From a refused call to what it needs


def _key_of(world: World, arn: str) -> Key | None:
    return world.key_by_arn(arn)


def _identity_holder(world: World, who: Principal) -> str | None:
    """The IAM user or role whose policy IAM lets us change for this caller; None for service-linked roles
    and the instance identity, whose policies nobody can edit."""
    if who.account is None or who.account not in world.accounts:
        return None
    iam = world.accounts[who.account].iam
    if who.type is PrincipalType.USER and who.name in iam.users:
        return iam.users[who.name].arn
    if who.type is PrincipalType.ASSUMED_ROLE and not who.is_service_linked_role and not who.is_ec2_infrastructure:
        role = iam.roles.get(who.name or "")
        return role.arn if role else None
    return None


def _boundary_of(world: World, who: Principal) -> tuple[str, str] | None:
    """(user or role ARN, boundary policy ARN) of the caller, when both are in the snapshot."""
    if who.account is None or who.account not in world.accounts:
        return None
    iam = world.accounts[who.account].iam
    entity: Any = None
    if who.type is PrincipalType.USER:
        entity = iam.users.get(who.name or "")
    elif who.type is PrincipalType.ASSUMED_ROLE and not who.is_service_linked_role:
        entity = iam.roles.get(who.name or "")
    if entity is None or not entity.boundary_arn or entity.boundary_arn not in iam.policies:
        return None
    return str(entity.arn), str(entity.boundary_arn)


def _key_principal(who: Principal) -> str:
    """How a key policy names the caller: the role's ARN (with its path) for sessions, else the ARN itself."""
    return who.principal_arn if who.type is PrincipalType.ASSUMED_ROLE else who.arn


def _delegates(result: CallResult) -> bool:
    """The key policy let the caller's account decide (an Allow naming the account matched)."""
    d = result.authorized.decision
    return any(r.layer is PolicyType.KEY for r in d.partial) or Layer.KEY_POLICY not in d.denied_by


def add_need(world: World, result: CallResult, needs: Needs) -> str | None:
    """Record what would let this refused call through. Returns why nothing can be done, or None."""
    who = result.call.principal
    key_arn = result.resource
    key = _key_of(world, key_arn)
    action = result.action
    d = result.authorized.decision
    if result.verdict is CallVerdict.KEY_STATE:
        if key is None:
            return f"key {key_arn} is not in the snapshot"
        if key.state is KeyState.PENDING_IMPORT:
            return (
                f"{key_arn} is pending import: its key material must be imported (aws kms import-key-material); "
                "kmslaunch cannot do that for you"
            )
        needs.key_state[key_arn] = key.state
        return None
    if d.verdict is Verdict.EXPLICIT_DENY:
        ctx = build_context(result.authorized.request, result.authorized.policies)
        for ref in d.decided_by:
            policy = find_statement_policy(result.authorized.policies, ref)
            where = holder_of(world, policy) if policy is not None else None
            if where is None:
                return f"the Deny statement {ref.statement} of {ref.policy} could not be located in the snapshot"
            st = policy.statements[ref.index] if policy is not None and ref.index < len(policy.statements) else None
            exemption = exemption_for_call(st, who, ctx) if st is not None else "it could not be read"
            if isinstance(exemption, str):
                return (
                    f"the Deny statement {ref.statement} of {ref.policy} refuses {action}: {exemption}; kmslaunch "
                    "does not loosen a Deny that is not about where a call comes from or who makes it"
                )
            needs.exemptions.setdefault((where.kind, where.owner_arn, where.name, ref.index), set()).update(exemption)
        return None
    # Implicit deny.
    layers = set(d.denied_by)
    same_account = who.account == key_arn.split(":")[4]
    if Layer.PERMISSIONS_BOUNDARY in layers:
        # The boundary is where the allow is missing: it must allow the same actions on the key, no more.
        boundary = _boundary_of(world, who)
        if boundary is None:
            return f"{action} is refused by the permissions boundary of {who.arn}, which is not in the snapshot"
        needs.boundary.setdefault((who.account or "", *boundary), set()).add((action, key_arn))
        layers.discard(Layer.PERMISSIONS_BOUNDARY)
    if layers & {Layer.SCP, Layer.RCP, Layer.SESSION_POLICY, Layer.VPC_ENDPOINT_POLICY}:
        names = ", ".join(sorted(layer.value for layer in layers))
        return f"{action} is refused for lack of an allow in: {names}; kmslaunch does not widen those guardrails"
    if not layers:
        return None
    holder = _identity_holder(world, who)
    if who.is_service_linked_role and not same_account:
        # A service-linked role using another account's key: a grant made in the launching account.
        needs.grants.setdefault((key_arn, _key_principal(who), who.account or ""), set()).add(action.split(":", 1)[1])
        return None
    if Layer.IDENTITY_POLICY in layers and holder is not None and _delegates(result):
        needs.identity.setdefault((who.account or "", holder), set()).add((action, key_arn))
        if not same_account and Layer.KEY_POLICY in layers:
            needs.key_policy.setdefault((key_arn, f"arn:aws:iam::{who.account}:root"), set()).add(action)
        return None
    if who.is_ec2_infrastructure:
        return f"the instance identity's {action} has no grant: EC2's CreateGrant did not happen"
    # The key policy must name the caller: service-linked roles, keys that do not delegate, other accounts.
    needs.key_policy.setdefault((key_arn, _key_principal(who)), set()).add(action)
    if not same_account and holder is not None:
        needs.identity.setdefault((who.account or "", holder), set()).add((action, key_arn))
    return None


# ---------------------------------------------------------------------------------------------------------
# From needs to concrete, applicable fixes


def materialize(world: World, needs: Needs) -> list[Fix]:
    """Concrete fixes (documents, commands, and how to apply them) for everything the launch needs."""
    fixes: list[Fix] = []
    region = needs.region
    for key_arn, state in needs.key_state.items():
        owner = key_arn.split(":")[4]
        cmds = []
        if state is KeyState.PENDING_DELETION:
            cmds.append(in_account(regional(f"aws kms cancel-key-deletion --key-id {key_arn}", key_arn), owner))
        cmds.append(in_account(regional(f"aws kms enable-key --key-id {key_arn}", key_arn), owner))

        def enable(w: World, key_arn: str = key_arn) -> None:
            key = w.key_by_arn(key_arn)
            if key is not None:
                key.state = KeyState.ENABLED
                key.deletion_date = None

        why = "the key is " + (
            "pending deletion: cancelling the deletion leaves it disabled, so it is enabled too"
            if state is KeyState.PENDING_DELETION
            else "disabled"
        )
        fixes.append(Fix("key-state", owner, key_arn, why, tuple(cmds), apply=enable))

    exempted = _exemptions(world, needs)
    by_key: dict[str, list[tuple[str, set[str]]]] = {}
    for (key_arn, principal), actions in needs.key_policy.items():
        by_key.setdefault(key_arn, []).append((principal, actions))
    delegations: dict[str, list[tuple[str, set[str]]]] = {}
    for (key_arn, consumer), grantees in needs.grant_delegations.items():
        delegations.setdefault(key_arn, []).append((consumer, grantees))
        by_key.setdefault(key_arn, [])
    for key_arn, entries in sorted(by_key.items()):
        key = world.key_by_arn(key_arn)
        if key is None:
            continue
        # One document per key: a Deny of this key policy exempted for EC2 goes in the same put-key-policy, which
        # replaces the policy whole.
        _, raw, changed, reasons = exempted.pop(("key-policy", key_arn, "default"), (None, None, [], []))
        raw = copy.deepcopy(raw if raw is not None else key.policy.raw)
        existing = statements_of(raw)
        added: list[dict[str, Any]] = []
        for principal, actions in sorted(entries):
            added.extend(key_statements(principal, actions, region))
        if entries:
            who = ", ".join(p for p, _ in sorted(entries))
            reasons.append(
                f"the key policy must name {who}: "
                + (
                    "a service-linked role's IAM policies cannot be changed"
                    if any("/aws-service-role/" in p for p, _ in entries)
                    else "it does not let IAM decide for this caller"
                )
            )
        for consumer, grantees in sorted(delegations.get(key_arn, [])):
            added.extend(delegation_statements(consumer, grantees))
            reasons.append(
                f"account {consumer} must create a grant for {', '.join(sorted(grantees))} itself, with a direct "
                "CreateGrant call, which carries no kms:GrantIsForAWSResource: the key policy allows that account "
                "CreateGrant only for AWS resources, so the key's owner lets it grant the key to that role "
                "(kms:GranteePrincipal)"
            )
        added = unique_sids(existing, added)
        doc = {**raw, "Statement": existing + added}
        owner_note = ", the key's owner" if delegations.get(key_arn) else ""
        path = document_file("key-policy", key_arn, "default")
        fixes.append(
            Fix(
                "key-policy",
                key.account,
                key_arn,
                "; ".join(reasons),
                (
                    in_account(
                        regional(
                            f"aws kms put-key-policy --key-id {key_arn} --policy-name default --policy file://{path}",
                            key_arn,
                        ),
                        key.account,
                        owner_note,
                    ),
                ),
                statements=(*changed, *added),
                document=doc,
                apply=set_key_policy(key_arn, doc),
                files=((path, doc),),
                place=("key-policy", "default"),
            )
        )

    for (acct, holder_arn), pairs in sorted(needs.identity.items()):
        kind_name = holder_arn.split(":")[5]
        is_user = kind_name.startswith("user/")
        name = kind_name.rsplit("/", 1)[-1]
        first_key = sorted(k for _, k in pairs)[0].rsplit("/", 1)[-1][:8]
        policy_name = f"kmslaunch-ebs-{first_key}"
        # put-user-policy replaces an inline policy of that name whole: keep what one already holds.
        iam = world.account(acct).iam
        entity: Any = iam.users.get(name) if is_user else iam.roles.get(name)
        held = entity.inline.get(policy_name) if entity is not None else None
        raw = copy.deepcopy(held.raw) if held is not None else {"Version": "2012-10-17"}
        existing = statements_of(raw)
        statements = unique_sids(existing, identity_statements(pairs, region))
        doc = {**raw, "Statement": existing + statements}
        verb = "put-user-policy --user-name" if is_user else "put-role-policy --role-name"
        path = document_file("identity-policy", holder_arn, policy_name)
        fixes.append(
            Fix(
                "identity-policy",
                acct,
                holder_arn,
                f"the key policy lets IAM decide, and no IAM policy of {name} allows "
                + ", ".join(sorted({a for a, _ in pairs})),
                (
                    in_account(
                        f"aws iam {verb} {name} --policy-name {policy_name} --policy-document file://{path}", acct
                    ),
                ),
                statements=tuple(statements),
                document=doc,
                apply=put_inline(acct, name, is_user, policy_name, doc),
                files=((path, doc),),
                place=("identity-policy", policy_name),
            )
        )

    # Who can create a grant is decided with the key-policy and IAM changes above in place.
    scratch = world
    if needs.grants and fixes:
        scratch = fork(world)
        for f in fixes:
            if f.apply is not None:
                f.apply(scratch)
    for (key_arn, grantee, acct), ops in sorted(needs.grants.items()):
        operations = sorted(ops | ({"Decrypt"} if "CreateGrant" in ops else set()))
        grant = {"KeyId": key_arn, "GranteePrincipal": grantee, "Operations": operations}
        runner = grant_runner(scratch, key_arn, grantee, acct, operations)
        by = runner.principal or f"a principal of account {acct} allowed kms:CreateGrant on the key in IAM"
        iam_note = (
            ""
            if runner.principal
            else f" No principal of account {acct} in the snapshot may; the one who runs it needs this IAM "
            f"statement: {json.dumps(runner.iam_statement)}."
        )
        fixes.append(
            Fix(
                "grant",
                acct,
                key_arn,
                f"{grantee} is a service-linked role of account {acct} and the key belongs to account "
                f"{key_arn.split(':')[4]}: the key policy cannot make IAM allow it, a grant can. It is created in "
                f"account {acct} by {by}.{iam_note}",
                (
                    in_account(
                        regional(
                            f"aws kms create-grant --key-id {key_arn} --grantee-principal {grantee} "
                            f"--operations {' '.join(operations)}",
                            key_arn,
                        ),
                        acct,
                        f" as {by}",
                    ),
                ),
                grant=grant,
                apply=add_grant(key_arn, grantee, operations, acct),
            )
        )

    for place in sorted(exempted):
        holder, doc, changed, exemption_reasons = exempted[place]
        kind = {"identity-policy": "identity-policy", "managed-policy": "identity-policy"}.get(holder.kind, holder.kind)
        fixes.append(
            Fix(
                kind,
                holder.account,
                holder.owner_arn,
                "; ".join(exemption_reasons),
                (put_command(holder.kind, holder.owner_arn, holder.name, holder.account),),
                statements=tuple(changed),
                document=doc,
                apply=replace_doc(holder.owner_arn, holder.kind, holder.name, doc, holder.document.policy.type),
                files=((document_file(holder.kind, holder.owner_arn, holder.name), doc),),
                place=(holder.kind, holder.name),
            )
        )

    for (acct, entity_arn, boundary_arn), pairs in sorted(needs.boundary.items()):
        fix = _boundary_fix(world, acct, entity_arn, boundary_arn, pairs, region)
        if fix is not None:
            fixes.append(fix)
    return fixes


Exempted = dict[tuple[str, str, str], tuple[Holder, dict[str, Any], list[dict[str, Any]], list[str]]]


def _exemptions(world: World, needs: Needs) -> Exempted:
    """Each policy with a Deny to exempt for EC2: (holder, the whole document with every such Deny exempted, the
    changed statements, why), one entry per policy however many of its statements change."""
    out: Exempted = {}
    for (hkind, owner, hname, index), wanted in sorted(needs.exemptions.items()):
        place = (hkind, owner, hname)
        if place not in out:
            holder = next((h for h in holders(world) if (h.kind, h.owner_arn, h.name) == place), None)
            if holder is None:
                continue
            out[place] = (holder, copy.deepcopy(holder.document.raw), [], [])
        _, raw, changed, why = out[place]
        statements = statements_of(raw)
        ordered = tuple(sorted(wanted))
        st = add_to_statement(statements[index], ordered)
        statements[index] = st
        raw["Statement"] = statements
        changed.append(st)
        why.append(
            f"the Deny statement {st.get('Sid') or f'Statement[{index}]'} catches calls EC2 makes: "
            + recommendation(ordered)
        )
    return out


def _boundary_fix(
    world: World, acct: str, entity_arn: str, boundary_arn: str, pairs: set[tuple[str, str]], region: str
) -> Fix | None:
    """The permissions boundary with the KMS actions the launch needs, on the key's ARN. A customer managed
    boundary gets a new default version; an AWS managed one cannot be edited
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_managed-vs-inline.html#aws-managed-policies),
    so the fix is a customer managed copy of it with the same statements and the KMS ones, set as the boundary."""
    iam = world.account(acct).iam
    mp = iam.policies.get(boundary_arn)
    if mp is None:
        return None
    raw = copy.deepcopy(mp.document.raw)
    existing = statements_of(raw)
    added = unique_sids(existing, identity_statements(pairs, region))
    doc = {**raw, "Statement": existing + added}
    entity = entity_arn.split(":")[5]
    is_user = entity.startswith("user/")
    name = entity.rsplit("/", 1)[-1]
    actions = ", ".join(sorted({a for a, _ in pairs}))
    if not mp.aws_managed:
        path = document_file("managed-policy", boundary_arn, mp.name)
        return Fix(
            "permissions-boundary",
            acct,
            boundary_arn,
            f"the permissions boundary {mp.name} of {name} does not allow {actions}: whatever the identity policies "
            "allow, a boundary caps it; a new default version adds the KMS actions on the key, nothing else",
            (
                in_account(
                    f"aws iam create-policy-version --policy-arn {boundary_arn} "
                    f"--policy-document file://{path} --set-as-default",
                    acct,
                ),
            ),
            statements=tuple(added),
            document=doc,
            apply=replace_managed(acct, boundary_arn, doc),
            files=((path, doc),),
            place=("managed-policy", mp.name),
        )
    copy_name = f"{mp.name}-ebs-kms"
    copy_arn = f"arn:aws:iam::{acct}:policy/{copy_name}"
    verb = "put-user-permissions-boundary --user-name" if is_user else "put-role-permissions-boundary --role-name"
    path = f"policy-{safe_name(copy_name)}.json"
    return Fix(
        "permissions-boundary",
        acct,
        entity_arn,
        f"the permissions boundary of {name} is the AWS managed policy {mp.name}, which does not allow {actions} "
        "and cannot be edited: a customer managed copy of it with the KMS actions on the key becomes the boundary",
        (
            in_account(f"aws iam create-policy --policy-name {copy_name} --policy-document file://{path}", acct),
            in_account(f"aws iam {verb} {name} --permissions-boundary {copy_arn}", acct),
        ),
        statements=tuple(added),
        document=doc,
        apply=new_boundary(acct, entity_arn, copy_arn, copy_name, doc),
        files=((path, doc),),
        place=("new-boundary", copy_name),
    )
