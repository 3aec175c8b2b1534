"""A pre-flight's plan as ``impact`` CHANGE values: what a Terraform plan, CloudFormation template or CDK stack
changes in what the snapshot already holds.

The plan is read by the same readers as ``kmslaunch check`` (``preflight/terraform.py``,
``preflight/cloudformation.py``). A planned resource that names something the snapshot holds (a key by id, ARN or
alias; a customer managed policy by ARN; a role or user by name; a grant by id) is a change to existing launch
paths; one that names nothing the snapshot holds is new, and ``kmslaunch check`` is what simulates the paths it
creates. A planned value known only after apply that the change depends on (a policy document, the key a
default points to) leaves the change unevaluated: it is reported as an unknown fact, never dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kmslaunch.impact.changes import (
    Change,
    DefaultKeyChange,
    DisableKey,
    IdentityPolicyChange,
    KeyPolicyChange,
    Origin,
    RevokeGrant,
)
from kmslaunch.launch.errors import Ec2Error, NotInWorld
from kmslaunch.launch.plan import resolve_key
from kmslaunch.policy.model import PolicyType
from kmslaunch.preflight.model import Concat, Plan, PlannedResource, Pseudo, Ref, Unknown
from kmslaunch.world.documents import Document
from kmslaunch.world.kms import Key, KeyManager
from kmslaunch.world.world import World

# Organizations policies: the pre-flight readers do not map them (preflight/terraform_types.py MAPPERS), so a
# plan's SCP or RCP change is listed as not modelled rather than simulated.
_ORG_TYPES = ("aws_organizations_policy", "aws_organizations_policy_attachment", "AWS::Organizations::Policy")


@dataclass(frozen=True)
class PlanChanges:
    """What one or more plans change: ``changes`` to evaluate; ``unevaluated`` facts a change depends on that
    the plan leaves unknown; ``created`` addresses of what the plan creates anew (``kmslaunch check``'s part);
    ``unmodelled`` (type, address) of changes neither reader maps."""

    changes: tuple[Change, ...]
    unevaluated: tuple[str, ...]
    created: tuple[str, ...]
    unmodelled: tuple[tuple[str, str], ...]


class _Undecided(Exception):
    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


@dataclass
class _Reader:
    world: World
    plan: Plan
    changes: list[Change]
    unevaluated: list[str]
    created: list[str]

    @property
    def account(self) -> str | None:
        if self.plan.account:
            return self.plan.account
        return next(iter(self.world.accounts)) if len(self.world.accounts) == 1 else None

    @property
    def region(self) -> str | None:
        if self.plan.region:
            return self.plan.region
        acct = self.world.accounts.get(self.account or "")
        return next(iter(acct.regions)) if acct is not None and len(acct.regions) == 1 else None

    def origin(self, res: PlannedResource) -> Origin:
        line = res.source.line
        where = f"{res.source.file} line {line}" if line else res.source.file
        return Origin(f"from {res.address}, {where}", res.source.file, line)

    def by_address(self, address: str) -> PlannedResource | None:
        return next((r for r in self.plan.resources if r.address == address), None)

    def concrete(self, value: Any, what: str) -> Any:
        """``value`` with every symbolic leaf resolved, or ``_Undecided`` naming what is unknown."""
        if isinstance(value, Mapping):
            return {k: self.concrete(v, what) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.concrete(v, what) for v in value]
        if isinstance(value, Pseudo):
            known = {"AWS::AccountId": self.account, "AWS::Region": self.region, "AWS::Partition": "aws"}
            got = known.get(value.name)
            if got is None:
                raise _Undecided(f"{what}: {value.name} is not known from the plan or the snapshot")
            return got
        if isinstance(value, Concat):
            return "".join(str(self.concrete(p, what)) for p in value.parts)
        if isinstance(value, Ref):
            target = self.by_address(value.address)
            attr = {"arn": "Arn", "key_id": "KeyId", "id": "KeyId", "Arn": "Arn", "Ref": "KeyId"}.get(value.attribute)
            if target is not None and attr and isinstance(target.values.get(attr), str):
                return target.values[attr]
            key = self.planned_key(target) if target is not None and target.kind == "kms_key" else None
            if key is not None:
                return key.arn
            raise _Undecided(f"{what}: {value.address}.{value.attribute} is known only after apply")
        if isinstance(value, Unknown):
            raise _Undecided(f"{what}: {value.why}")
        return value

    def existing_key(self, ref: str) -> Key | None:
        if ref.startswith("arn:"):
            return self.world.key_by_arn(ref)
        hits = [k for a in self.world.accounts.values() for r in a.regions.values() if (k := r.kms.resolve(ref))]
        return hits[0] if len(hits) == 1 else None

    def planned_key(self, res: PlannedResource) -> Key | None:
        """The snapshot's key a planned ``kms_key`` is: by its id or ARN (in state), else by an alias the plan
        points at it that the snapshot holds (a stack that adopts the key under the same alias)."""
        for field in ("Arn", "KeyId"):
            value = res.values.get(field)
            if isinstance(value, str) and (key := self.existing_key(value)) is not None:
                return key
        for alias in self.plan.resources:
            target = alias.values.get("TargetKeyId")
            if alias.kind == "kms_alias" and isinstance(target, Ref) and target.address == res.address:
                name = alias.values.get("AliasName")
                if isinstance(name, str) and (key := self.existing_key(name)) is not None:
                    return key
        return None

    def key_policy(self, res: PlannedResource, key: Key, field: str) -> None:
        if field not in res.values or key.manager is KeyManager.AWS:
            return
        try:
            raw = self.concrete(res.values[field], f"{res.address}: the new key policy of {key.arn}")
        except _Undecided as exc:
            self.unevaluated.append(exc.why)
            return
        doc = Document.parse(raw, PolicyType.KEY, key.arn, source=res.source.file)
        self.changes.append(KeyPolicyChange(key.arn, doc, self.origin(res)))

    def read(self, res: PlannedResource) -> None:
        if res.action in ("no-op", "read"):
            return
        handler = getattr(self, f"_{res.kind}", None)
        if (handler is None or not handler(res)) and res.action == "create":
            self.created.append(res.address)

    def _kms_key(self, res: PlannedResource) -> bool:
        key = self.planned_key(res)
        if key is None or res.action == "delete":
            return False
        self.key_policy(res, key, "KeyPolicy")
        enabled = res.values.get("Enabled")
        if isinstance(enabled, Ref | Pseudo | Unknown | Concat):
            self.unevaluated.append(f"{res.address}: whether {key.arn} stays enabled is known only after apply")
        elif enabled is False and key.manager is not KeyManager.AWS:
            self.changes.append(DisableKey(key.arn, self.origin(res)))
        return True

    def _kms_key_policy(self, res: PlannedResource) -> bool:
        try:
            ref = self.concrete(res.values.get("KeyId"), f"{res.address}: the key whose policy is put")
        except _Undecided:
            return False  # a key the plan creates: check's part
        key = self.existing_key(ref) if isinstance(ref, str) else None
        if key is None or res.action == "delete":
            return False
        self.key_policy(res, key, "Policy")
        return True

    def _kms_grant(self, res: PlannedResource) -> bool:
        if res.action != "delete":
            return False
        key_ref, grant_id = res.values.get("KeyId"), res.values.get("GrantId")
        key = self.existing_key(key_ref) if isinstance(key_ref, str) else None
        if key is None or not isinstance(grant_id, str) or key.manager is KeyManager.AWS:
            return False
        if key.grants_known and grant_id not in {g.grant_id for g in key.grants}:
            return False  # already gone from the snapshot: nothing changes
        self.changes.append(RevokeGrant(key.arn, grant_id, self.origin(res)))
        return True

    def _ebs_default_kms_key(self, res: PlannedResource) -> bool:
        account, region = self.account, self.region
        what = f"{res.address}: the default EBS key of account {account} in {region}"
        if account is None or region is None or account not in self.world.accounts:
            self.unevaluated.append(f"{what}: the plan does not say which account and region of the snapshot")
            return True
        try:
            ref = self.concrete(res.values.get("KmsKeyId"), what)
            key = resolve_key(self.world, account, region, str(ref))
        except _Undecided as exc:
            self.unevaluated.append(exc.why)
            return True
        except (Ec2Error, NotInWorld):
            self.unevaluated.append(f"{what}: {res.values.get('KmsKeyId')} is not a key of the snapshot")
            return True
        self.changes.append(DefaultKeyChange(account, region, key.arn, self.origin(res)))
        return True

    def _iam_policy(self, res: PlannedResource) -> bool:
        acct = self.world.accounts.get(self.account or "")
        name, path = res.values.get("PolicyName"), res.values.get("Path") or "/"
        if acct is None or not isinstance(name, str) or res.action == "delete":
            return False
        arn = f"arn:aws:iam::{self.account}:policy{path}{name}"
        mp = acct.iam.policies.get(arn)
        if mp is None or mp.aws_managed:
            return False
        try:
            raw = self.concrete(res.values.get("PolicyDocument"), f"{res.address}: the new version of {arn}")
        except _Undecided as exc:
            self.unevaluated.append(exc.why)
            return True
        doc = Document.parse(raw, PolicyType.IDENTITY, mp.name, source=res.source.file)
        self.changes.append(IdentityPolicyChange(acct.account_id, doc, self.origin(res), policy_arn=arn))
        return True

    def _iam_inline_policy(self, res: PlannedResource) -> bool:
        acct = self.world.accounts.get(self.account or "")
        if acct is None or res.action == "delete":
            return False
        role, user = res.values.get("RoleName"), res.values.get("UserName")
        holders = [r.arn for r in acct.iam.roles.values() if r.name == role and not r.service_linked]
        holders += [u.arn for u in acct.iam.users.values() if u.name == user]
        name = res.values.get("PolicyName")
        if len(holders) != 1 or not isinstance(name, str):
            return False
        holder = holders[0]
        try:
            raw = self.concrete(res.values.get("PolicyDocument"), f"{res.address}: inline policy {name} of {holder}")
        except _Undecided as exc:
            self.unevaluated.append(exc.why)
            return True
        doc = Document.parse(raw, PolicyType.IDENTITY, name, source=res.source.file)
        self.changes.append(
            IdentityPolicyChange(acct.account_id, doc, self.origin(res), holder_arn=holder, policy_name=name)
        )
        return True


def plan_changes(world: World, plans: list[Plan]) -> PlanChanges:
    """The changes ``plans`` make to what ``world`` holds (a bad document: ``KmslaunchError``)."""
    changes: list[Change] = []
    unevaluated: list[str] = []
    created: list[str] = []
    unmodelled: list[tuple[str, str]] = []
    for plan in plans:
        reader = _Reader(world, plan, changes, unevaluated, created)
        for res in plan.resources:
            reader.read(res)
        org = [u for u in plan.unmodelled if u[0] in _ORG_TYPES]
        unmodelled += org
        # What an SCP or RCP does to a launch is not known without simulating it: an unknown, not a pass.
        unevaluated += [
            f"{address}: {type_} is not modelled for plans, so what it changes is unknown" for type_, address in org
        ]
    return PlanChanges(tuple(changes), tuple(unevaluated), tuple(created), tuple(unmodelled))
