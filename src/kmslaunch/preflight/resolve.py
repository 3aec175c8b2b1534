"""A plan's resources laid over a world: the snapshot when one is given, else an account of which only the plan
is known. References between resources are resolved to the identities the plan gives them; what stays
unresolved becomes an ``Unknown`` fact (``world.unknowns``) on the resource that holds it, so that no launch
depending on it is ever answered "runs".

Without a snapshot, what the plan does not define is what an account has before anything is created: EBS
encryption by default off and ``alias/aws/ebs`` as the default key (both unknown, so said), the AMIs the plan
names with unencrypted root snapshots (unknown), keys named by ARN with unknown policies, the organization's
SCPs and the account's other IAM unknown (https://docs.aws.amazon.com/ebs/latest/userguide/encryption-by-default.html).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kmslaunch.policy.errors import InputError, KmslaunchError
from kmslaunch.policy.grants import Grant
from kmslaunch.policy.model import PolicyType
from kmslaunch.snapshot.load import Snapshot
from kmslaunch.world.autoscaling import LaunchConfiguration
from kmslaunch.world.builder import add_image, add_service_linked_role
from kmslaunch.world.clock import Clock, Ids, iso
from kmslaunch.world.documents import Document
from kmslaunch.world.ec2 import EbsSpec, LaunchTemplate
from kmslaunch.world.fork import fork
from kmslaunch.world.iam import ManagedPolicy, Role, User
from kmslaunch.world.kms import Key, KeyState, default_key_policy, key_document
from kmslaunch.world.organizations import Organization
from kmslaunch.world.unknowns import Could
from kmslaunch.world.unknowns import Unknown as Fact
from kmslaunch.world.world import World

from .cfn_types import ATTRIBUTES
from .identities import identity, placeholder_name, short_id, strip
from .launches import Launch, build_launches
from .model import Concat, Plan, PlannedResource, Pseudo, Ref, Unknown

PLACEHOLDER_ACCOUNT = "000000000000"
PLACEHOLDER_REGION = "us-east-1"
RESOLVE_HINT = (
    "give --snapshot a snapshot of the target account (kmslaunch collect), or check the plan again once it is known"
)
ROOT_DEVICE = "/dev/xvda"


@dataclass
class Resolved:
    """The world with the plan applied, and what the plan leaves unknown by the address that holds it."""

    world: World
    account: str
    region: str
    plan: Plan
    # address -> the identity the plan gives it (attribute -> value): arn, id, name...
    identities: dict[str, dict[str, str]] = field(default_factory=dict)
    unknowns: dict[str, list[Fact]] = field(default_factory=dict)
    # Facts of the whole plan (its account, its region), which every launch depends on.
    general: list[Fact] = field(default_factory=list)
    # Key ARN -> the addresses that define or change the key (aws_kms_key, aws_kms_key_policy, aliases, grants).
    key_addresses: dict[str, list[str]] = field(default_factory=dict)
    # Address of a launch template / launch configuration / ASG / node group -> its id or name in the world.
    by_address: dict[str, PlannedResource] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    launches: list[Launch] = field(default_factory=list)

    def fact(self, address: str, fact: Fact) -> None:
        facts = self.unknowns.setdefault(address, [])
        if fact not in facts:
            facts.append(fact)

    def key_address(self, arn: str) -> str | None:
        got = self.key_addresses.get(arn)
        return got[0] if got else None


def resolve_plan(plan: Plan, snapshot: Snapshot | None = None, caller: str | None = None) -> Resolved:
    """Apply ``plan`` to a copy of the snapshot's world (or to an account known only from the plan), and list
    the launch paths it creates; ``caller`` is the identity ``terraform apply`` runs as (the launches it makes
    itself: instances, instant fleets, volumes)."""
    if snapshot is not None:
        world = fork(snapshot.world)
    else:
        world = World(clock=Clock(), ids=Ids(seed=hashlib.sha256(plan.file.encode()).hexdigest()[:8]))
        world.partial = True
        world.organization = Organization(known=False)
    account, general = _account(plan, world, snapshot)
    region = plan.region or _only_region(world, account) or PLACEHOLDER_REGION
    out = Resolved(world, account, region, plan, general=general)
    if not (plan.region or _only_region(world, account)):
        out.general.append(
            Fact(
                f"the region the plan is applied in (kmslaunch assumed {region})",
                Could.EITHER,
                "set the aws provider's region in the configuration",
                "plan",
            )
        )
    acct = world.account(account)
    r = acct.region(region)
    if snapshot is None:
        acct.iam.known = False
        r.ec2.defaults.known = False
        r.ec2.defaults.by_default_known = False
    applier = Applier(out)
    applier.apply()
    out.launches = build_launches(applier, caller)
    return out


def _account(plan: Plan, world: World, snapshot: Snapshot | None) -> tuple[str, list[Fact]]:
    if plan.account:
        return plan.account, []
    if snapshot is not None and len(world.accounts) == 1:
        return next(iter(world.accounts)), []
    if snapshot is not None and world.accounts:
        raise InputError(
            plan.file,
            "",
            "the snapshot holds several accounts and the plan does not say which it is applied in "
            f"({', '.join(sorted(world.accounts))}): add data.aws_caller_identity to the configuration",
        )
    return PLACEHOLDER_ACCOUNT, [
        Fact(
            f"the account the plan is applied in (kmslaunch assumed {PLACEHOLDER_ACCOUNT})",
            Could.EITHER,
            'add data "aws_caller_identity" to the configuration, or give --snapshot',
            "plan",
        )
    ]


def _only_region(world: World, account: str) -> str | None:
    acct = world.accounts.get(account)
    if acct is None or len(acct.regions) != 1:
        return None
    return next(iter(acct.regions))


class Applier:
    def __init__(self, out: Resolved) -> None:
        self.out = out
        self.world = out.world
        self.account = out.account
        self.region = out.region
        self.partition = out.world.partition
        self.unresolved = 0
        self.plan = out.plan
        # config address (without instance keys) -> addresses
        self.by_config: dict[str, list[str]] = {}

    # -- identities -------------------------------------------------------------------------------------------
    def apply(self) -> None:
        for res in self.plan.resources:
            self.out.by_address[res.address] = res
            self.by_config.setdefault(strip(res.address), []).append(res.address)
            self.out.identities[res.address] = identity(res, self.partition, self.account, self.region)
        order = [
            "iam_policy",
            "iam_role",
            "iam_user",
            "iam_service_linked_role",
            "iam_instance_profile",
            "iam_inline_policy",
            "iam_policy_attachment",
            "kms_key",
            "kms_key_policy",
            "kms_alias",
            "kms_grant",
            "ebs_encryption_by_default",
            "ebs_default_kms_key",
            "launch_template",
            "launch_configuration",
        ]
        for kind in order:
            for res in self.plan.resources:
                if res.kind == kind and res.action != "read":
                    try:
                        getattr(self, f"_{kind}")(res)
                    except KmslaunchError as exc:
                        raise InputError(res.source.file, res.address, str(exc)) from None

    # -- values -----------------------------------------------------------------------------------------------
    def concrete(self, value: Any, holder: str) -> Any:
        """``value`` with every symbolic leaf resolved; an unresolved one becomes a placeholder that matches
        nothing, and a fact on ``holder``."""
        if isinstance(value, Mapping):
            return {k: self.concrete(v, holder) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.concrete(v, holder) for v in value]
        if isinstance(value, Ref | Pseudo | Unknown | Concat):
            got = self.symbol(value, holder)
            return got if got is not None else self._placeholder(value, holder)
        return value

    def symbol(self, value: Ref | Pseudo | Unknown | Concat, holder: str) -> str | None:
        """The string a symbolic value stands for, or None (no fact recorded: the caller decides)."""
        if isinstance(value, Pseudo):
            return {
                "AWS::AccountId": self.account,
                "AWS::Region": self.region,
                "AWS::Partition": self.partition,
                "AWS::URLSuffix": "amazonaws.com",
            }.get(value.name)
        if isinstance(value, Ref):
            for address in self._addresses(value.address):
                got = self.out.identities.get(address, {}).get(self._attribute(address, value.attribute))
                if got:
                    return got
            return None
        if isinstance(value, Concat):
            parts = [p if isinstance(p, str) else self.symbol(p, holder) for p in value.parts]
            return None if any(p is None for p in parts) else "".join(str(p) for p in parts)
        return None

    def _attribute(self, address: str, attribute: str) -> str:
        """The identity's name for a referenced attribute: a CloudFormation reference (``Ref``, ``Fn::GetAtt X.Arn``)
        names it in CloudFormation's terms, which ``cfn_types.ATTRIBUTES`` maps to the Terraform attribute names
        identities are kept under."""
        res = self.out.by_address.get(address)
        if res is None or self.plan.format != "cloudformation":
            return attribute
        return ATTRIBUTES.get(res.native_type, {}).get(attribute, attribute)

    def _addresses(self, address: str) -> list[str]:
        if address in self.out.identities:
            return [address]
        # A reference without the instance key (count, for_each) names one instance only when there is one.
        same = self.by_config.get(strip(address), [])
        return same if len(same) == 1 else []

    def _placeholder(self, value: Any, holder: str) -> str:
        self.unresolved += 1
        self.out.fact(holder, Fact(describe(value, holder), Could.EITHER, RESOLVE_HINT, "plan"))
        return f"arn:{self.partition}:iam::{PLACEHOLDER_ACCOUNT}:role/kmslaunch-unresolved/{self.unresolved}"

    def text(self, res: PlannedResource, key: str) -> str | None:
        value = res.values.get(key)
        if value is None:
            return None
        got = self.concrete(value, res.address)
        return got if isinstance(got, str) else str(got)

    def document(self, res: PlannedResource, key: str, what: str) -> dict[str, Any] | None:
        """A policy document of ``res``, resolved; None when the document itself is known only after apply."""
        value = res.values.get(key)
        if isinstance(value, Ref | Pseudo | Unknown | Concat):
            self.out.fact(
                res.address,
                Fact(f"{what} of {res.address}: {describe(value, res.address)}", Could.EITHER, RESOLVE_HINT, "plan"),
            )
            return None
        if value is None:
            return None
        got = self.concrete(value, res.address)
        if not isinstance(got, dict):
            raise InputError(res.source.file, f"{res.address}.{key}", "expected a policy document (a JSON object)")
        return got

    # -- IAM --------------------------------------------------------------------------------------------------
    def _iam_policy(self, res: PlannedResource) -> None:
        ident = self.out.identities[res.address]
        iam = self.world.account(self.account).iam
        if res.action == "delete":
            iam.policies.pop(ident["arn"], None)
            return
        doc = self.document(res, "PolicyDocument", "the policy document")
        raw = doc or {"Version": "2012-10-17", "Statement": []}
        iam.policies[ident["arn"]] = ManagedPolicy(
            ident["arn"], ident["name"], Document.parse(raw, PolicyType.IDENTITY, ident["name"]), ident.get("Path", "/")
        )

    def _iam_role(self, res: PlannedResource) -> None:
        ident = self.out.identities[res.address]
        iam = self.world.account(self.account).iam
        if res.action == "delete":
            iam.roles.pop(ident["name"], None)
            return
        trust = self.document(res, "AssumeRolePolicyDocument", "the trust policy")
        inline = {}
        policies: Any = res.values.get("Policies") or []
        for i, p in enumerate(policies):
            name = str(self.concrete(p.get("PolicyName"), res.address) or f"inline-{i}")
            doc = p.get("PolicyDocument")
            if isinstance(doc, Ref | Pseudo | Unknown | Concat) or doc is None:
                self.out.fact(
                    res.address, Fact(f"inline policy {name} of {res.address}", Could.EITHER, RESOLVE_HINT, "plan")
                )
                continue
            inline[name] = Document.parse(self.concrete(doc, res.address), PolicyType.IDENTITY, name)
        old = iam.roles.get(ident["name"])
        role = Role(
            arn=ident["arn"],
            name=ident["name"],
            role_id=old.role_id if old else self.world.ids.unique_id("AROA"),
            trust=Document.parse(trust, PolicyType.TRUST, f"{ident['name']} trust") if trust else None,
            path=self.text(res, "Path") or "/",
            inline=inline or (dict(old.inline) if old and "Policies" not in res.values else {}),
            attached=[str(a) for a in self.concrete(list(res.values.get("ManagedPolicyArns") or []), res.address)]  # type: ignore[call-overload]
            or (list(old.attached) if old else []),
            boundary_arn=self.text(res, "PermissionsBoundary"),
            create_date=old.create_date if old else iso(self.world.clock.now()),
        )
        iam.roles[ident["name"]] = role
        ident["unique_id"] = role.role_id
        self._check_managed(res, role.attached + ([role.boundary_arn] if role.boundary_arn else []))

    def _iam_user(self, res: PlannedResource) -> None:
        ident = self.out.identities[res.address]
        iam = self.world.account(self.account).iam
        if res.action == "delete":
            iam.users.pop(ident["name"], None)
            return
        old = iam.users.get(ident["name"])
        iam.users[ident["name"]] = User(
            arn=ident["arn"],
            name=ident["name"],
            user_id=old.user_id if old else self.world.ids.unique_id("AIDA"),
            inline=dict(old.inline) if old else {},
            attached=list(old.attached) if old else [],
            boundary_arn=self.text(res, "PermissionsBoundary"),
            create_date=old.create_date if old else iso(self.world.clock.now()),
        )

    def _iam_service_linked_role(self, res: PlannedResource) -> None:
        ident = self.out.identities[res.address]
        iam = self.world.account(self.account).iam
        if res.action == "delete":
            iam.roles.pop(ident["name"], None)
            return
        if ident["name"] not in iam.roles:
            service = self.text(res, "AWSServiceName") or ""
            add_service_linked_role(self.world, self.account, service, ident["name"])

    def _iam_instance_profile(self, res: PlannedResource) -> None:
        # The world keeps no instance profiles: a launch names the profile and the instance identity is the
        # role's; what the resolver needs is the profile's role, for messages.
        roles = self.concrete(list(res.values.get("Roles") or []), res.address)  # type: ignore[call-overload]
        self.out.identities[res.address]["role"] = str(roles[0]) if roles else ""

    def _principal(self, res: PlannedResource) -> tuple[Role | User | None, str]:
        iam = self.world.account(self.account).iam
        if res.values.get("RoleName") is not None:
            name = self.text(res, "RoleName") or ""
            return iam.roles.get(name), f"role {name}"
        name = self.text(res, "UserName") or ""
        return iam.users.get(name), f"user {name}"

    def _iam_inline_policy(self, res: PlannedResource) -> None:
        who, what = self._principal(res)
        name = self.text(res, "PolicyName") or placeholder_name(res.address)
        if who is None:
            self.out.fact(
                res.address,
                Fact(
                    f"the {what} that {res.address} is put on (not in the plan or the snapshot)",
                    Could.EITHER,
                    RESOLVE_HINT,
                    "plan",
                ),
            )
            return
        if res.action == "delete":
            who.inline.pop(name, None)
            return
        doc = self.document(res, "PolicyDocument", "the policy document")
        if doc is not None:
            who.inline[name] = Document.parse(doc, PolicyType.IDENTITY, name)

    def _iam_policy_attachment(self, res: PlannedResource) -> None:
        who, what = self._principal(res)
        arn = self.text(res, "PolicyArn") or ""
        if who is None:
            self.out.fact(
                res.address,
                Fact(
                    f"the {what} that {res.address} attaches to (not in the plan or the snapshot)",
                    Could.EITHER,
                    RESOLVE_HINT,
                    "plan",
                ),
            )
            return
        if res.action == "delete":
            if arn in who.attached:
                who.attached.remove(arn)
            return
        if arn not in who.attached:
            who.attached.append(arn)
        self._check_managed(res, [arn])

    def _check_managed(self, res: PlannedResource, arns: list[str]) -> None:
        iam = self.world.account(self.account).iam
        for arn in arns:
            if arn and arn not in iam.policies:
                self.out.fact(
                    res.address,
                    Fact(
                        f"managed policy {arn} (neither in the plan nor in the snapshot)",
                        Could.EITHER,
                        f"aws iam get-policy-version --policy-arn {arn} --version-id v1, or give --snapshot",
                        "identity-policy",
                    ),
                )

    # -- KMS --------------------------------------------------------------------------------------------------
    def _kms(self) -> Any:
        return self.world.account(self.account).region(self.region).kms

    def _kms_key(self, res: PlannedResource) -> None:
        ident = self.out.identities[res.address]
        kms = self._kms()
        self.out.key_addresses.setdefault(ident["arn"], []).append(res.address)
        if res.action == "delete":
            # A key Terraform destroys is scheduled for deletion: PendingDeletion, refusing every use
            # (https://docs.aws.amazon.com/kms/latest/developerguide/deleting-keys.html).
            if ident["key_id"] in kms.keys:
                kms.keys[ident["key_id"]].state = KeyState.PENDING_DELETION
            return
        doc = self.document(res, "KeyPolicy", "the key policy")
        known = not isinstance(res.values.get("KeyPolicy"), Ref | Pseudo | Unknown | Concat)
        old = kms.keys.get(ident["key_id"])
        raw = doc or default_key_policy(self.account, self.partition)
        enabled = res.values.get("Enabled", True)
        kms.keys[ident["key_id"]] = Key(
            key_id=ident["key_id"],
            arn=ident["arn"],
            account=self.account,
            region=self.region,
            policy=key_document(raw, ident["arn"]),
            state=KeyState.ENABLED if enabled is not False else KeyState.DISABLED,
            description=self.text(res, "Description") or "",
            creation_date=old.creation_date if old else iso(self.world.clock.now()),
            key_spec=self.text(res, "KeySpec") or "SYMMETRIC_DEFAULT",
            key_usage=self.text(res, "KeyUsage") or "ENCRYPT_DECRYPT",
            multi_region=bool(res.values.get("MultiRegion")),
            grants=list(old.grants) if old else [],
            policy_known=known,
        )

    def _key(self, res: PlannedResource, field_: str) -> Key | None:
        """The key ``res`` names (a key id, key ARN or alias), a placeholder with an unknown policy when it is
        neither in the plan nor in the snapshot."""
        value = res.values.get(field_)
        ref = self.concrete(value, res.address)
        if not isinstance(ref, str) or not ref:
            return None
        return self.key(ref, res.address)

    def key(self, ref: str, holder: str) -> Key | None:
        kms = self._kms()
        key = kms.resolve(ref) if not ref.startswith("arn:") else self.world.key_by_arn(ref)
        if key is not None or "kmslaunch-unresolved" in ref:
            return key
        if ref.startswith("arn:") and ref.split(":")[4] != self.account:
            return None  # another account's key: the launch path says so
        key_id = ref.rsplit("/", 1)[-1] if "key/" in ref or not ref.startswith("arn:") else short_id(ref, 32)
        if ref.startswith("alias/") or ":alias/" in ref:
            return None
        arn = ref if ref.startswith("arn:") else f"arn:{self.partition}:kms:{self.region}:{self.account}:key/{key_id}"
        key = Key(key_id, arn, self.account, self.region, key_document(default_key_policy(self.account), arn))
        key.policy_known = False
        key.grants_known = False
        kms.keys[key_id] = key
        return key

    def _kms_key_policy(self, res: PlannedResource) -> None:
        key = self._key(res, "KeyId")
        if key is None:
            return
        self.out.key_addresses.setdefault(key.arn, []).append(res.address)
        if res.action == "delete":
            return  # deleting the resource leaves the key's policy as it was
        doc = self.document(res, "Policy", "the key policy")
        if doc is None:
            key.policy_known = False
            return
        key.policy = key_document(doc, key.arn)
        key.policy_known = True

    def _kms_alias(self, res: PlannedResource) -> None:
        ident = self.out.identities[res.address]
        kms = self._kms()
        if res.action == "delete":
            kms.aliases.pop(ident["name"], None)
            return
        key = self._key(res, "TargetKeyId")
        if key is None:
            self.out.fact(
                res.address, Fact(f"the key alias {ident['name']} points to", Could.EITHER, RESOLVE_HINT, "plan")
            )
            return
        kms.aliases[ident["name"]] = key.key_id
        ident["target_key_arn"] = key.arn
        self.out.key_addresses.setdefault(key.arn, []).append(res.address)

    def _kms_grant(self, res: PlannedResource) -> None:
        key = self._key(res, "KeyId")
        if key is None or res.action == "delete":
            return
        self.out.key_addresses.setdefault(key.arn, []).append(res.address)
        constraints = self.concrete(res.values.get("Constraints") or {}, res.address)
        ops = self.concrete(list(res.values.get("Operations") or []), res.address)  # type: ignore[call-overload]
        key.grants.append(
            Grant(
                grant_id=short_id(res.address, 64),
                grantee=self.text(res, "GranteePrincipal") or "",
                operations=frozenset(f"kms:{o}" if not str(o).startswith("kms:") else str(o) for o in ops),
                key_arn=key.arn,
                retiring=self.text(res, "RetiringPrincipal"),
                name=self.text(res, "Name"),
                issuing_account=self.account,
                context_subset=constraints.get("EncryptionContextSubset"),
                context_equals=constraints.get("EncryptionContextEquals"),
            )
        )

    # -- EC2 / EBS / Auto Scaling -----------------------------------------------------------------------------
    def _ebs_encryption_by_default(self, res: PlannedResource) -> None:
        d = self.world.account(self.account).region(self.region).ec2.defaults
        d.encryption_by_default = res.action != "delete" and bool(res.values.get("EbsEncryptionByDefault"))
        d.by_default_known = True

    def _ebs_default_kms_key(self, res: PlannedResource) -> None:
        d = self.world.account(self.account).region(self.region).ec2.defaults
        if res.action == "delete":
            d.default_kms_key_id = "alias/aws/ebs"  # the resource's destroy resets the default key
        else:
            key = self._key(res, "KmsKeyId")
            d.default_kms_key_id = key.arn if key else (self.text(res, "KmsKeyId") or "alias/aws/ebs")
            if key is not None:
                self.out.key_addresses.setdefault(key.arn, []).append(res.address)
        d.known = d.by_default_known

    def devices(self, raw: Any, root: Any, image_id: str, holder: str) -> list[dict[str, Any]]:
        """Block device mappings resolved, the root volume's settings under the AMI's root device name, and
        every key they name made to exist (a placeholder with an unknown policy if need be)."""
        mappings = list(self.concrete(raw or [], holder))
        if root:
            image = self.world.find_image(self.region, image_id)
            name = image.root_device_name if image is not None else ROOT_DEVICE
            mappings.insert(0, {"DeviceName": name, "Ebs": self.concrete(root, holder)})
        for m in mappings:
            ebs = m.get("Ebs") or {}
            if isinstance(ebs.get("KmsKeyId"), str):
                self.key(ebs["KmsKeyId"], holder)
        return mappings

    def image(self, value: Any, holder: str) -> str:
        """The AMI id, added to the world (unencrypted root snapshot) when the snapshot does not hold it
        (assumption preflight-assumed-ami)."""
        image_id = self.symbol(value, holder) if isinstance(value, Ref | Pseudo | Unknown | Concat) else value
        if not isinstance(image_id, str) or not image_id:
            image_id = "ami-" + short_id(holder, 17)
            self.out.fact(
                holder,
                Fact(
                    f"the AMI of {holder} ({describe(value, holder) if value is not None else 'none given'})",
                    Could.DENY,
                    RESOLVE_HINT,
                    "image",
                ),
            )
        if self.world.find_image(self.region, image_id) is None:
            add_image(
                self.world,
                self.account,
                self.region,
                name=f"kmslaunch-assumed-{image_id}",
                image_id=image_id,
                snapshot_id="snap-" + short_id(image_id, 17),
            )
            self.out.fact(
                holder,
                Fact(
                    f"AMI {image_id} (not in the snapshot: kmslaunch assumed one unencrypted root snapshot; an "
                    "encrypted one needs kms:ReEncryptFrom on its key)",
                    Could.DENY,
                    f"aws ec2 describe-images --image-ids {image_id} --region {self.region}, or give --snapshot",
                    "image",
                ),
            )
        return image_id

    def _launch_template(self, res: PlannedResource) -> None:
        ident = self.out.identities[res.address]
        ec2 = self.world.account(self.account).region(self.region).ec2
        old = ec2.launch_templates.get(ident["id"]) or ec2.template(None, ident["name"])
        if res.action == "delete":
            if old is not None:
                ec2.launch_templates.pop(old.template_id, None)
            return
        data = dict(res.values.get("LaunchTemplateData") or {})  # type: ignore[call-overload]
        out: dict[str, Any] = {}
        if "ImageId" in data:
            out["ImageId"] = self.image(data["ImageId"], res.address)
        if "InstanceType" in data:
            out["InstanceType"] = self.concrete(data["InstanceType"], res.address)
        if data.get("IamInstanceProfile"):
            out["IamInstanceProfile"] = self.concrete(data["IamInstanceProfile"], res.address)
        if data.get("BlockDeviceMappings"):
            out["BlockDeviceMappings"] = self.devices(data["BlockDeviceMappings"], None, "", res.address)
        if old is not None:
            # An update adds a version; it becomes the default only with update_default_version
            # (https://registry.terraform.io/providers/hashicorp/aws/latest/docs/resources/launch_template).
            version = old.latest_version + 1
            old.versions[version] = out
            if res.values.get("UpdateDefaultVersion"):
                old.default_version = version
            ident.update(id=old.template_id, latest_version=str(version), default_version=str(old.default_version))
            return
        ec2.launch_templates[ident["id"]] = LaunchTemplate(
            ident["id"], ident["name"], {1: out}, 1, iso(self.world.clock.now())
        )

    def _launch_configuration(self, res: PlannedResource) -> None:
        ident = self.out.identities[res.address]
        asg = self.world.account(self.account).region(self.region).autoscaling
        if res.action == "delete":
            asg.launch_configurations.pop(ident["name"], None)
            return
        image_id = self.image(res.values.get("ImageId"), res.address)
        devices = self.devices(
            res.values.get("BlockDeviceMappings"), res.values.get("RootBlockDevice"), image_id, res.address
        )
        specs = tuple(
            EbsSpec(
                m["DeviceName"],
                m["Ebs"].get("SnapshotId"),
                m["Ebs"].get("VolumeSize"),
                m["Ebs"].get("VolumeType"),
                m["Ebs"].get("Encrypted"),
                m["Ebs"].get("KmsKeyId"),
            )
            for m in devices
            if m.get("Ebs") is not None
        )
        asg.launch_configurations[ident["name"]] = LaunchConfiguration(
            ident["name"],
            ident["arn"],
            image_id,
            str(self.concrete(res.values.get("InstanceType") or "t3.micro", res.address)),
            specs,
            iso(self.world.clock.now()),
            spot_price=self.text(res, "SpotPrice"),
        )


def describe(value: Any, holder: str) -> str:
    """What a symbolic value is, in words."""
    if isinstance(value, Ref):
        return f"{value.address}.{value.attribute}, which is neither in the plan nor known before apply"
    if isinstance(value, Pseudo):
        return f"the {value.name} of the deployment"
    if isinstance(value, Unknown):
        return value.why
    if isinstance(value, Concat):
        return "a string built from values known only after apply"
    return f"a value of {holder}"
