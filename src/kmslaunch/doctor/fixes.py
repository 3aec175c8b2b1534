"""Least-privilege fixes for a failed launch, each proved by simulating the launch again with it applied.

A fix is found round by round: simulate, take the first refused call, add what would let exactly that call
through in the place it belongs, simulate again — until the launch succeeds (the fix is ``verified``) or no
further change can be made (the fix is reported as unverified, and why). Where each change goes:

- the caller's IAM policy, only when the key policy delegates to IAM and the caller is a user or a role that
  IAM can change (https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html);
- the key policy, for service-linked roles (their IAM policies cannot be edited) and for keys that do not
  delegate, with CreateGrant limited by kms:GrantIsForAWSResource as AWS's key-user statements have it
  (https://docs.aws.amazon.com/autoscaling/ec2/userguide/key-policy-requirements-EBS-encryption.html);
- a grant made in the launching account, for a service-linked role using another account's key (same page);
- the Deny statement that caught an EC2 call, exempting EC2's own calls as AWS's data-perimeter examples do
  (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/iam-roles-for-amazon-ec2.html);
- the key's state (EnableKey, CancelKeyDeletion).
Never ``kms:*``, never ``"Principal": "*"``: only the actions the refused calls need, on the key's ARN.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kmslaunch.launch.request import LaunchRequest, simulate
from kmslaunch.launch.result import CallResult, CallVerdict, LaunchKind, LaunchResult
from kmslaunch.policy.decision import Layer, Verdict
from kmslaunch.policy.explain import find_statement_policy
from kmslaunch.policy.grants import Grant
from kmslaunch.policy.model import PolicyType
from kmslaunch.policy.principals import Principal, PrincipalType
from kmslaunch.world.documents import Document
from kmslaunch.world.kms import Key, KeyState
from kmslaunch.world.world import World

from .locate import holder_of, holders

GRANT_ACTIONS = frozenset({"kms:CreateGrant"})
EC2_INFRASTRUCTURE_PATTERN = "arn:aws:iam::*:role/aws:ec2-infrastructure"
MAX_ROUNDS = 8
# A Deny is exempted for EC2's calls only when it is a perimeter: its conditions are about where a call comes
# from or who makes it, which EC2's calls cannot satisfy the way the user's own calls do.
_ORIGIN_KEYS = frozenset(
    {
        "aws:sourceip",
        "aws:vpcsourceip",
        "aws:sourcevpc",
        "aws:sourcevpce",
        "aws:principalarn",
        "aws:principaltype",
        "aws:principalaccount",
        "aws:principalorgid",
        "aws:principalorgpaths",
        "aws:userid",
        "aws:username",
        "aws:viaawsservice",
        "aws:principalisawsservice",
        "kms:viaservice",
        "kms:calleraccount",
    }
)


@dataclass
class Needs:
    """What the launch needs, gathered round by round, by where it goes."""

    identity: dict[tuple[str, str], set[tuple[str, str]]] = field(
        default_factory=dict
    )  # (acct, holder arn) -> {(action, key)}
    key_policy: dict[tuple[str, str], set[str]] = field(default_factory=dict)  # (key arn, principal arn) -> actions
    grants: dict[tuple[str, str, str], set[str]] = field(default_factory=dict)  # (key arn, grantee, account) -> ops
    # (holder kind, owner ARN, policy name, statement index) -> (operator, condition key, value) to add to a Deny
    exemptions: dict[tuple[str, str, str, int], tuple[str, str, str]] = field(default_factory=dict)
    key_state: dict[str, KeyState] = field(default_factory=dict)
    region: str = "us-east-1"

    def empty(self) -> bool:
        return not (self.identity or self.key_policy or self.grants or self.exemptions or self.key_state)


@dataclass(frozen=True)
class Fix:
    """One change to one place, as the doctor proposes it."""

    kind: str  # identity-policy | key-policy | grant | key-state | permissions-boundary | scp | launch-parameter
    account: str
    target: str
    rationale: str
    commands: tuple[str, ...]
    statements: tuple[dict[str, Any], ...] = ()
    document: dict[str, Any] | None = None
    grant: dict[str, Any] | None = None
    apply: Callable[[World], None] | None = field(default=None, compare=False, repr=False)

    def to_json(self, verified: bool) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "account": self.account,
            "target": self.target,
            "statements": list(self.statements),
            "document": self.document,
            "grant": self.grant,
            "commands": list(self.commands),
            "verified": verified,
            "rationale": self.rationale,
        }


@dataclass(frozen=True)
class FixPlan:
    """A set of changes that together make the launch succeed (``verified``), or that could not."""

    title: str
    fixes: tuple[Fix, ...]
    verified: bool
    unresolved: str | None = None
    after: LaunchResult | None = None

    def to_json(self) -> list[dict[str, Any]]:
        return [f.to_json(self.verified) for f in self.fixes]

    def apply(self, world: World) -> None:
        for f in self.fixes:
            if f.apply is not None:
                f.apply(world)


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
        for ref in d.decided_by:
            policy = find_statement_policy(result.authorized.policies, ref)
            where = holder_of(world, policy) if policy is not None else None
            if where is None:
                return f"the Deny statement {ref.statement} of {ref.policy} could not be located in the snapshot"
            st = policy.statements[ref.index] if policy is not None and ref.index < len(policy.statements) else None
            if st is None or not any(c.key_lower in _ORIGIN_KEYS for c in st.conditions):
                return (
                    f"the Deny statement {ref.statement} of {ref.policy} refuses {action} whatever the call's origin: "
                    "kmslaunch does not loosen a Deny that is not about where a call comes from or who makes it"
                )
            if who.is_ec2_infrastructure:
                exemption = ("ArnNotLikeIfExists", "aws:PrincipalArn", EC2_INFRASTRUCTURE_PATTERN)
            elif who.is_service_linked_role:
                exemption = ("ArnNotLikeIfExists", "aws:PrincipalArn", _key_principal(who))
            elif result.call.context.get("aws:viaawsservice") == ("true",):
                exemption = ("Bool", "aws:ViaAWSService", "false")
            else:
                return (
                    f"{ref.policy} denies {action} to {who.arn} itself, not only EC2's calls: "
                    "kmslaunch does not loosen a Deny aimed at the caller"
                )
            needs.exemptions[(where.kind, where.owner_arn, where.name, ref.index)] = exemption
        return None
    # Implicit deny.
    layers = set(d.denied_by)
    same_account = who.account == key_arn.split(":")[4]
    if layers & {Layer.SCP, Layer.RCP, Layer.PERMISSIONS_BOUNDARY, Layer.SESSION_POLICY, Layer.VPC_ENDPOINT_POLICY}:
        names = ", ".join(sorted(layer.value for layer in layers))
        return f"{action} is refused for lack of an allow in: {names}; kmslaunch does not widen those guardrails"
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


def _key_statements(principal: str, actions: set[str], region: str) -> list[dict[str, Any]]:
    name = principal.rsplit("/", 1)[-1] if ":root" not in principal else principal.split(":")[4]
    use = sorted(actions - GRANT_ACTIONS)
    out: list[dict[str, Any]] = []
    if use:
        out.append(
            {
                "Sid": f"Allow EBS use of the key by {name}",
                "Effect": "Allow",
                "Principal": {"AWS": principal},
                "Action": use,
                "Resource": "*",
                "Condition": {"StringEquals": {"kms:ViaService": f"ec2.{region}.amazonaws.com"}},
            }
        )
    if actions & GRANT_ACTIONS:
        out.append(
            {
                "Sid": f"Allow attachment of persistent resources by {name}",
                "Effect": "Allow",
                "Principal": {"AWS": principal},
                "Action": "kms:CreateGrant",
                "Resource": "*",
                "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}},
            }
        )
    return out


def _identity_statements(pairs: set[tuple[str, str]], region: str) -> list[dict[str, Any]]:
    by_key: dict[str, set[str]] = {}
    for action, key in pairs:
        by_key.setdefault(key, set()).add(action)
    out: list[dict[str, Any]] = []
    for i, (key, actions) in enumerate(sorted(by_key.items())):
        suffix = "" if len(by_key) == 1 else str(i + 1)
        use = sorted(actions - GRANT_ACTIONS)
        if use:
            out.append(
                {
                    "Sid": f"UseKeyThroughEbs{suffix}",
                    "Effect": "Allow",
                    "Action": use,
                    "Resource": key,
                    "Condition": {"StringEquals": {"kms:ViaService": f"ec2.{region}.amazonaws.com"}},
                }
            )
        if actions & GRANT_ACTIONS:
            out.append(
                {
                    "Sid": f"GrantsForEbsVolumes{suffix}",
                    "Effect": "Allow",
                    "Action": "kms:CreateGrant",
                    "Resource": key,
                    "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}},
                }
            )
    return out


def _unique_sids(existing: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    taken = {s.get("Sid") for s in existing}
    out = []
    for statement in new:
        sid, n, candidate = statement["Sid"], 2, statement["Sid"]
        while candidate in taken:
            candidate = f"{sid} ({n})"
            n += 1
        taken.add(candidate)
        out.append({**statement, "Sid": candidate})
    return out


def _statements_of(raw: dict[str, Any]) -> list[dict[str, Any]]:
    st = raw.get("Statement", [])
    return [st] if isinstance(st, dict) else list(st)


def materialize(world: World, needs: Needs) -> list[Fix]:
    """Concrete fixes (documents, commands, and how to apply them) for everything the launch needs."""
    fixes: list[Fix] = []
    region = needs.region
    for key_arn, state in needs.key_state.items():
        cmds = []
        if state is KeyState.PENDING_DELETION:
            cmds.append(f"aws kms cancel-key-deletion --key-id {key_arn}")
        cmds.append(f"aws kms enable-key --key-id {key_arn}")

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
        fixes.append(Fix("key-state", key_arn.split(":")[4], key_arn, why, tuple(cmds), apply=enable))

    by_key: dict[str, list[tuple[str, set[str]]]] = {}
    for (key_arn, principal), actions in needs.key_policy.items():
        by_key.setdefault(key_arn, []).append((principal, actions))
    for key_arn, entries in sorted(by_key.items()):
        key = world.key_by_arn(key_arn)
        if key is None:
            continue
        raw = copy.deepcopy(key.policy.raw)
        existing = _statements_of(raw)
        added: list[dict[str, Any]] = []
        for principal, actions in sorted(entries):
            added.extend(_key_statements(principal, actions, region))
        added = _unique_sids(existing, added)
        doc = {**raw, "Statement": existing + added}
        who = ", ".join(p for p, _ in sorted(entries))
        fixes.append(
            Fix(
                "key-policy",
                key.account,
                key_arn,
                f"the key policy must name {who}: "
                + (
                    "a service-linked role's IAM policies cannot be changed"
                    if any("/aws-service-role/" in p for p, _ in entries)
                    else "it does not let IAM decide for this caller"
                ),
                (
                    f"aws kms put-key-policy --key-id {key_arn} --policy-name default "
                    f"--policy file://key-policy-{key.key_id}.json",
                ),
                statements=tuple(added),
                document=doc,
                apply=_set_key_policy(key_arn, doc),
            )
        )

    for (acct, holder_arn), pairs in sorted(needs.identity.items()):
        statements = _identity_statements(pairs, region)
        kind_name = holder_arn.split(":")[5]
        is_user = kind_name.startswith("user/")
        name = kind_name.rsplit("/", 1)[-1]
        first_key = sorted(k for _, k in pairs)[0].rsplit("/", 1)[-1][:8]
        policy_name = f"kmslaunch-ebs-{first_key}"
        doc = {"Version": "2012-10-17", "Statement": statements}
        verb = "put-user-policy --user-name" if is_user else "put-role-policy --role-name"
        fixes.append(
            Fix(
                "identity-policy",
                acct,
                holder_arn,
                f"the key policy lets IAM decide, and no IAM policy of {name} allows "
                + ", ".join(sorted({a for a, _ in pairs})),
                (f"aws iam {verb} {name} --policy-name {policy_name} --policy-document file://{policy_name}.json",),
                statements=tuple(statements),
                document=doc,
                apply=_put_inline(acct, name, is_user, policy_name, doc),
            )
        )

    for (key_arn, grantee, acct), ops in sorted(needs.grants.items()):
        operations = sorted(ops | ({"Decrypt"} if "CreateGrant" in ops else set()))
        grant = {"KeyId": key_arn, "GranteePrincipal": grantee, "Operations": operations}
        fixes.append(
            Fix(
                "grant",
                acct,
                key_arn,
                f"{grantee} is a service-linked role of account {acct} and the key belongs to account "
                f"{key_arn.split(':')[4]}: the key policy cannot make IAM allow it, a grant can. A principal of "
                f"account {acct} with kms:CreateGrant on the key must create it.",
                (
                    f"aws kms create-grant --key-id {key_arn} --grantee-principal {grantee} "
                    f"--operations {' '.join(operations)}   # run in account {acct}",
                ),
                grant=grant,
                apply=_add_grant(key_arn, grantee, operations, acct),
            )
        )

    for (hkind, owner, hname, index), (op, cond_key, value) in sorted(needs.exemptions.items()):
        holder = next((h for h in holders(world) if (h.kind, h.owner_arn, h.name) == (hkind, owner, hname)), None)
        if holder is None:
            continue
        policy = holder.document.policy
        raw = copy.deepcopy(holder.document.raw)
        statements = _statements_of(raw)
        st = copy.deepcopy(statements[index])
        cond = st.setdefault("Condition", {})
        block = cond.setdefault(op, {})
        current = block.get(cond_key)
        if current is None:
            block[cond_key] = value
        elif value not in (current if isinstance(current, list) else [current]):
            block[cond_key] = [*(current if isinstance(current, list) else [current]), value]
        statements[index] = st
        doc = {**raw, "Statement": statements}
        kind = {"identity-policy": "identity-policy", "managed-policy": "identity-policy"}.get(holder.kind, holder.kind)
        why = {
            "aws:PrincipalArn": "exempt EC2's own identities from this Deny, as AWS's data-perimeter examples do",
            "aws:ViaAWSService": "let calls that AWS services make on the caller's behalf through",
        }[cond_key]
        fixes.append(
            Fix(
                kind,
                holder.account,
                holder.owner_arn,
                f"the Deny statement {st.get('Sid') or f'Statement[{index}]'} catches a call EC2 makes; {why}",
                (_put_command(holder.kind, holder.owner_arn, holder.name),),
                statements=(st,),
                document=doc,
                apply=_replace_doc(holder.owner_arn, holder.kind, holder.name, doc, policy.type),
            )
        )
    return fixes


def _put_command(kind: str, owner: str, name: str) -> str:
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


def _set_key_policy(key_arn: str, doc: dict[str, Any]) -> Callable[[World], None]:
    def apply(w: World) -> None:
        key = w.key_by_arn(key_arn)
        if key is not None:
            key.policy = Document.parse(doc, PolicyType.KEY, key_arn)

    return apply


def _put_inline(acct: str, name: str, is_user: bool, policy_name: str, doc: dict[str, Any]) -> Callable[[World], None]:
    def apply(w: World) -> None:
        iam = w.account(acct).iam
        holder = iam.users.get(name) if is_user else iam.roles.get(name)
        if holder is not None:
            holder.inline[policy_name] = Document.parse(doc, PolicyType.IDENTITY, policy_name)

    return apply


def _add_grant(key_arn: str, grantee: str, operations: list[str], acct: str) -> Callable[[World], None]:
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


def _replace_doc(owner: str, kind: str, name: str, doc: dict[str, Any], ptype: PolicyType) -> Callable[[World], None]:
    def apply(w: World) -> None:
        for h in holders(w):
            if h.owner_arn == owner and h.kind == kind and h.name == name:
                h.replace(Document.parse(doc, ptype, h.document.policy.name))
                return

    return apply


# ---------------------------------------------------------------------------------------------------------
# The rounds


def find_fix(pristine: World, req: LaunchRequest, *, title: str = "least-privilege fix") -> FixPlan:
    """Simulate, fix the first refused call, simulate again, until the launch succeeds or nothing more can be
    done. ``pristine`` is never changed."""
    needs = Needs(region=req.region)
    fixes: list[Fix] = []
    for _ in range(MAX_ROUNDS):
        world = copy.deepcopy(pristine)
        fixes = materialize(world, needs)
        for f in fixes:
            if f.apply is not None:
                f.apply(world)
        result = simulate(world, req)
        if result.succeeded:
            return FixPlan(title, tuple(fixes), bool(fixes), None, result)
        if result.outcome.state == "rejected":
            err = result.outcome.error or {}
            return FixPlan(
                title, tuple(fixes), False, f"EC2 refuses the request itself: {err.get('Code')}: {err.get('Message')}"
            )
        refused = result.refused_calls
        if not refused:
            return FixPlan(title, tuple(fixes), False, "the launch fails for a reason that is not a KMS call")
        before = json.dumps(_needs_key(needs), sort_keys=True)
        why_not = add_need(world, refused[0], needs)
        if why_not is not None:
            return FixPlan(title, tuple(fixes), False, why_not, result)
        if json.dumps(_needs_key(needs), sort_keys=True) == before:
            return FixPlan(
                title, tuple(fixes), False, f"{refused[0].action} is still refused after the changes above", result
            )
    return FixPlan(title, tuple(fixes), False, f"no fix found in {MAX_ROUNDS} rounds")


def _needs_key(needs: Needs) -> Any:
    return {
        "identity": sorted((str(k), sorted(v)) for k, v in needs.identity.items()),
        "key_policy": sorted((str(k), sorted(v)) for k, v in needs.key_policy.items()),
        "grants": sorted((str(k), sorted(v)) for k, v in needs.grants.items()),
        "exemptions": sorted(str(k) + str(v) for k, v in needs.exemptions.items()),
        "key_state": sorted(needs.key_state),
    }


def find_parameter_fix(pristine: World, req: LaunchRequest, result: LaunchResult) -> FixPlan | None:
    """An alternative that changes the launch instead of a policy: encrypt the volumes with the account's AWS
    managed key ``aws/ebs``, which any principal of the account may use through EC2
    (https://docs.aws.amazon.com/kms/latest/developerguide/services-ebs.html). Offered only when verified."""
    if req.kind is not LaunchKind.RUN_INSTANCES:
        return None
    devices = [v.device for v in result.volumes if v.encrypted]
    if not devices:
        return None
    params = copy.deepcopy(req.params)
    mappings = {m.get("DeviceName"): m for m in params.get("BlockDeviceMappings") or [] if isinstance(m, dict)}
    for d in devices:
        ebs = dict(mappings.get(d, {}).get("Ebs") or {})
        ebs.update({"Encrypted": True, "KmsKeyId": "alias/aws/ebs"})
        mappings[d] = {"DeviceName": d, "Ebs": ebs}
    params["BlockDeviceMappings"] = list(mappings.values())
    changed = dataclasses.replace(req, params=params)
    after = simulate(copy.deepcopy(pristine), changed)
    if not after.succeeded:
        return None
    fix = Fix(
        "launch-parameter",
        req.account,
        f"RunInstances by {req.caller}",
        "encrypt the volumes with the account's AWS managed key aws/ebs instead: its policy lets every principal "
        "of the account use it through EC2 (the data is then not under a key you control)",
        ("aws ec2 run-instances --cli-input-json file://run-instances.json",),
        document=params,
    )
    return FixPlan("launch with alias/aws/ebs", (fix,), True, None, after)
