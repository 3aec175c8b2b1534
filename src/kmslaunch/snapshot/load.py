"""A snapshot directory of AWS CLI outputs, read into a ``World``.

Each file is exactly what one ``aws … --output json`` command prints (pages merged); the layout is in
``kmslaunch.snapshot.layout``. A missing file is not an error: what it would have told is marked unknown (the
world's ``known`` flags, and a sentence in ``Snapshot.unknown``). A file that is there and cannot be read is an
error; the loader reads every file before it raises, and reports every problem with its file and JSON path.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kmslaunch.launch.params import parse_block_devices
from kmslaunch.policy.errors import InputError, PolicyValidationError
from kmslaunch.policy.grants import Grant, parse_grant
from kmslaunch.policy.model import PolicyType
from kmslaunch.snapshot import layout as L
from kmslaunch.snapshot.errors import Problem, SnapshotError, issue_problems
from kmslaunch.snapshot.jsonio import Node, read_json
from kmslaunch.world.autoscaling import AutoScalingGroup, LaunchConfiguration, ScalingActivity, default_slr_arn
from kmslaunch.world.clock import Clock, Ids
from kmslaunch.world.documents import Document
from kmslaunch.world.ec2 import Attachment, EbsSpec, Image, Instance, LaunchTemplate, Volume
from kmslaunch.world.ec2 import Snapshot as EbsSnapshot
from kmslaunch.world.iam import Group, ManagedPolicy, Role, User
from kmslaunch.world.instances import InstanceState
from kmslaunch.world.kms import Key, KeyManager, KeyState
from kmslaunch.world.organizations import RCP, SCP, OrgPolicy
from kmslaunch.world.world import Account, Region, World

# Launch templates record themselves on the instances they launch with these AWS tags; describe-instances has no
# other trace of the template.
LT_ID_TAG = "aws:ec2launchtemplate:id"
LT_VERSION_TAG = "aws:ec2launchtemplate:version"

_STATES = tuple(s.value for s in KeyState)
_MANAGERS = tuple(m.value for m in KeyManager)
_INSTANCE_STATES = tuple(s.label for s in InstanceState)
_ORG_POLICY_TYPES = {SCP: PolicyType.SCP, RCP: PolicyType.RCP}
# Stands in for a key policy that was not collected; ``Key.policy_known`` is False, so nothing evaluates it.
_UNKNOWN_POLICY = {"Version": "2012-10-17", "Statement": []}


@dataclass(frozen=True)
class Snapshot:
    """A loaded snapshot: the world, ``snapshot.json``'s contents, and what was missing that matters.

    ``raw`` keeps what the world model has no field for (an Auto Scaling group's MixedInstancesPolicy, the
    policy types enabled at the organization's root), keyed by what it belongs to.
    """

    world: World
    meta: dict[str, Any]
    unknown: tuple[str, ...]
    path: Path
    raw: dict[str, Any] = field(default_factory=dict)


def load_snapshot(path: Path, *, clock: Clock | None = None, ids: Ids | None = None) -> Snapshot:
    """Read the snapshot directory ``path`` into a World; ``SnapshotError`` lists every broken file and element."""
    root = Path(path)
    if not root.is_dir():
        raise SnapshotError([Problem(str(root), "", "not a snapshot directory (it does not exist or is a file)")])
    loader = _Loader(root)
    # Ids made while simulating on this world must not repeat the snapshot's own (a new instance or key with
    # the id of an existing one would replace it): seed the generator from the snapshot's contents.
    world = World(clock=clock or Clock(), ids=ids or Ids(seed=_seed(root)))
    meta = loader.meta(world)
    entries = sorted(root.iterdir())
    accounts = [e for e in entries if e.is_dir() and L.ACCOUNT_RE.match(e.name)]
    if not accounts and not (root / L.ORG_DIR).is_dir() and not (root / L.META).is_file():
        raise SnapshotError([Problem(str(root), "", "not a snapshot: no account directories (12-digit names)")])
    for acct_dir in accounts:
        loader.account(world, acct_dir)
    loader.fill_regions(world)
    loader.place_shared(world)
    loader.organization(world, meta)
    _launched_by(world)
    if loader.problems:
        raise SnapshotError(loader.problems)
    return Snapshot(world, meta, tuple(loader.unknown), root, loader.raw)


class _Loader:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.problems: list[Problem] = []
        self.unknown: list[str] = []
        self.raw: dict[str, Any] = {}
        # Images and snapshots of other accounts found in an account's files: (listing account, region, item).
        self.shared_images: list[tuple[str, str, Image]] = []
        self.shared_snapshots: list[tuple[str, str, EbsSnapshot]] = []

    # -- files ------------------------------------------------------------------------------------------------

    def read(self, rel: str, who: str = "", shown: str = "", missing: str | None = None) -> Node | None:
        """The top-level object of ``rel``; None when the file is missing (noting ``missing`` when given) or
        broken (the problem is recorded)."""
        path = self.root / rel
        if not path.is_file():
            if missing is not None:
                self.unknown.append(f"{who}: {shown or rel} is missing: {missing}")
            return None
        ok, value = read_json(path, str(path), self.problems)
        if not ok:
            return None
        node = Node(value, "", str(path), self.problems)
        return node if node.obj("a JSON object") else None

    def document(self, node: Node, policy_type: PolicyType, name: str) -> Document | None:
        if node.missing:
            node.problem("missing: expected a policy document")
            return None
        try:
            return Document.parse(node.value, policy_type, name, source=node.file)
        except PolicyValidationError as exc:
            self.problems.extend(issue_problems(node.file, node.path, exc.issues))
        except (TypeError, ValueError, AttributeError, KeyError, IndexError, RecursionError) as exc:
            # Whatever JSON a file holds, the user gets a line naming it, never a traceback.
            node.problem(f"cannot be read as a policy document: {type(exc).__name__}: {exc}")
        return None

    def whole_dir(self, base: str, name: str, who: str, what: str) -> bool:
        """Whether a whole service folder is missing; then one sentence says so, instead of one per file."""
        if (self.root / base / name).is_dir():
            return False
        self.unknown.append(f"{who}: {name}/ is missing: {what} are unknown")
        return True

    def block_devices(self, node: Node) -> tuple[EbsSpec, ...]:
        try:
            return parse_block_devices(node.value, node.file, node.path)
        except InputError as exc:
            self.problems.append(Problem(exc.source, exc.path, exc.message))
            return ()

    # -- snapshot.json ----------------------------------------------------------------------------------------

    def meta(self, world: World) -> dict[str, Any]:
        node = self.read(L.META)
        if node is None:
            return {}
        fmt = node["format"].text()
        if fmt is not None and fmt != L.FORMAT:
            node["format"].problem(f"{fmt!r} is not a format this version reads (expected {L.FORMAT!r})")
        partition = node["partition"].text()
        if partition:
            world.partition = partition
        node["collected_at"].time()
        for err in node["errors"].objects("a collection error"):
            code = err["code"].text() or ""
            if code == L.NOT_IN_ORG:
                continue  # a fact, not a gap: the organization is known to be absent
            where = err["file"].text() or err["command"].text() or "?"
            message = err["message"].text() or ""
            self.unknown.append(f"collection failed: {where}: {code}{': ' if code and message else ''}{message}")
        return dict(node.value)

    # -- accounts ---------------------------------------------------------------------------------------------

    def account(self, world: World, acct_dir: Path) -> None:
        account_id = acct_dir.name
        acct = world.account(account_id)
        who = f"account {account_id}"
        node = self.read(f"{account_id}/{L.IAM_DETAILS}", who, L.IAM_DETAILS, "IAM policies are unknown")
        if node is None:
            acct.iam.known = False
        else:
            self.iam(node, acct)
        for region_dir in sorted(acct_dir.iterdir()):
            if region_dir.is_dir() and L.REGION_RE.match(region_dir.name):
                self.region(world, acct, region_dir.name)

    def fill_regions(self, world: World) -> None:
        """A region collected for some accounts and not for another is unknown there, not empty."""
        seen = sorted({r for a in world.accounts.values() for r in a.regions})
        for acct in world.accounts.values():
            for name in seen:
                if name not in acct.regions:
                    region = acct.region(name)
                    region.kms.known = False
                    region.ec2.defaults.known = False
                    region.trail.known = False
                    self.unknown.append(
                        f"account {acct.account_id}: region {name} was not collected: its KMS keys, EC2 resources "
                        "and EBS defaults are unknown"
                    )

    # -- IAM --------------------------------------------------------------------------------------------------

    def iam(self, node: Node, acct: Account) -> None:
        iam = acct.iam
        for u in node["UserDetailList"].objects("a user"):
            name, arn = u["UserName"].text(required=True), u["Arn"].text(required=True)
            inline = self.inline(u["UserPolicyList"])
            attached = self.attached(u["AttachedManagedPolicies"])
            groups = u["GroupList"].texts("a group name")
            boundary = self.boundary(u["PermissionsBoundary"])
            tags = u["Tags"].tags()
            if name is None or arn is None:
                continue
            iam.users[name] = User(
                arn=arn,
                name=name,
                user_id=u["UserId"].text() or "",
                path=u["Path"].text() or "/",
                inline=inline,
                attached=attached,
                groups=groups,
                boundary_arn=boundary,
                tags=tags,
                create_date=u["CreateDate"].time() or "",
            )
        for g in node["GroupDetailList"].objects("a group"):
            name, arn = g["GroupName"].text(required=True), g["Arn"].text(required=True)
            inline = self.inline(g["GroupPolicyList"])
            attached = self.attached(g["AttachedManagedPolicies"])
            if name is None or arn is None:
                continue
            iam.groups[name] = Group(
                arn=arn,
                name=name,
                group_id=g["GroupId"].text() or "",
                path=g["Path"].text() or "/",
                inline=inline,
                attached=attached,
                create_date=g["CreateDate"].time() or "",
            )
        for r in node["RoleDetailList"].objects("a role"):
            name, arn = r["RoleName"].text(required=True), r["Arn"].text(required=True)
            trust_node = r["AssumeRolePolicyDocument"]
            trust = None if trust_node.missing else self.document(trust_node, PolicyType.TRUST, f"{name} trust")
            inline = self.inline(r["RolePolicyList"])
            attached = self.attached(r["AttachedManagedPolicies"])
            boundary = self.boundary(r["PermissionsBoundary"])
            tags = r["Tags"].tags()
            if name is None or arn is None:
                continue
            iam.roles[name] = Role(
                arn=arn,
                name=name,
                role_id=r["RoleId"].text() or "",
                trust=trust,
                path=r["Path"].text() or "/",
                inline=inline,
                attached=attached,
                boundary_arn=boundary,
                tags=tags,
                create_date=r["CreateDate"].time() or "",
            )
        for p in node["Policies"].objects("a managed policy"):
            name, arn = p["PolicyName"].text(required=True), p["Arn"].text(required=True)
            default_id = p["DefaultVersionId"].text()
            versions = p["PolicyVersionList"].objects("a policy version")
            chosen = next((v for v in versions if v["IsDefaultVersion"].boolean() is True), None)
            if chosen is None:
                chosen = next((v for v in versions if default_id and v["VersionId"].value == default_id), None)
            if chosen is None:
                p["PolicyVersionList"].problem("no default version (an element with IsDefaultVersion true)")
                continue
            doc = self.document(chosen["Document"], PolicyType.IDENTITY, name or "policy")
            count = p["AttachmentCount"].integer()
            if name is None or arn is None or doc is None:
                continue
            iam.policies[arn] = ManagedPolicy(
                arn=arn,
                name=name,
                document=doc,
                path=p["Path"].text() or "/",
                policy_id=p["PolicyId"].text() or "",
                default_version_id=default_id or chosen["VersionId"].text() or "v1",
                attachment_count=count or 0,
            )

    def inline(self, node: Node) -> dict[str, Document]:
        out = {}
        for p in node.objects("an inline policy {PolicyName, PolicyDocument}"):
            name = p["PolicyName"].text(required=True)
            doc = self.document(p["PolicyDocument"], PolicyType.IDENTITY, name or "inline policy")
            if name is not None and doc is not None:
                out[name] = doc
        return out

    def attached(self, node: Node) -> list[str]:
        out = []
        for p in node.objects("an attached policy {PolicyName, PolicyArn}"):
            arn = p["PolicyArn"].text(required=True)
            if arn is not None:
                out.append(arn)
        return out

    def boundary(self, node: Node) -> str | None:
        return node["PermissionsBoundaryArn"].text(required=True) if node.obj() else None

    # -- regions ----------------------------------------------------------------------------------------------

    def region(self, world: World, acct: Account, name: str) -> None:
        region = acct.region(name)
        base = f"{acct.account_id}/{name}"
        who = f"account {acct.account_id}, {name}"
        self.kms(world, acct.account_id, region, base, who)
        self.ec2(world, acct.account_id, region, base, who)
        self.autoscaling(world, acct.account_id, region, base, who)
        events = self.read(f"{base}/{L.TRAIL_EVENTS}", who, L.TRAIL_EVENTS, "CloudTrail events are unknown")
        if events is None:
            region.trail.known = False
        else:
            region.trail.events = self.trail(events)

    # -- KMS --------------------------------------------------------------------------------------------------

    def kms(self, world: World, account: str, region: Region, base: str, who: str) -> None:
        kms = region.kms
        keys_dir = self.root / base / L.KMS_KEYS
        key_dirs = sorted(d for d in keys_dir.iterdir() if d.is_dir()) if keys_dir.is_dir() else []
        if not key_dirs and not (self.root / base / L.KMS_ALIASES).is_file():
            kms.known = False
            self.unknown.append(f"{who}: {L.KMS_ALIASES} and {L.KMS_KEYS}/ are missing: KMS keys are unknown")
            return
        for d in key_dirs:
            key = self.key(world, account, region.name, f"{base}/{L.KMS_KEYS}/{d.name}", d.name, who)
            if key is not None:
                kms.keys[key.key_id] = key
        node = self.read(f"{base}/{L.KMS_ALIASES}", who, L.KMS_ALIASES, "key aliases are unknown")
        if node is None:
            return
        for a in node["Aliases"].objects("an alias"):
            alias = a["AliasName"].text(required=True, what="an alias name")
            target = a["TargetKeyId"].text(what="a key id")
            if alias is not None and not alias.startswith("alias/"):
                a["AliasName"].problem(f"{alias!r} is not an alias name (alias/…)")
            elif alias is not None and target:
                # AWS managed aliases (alias/aws/ebs) have no TargetKeyId until the service creates the key.
                kms.aliases[alias] = target

    def key(self, world: World, account: str, region: str, rel: str, key_id: str, who: str) -> Key | None:
        kwho = f"{who}: key {key_id}"
        arn = f"arn:{world.partition}:kms:{region}:{account}:key/{key_id}"
        key = Key(key_id, arn, account, region, Document.parse(_UNKNOWN_POLICY, PolicyType.KEY, arn))
        node = self.read(
            f"{rel}/{L.DESCRIBE_KEY}",
            kwho,
            L.DESCRIBE_KEY,
            "its state and manager are unknown (taken as an enabled customer managed key)",
        )
        if node is not None and node["KeyMetadata"].obj():
            m = node["KeyMetadata"]
            listed = m["KeyId"].text()
            if listed is not None and listed != key_id:
                m["KeyId"].problem(f"{listed!r} is not the key of this directory ({key_id})")
            key.arn = arn = m["Arn"].text() or arn
            key.account = m["AWSAccountId"].text() or account
            state = m["KeyState"].choice(_STATES)
            if state is not None:
                key.state = KeyState(state)
            elif m["KeyState"].missing and m["Enabled"].boolean() is False:
                key.state = KeyState.DISABLED
            manager = m["KeyManager"].choice(_MANAGERS)
            if manager is not None:
                key.manager = KeyManager(manager)
            key.description = m["Description"].text() or ""
            key.creation_date = m["CreationDate"].time() or ""
            key.deletion_date = m["DeletionDate"].time()
            key.origin = m["Origin"].text() or key.origin
            key.key_spec = m["KeySpec"].text() or m["CustomerMasterKeySpec"].text() or key.key_spec
            key.key_usage = m["KeyUsage"].text() or key.key_usage
            key.multi_region = m["MultiRegion"].boolean() or False
        elif node is not None:
            node["KeyMetadata"].problem("missing: expected the key's metadata")
        policy = self.read(f"{rel}/{L.KEY_POLICY}", kwho, L.KEY_POLICY, "the key policy is unknown")
        if policy is None:
            key.policy_known = False
        else:
            doc = self.document(policy["Policy"], PolicyType.KEY, arn)
            if doc is not None:
                key.policy = doc
        grants = self.read(f"{rel}/{L.LIST_GRANTS}", kwho, L.LIST_GRANTS, "the key's grants are unknown")
        if grants is None:
            key.grants_known = False
        else:
            key.grants = self.grants(grants)
        return key

    def grants(self, node: Node) -> list[Grant]:
        out = []
        for g in node["Grants"].items("a list of grants"):
            grant, issues = parse_grant(g.value, g.path)
            self.problems.extend(issue_problems(node.file, "", issues))
            if grant is not None:
                out.append(grant)
        return out

    # -- EC2 --------------------------------------------------------------------------------------------------

    def ec2(self, world: World, account: str, region: Region, base: str, who: str) -> None:
        ec2 = region.ec2
        whole = self.whole_dir(
            base, "ec2", who, "images, snapshots, volumes, instances, launch templates and EBS defaults"
        )

        def read(rel: str, what: str) -> Node | None:
            return self.read(f"{base}/{rel}", who, rel, None if whole else what)

        if (node := read(L.EC2_IMAGES, "images (AMIs) are unknown")) is not None:
            for n in node["Images"].objects("an image"):
                image = self.image(n)
                if image is None:
                    continue
                if image.owner != account:
                    self.shared_images.append((account, region.name, image))
                else:
                    ec2.images[image.image_id] = image
        if (node := read(L.EC2_SNAPSHOTS, "EBS snapshots are unknown")) is not None:
            for n in node["Snapshots"].objects("a snapshot"):
                snap = self.snapshot(n)
                if snap is None:
                    continue
                if snap.owner != account:
                    self.shared_snapshots.append((account, region.name, snap))
                else:
                    ec2.snapshots[snap.snapshot_id] = snap
        if (node := read(L.EC2_VOLUMES, "EBS volumes are unknown")) is not None:
            for n in node["Volumes"].objects("a volume"):
                vol = self.volume(n)
                if vol is not None:
                    ec2.volumes[vol.volume_id] = vol
        if (node := read(L.EC2_INSTANCES, "instances are unknown")) is not None:
            for r in node["Reservations"].objects("a reservation"):
                for n in r["Instances"].objects("an instance"):
                    inst = self.instance(n)
                    if inst is not None:
                        ec2.instances[inst.instance_id] = inst
        self.launch_templates(region, base, who)
        by_default = read(L.EBS_BY_DEFAULT, "whether EBS encrypts new volumes by default is unknown")
        default_key = read(L.EBS_DEFAULT_KEY, "the region's default EBS key is unknown")
        ec2.defaults.known = by_default is not None and default_key is not None
        if by_default is not None:
            enabled = by_default["EbsEncryptionByDefault"].boolean(required=True)
            ec2.defaults.encryption_by_default = bool(enabled)
        if default_key is not None:
            ref = default_key["KmsKeyId"].text(required=True, what="a key id, key ARN, alias name or alias ARN")
            if ref:
                ec2.defaults.default_kms_key_id = ref

    def image(self, n: Node) -> Image | None:
        image_id, owner = n["ImageId"].text(required=True), n["OwnerId"].text(required=True)
        devices = self.block_devices(n["BlockDeviceMappings"])
        fields = (n["Name"].text(), n["RootDeviceName"].text(), n["State"].text(), n["Public"].boolean())
        created, arch, desc = n["CreationDate"].time(), n["Architecture"].text(), n["Description"].text()
        if image_id is None or owner is None:
            return None
        return Image(
            image_id=image_id,
            owner=owner,
            name=fields[0] or "",
            block_devices=devices,
            root_device_name=fields[1] or "/dev/xvda",
            state=fields[2] or "available",
            public=bool(fields[3]),
            creation_date=created or "",
            architecture=arch or "x86_64",
            description=desc or "",
        )

    def snapshot(self, n: Node) -> EbsSnapshot | None:
        snap_id, owner = n["SnapshotId"].text(required=True), n["OwnerId"].text(required=True)
        size = n["VolumeSize"].integer(required=True, what="a size in GiB")
        encrypted = n["Encrypted"].boolean(required=True)
        key = n["KmsKeyId"].text(what="a key ARN")
        state, vol, start = n["State"].text(), n["VolumeId"].text(), n["StartTime"].time()
        desc = n["Description"].text()
        if snap_id is None or owner is None or size is None or encrypted is None:
            return None
        return EbsSnapshot(
            snapshot_id=snap_id,
            owner=owner,
            volume_size=size,
            encrypted=encrypted,
            kms_key_id=key or None,
            state=state or "completed",
            volume_id=vol or "vol-ffffffff",
            start_time=start or "",
            description=desc or "",
        )

    def volume(self, n: Node) -> Volume | None:
        vol_id = n["VolumeId"].text(required=True)
        size = n["Size"].integer(required=True, what="a size in GiB")
        vtype, az = n["VolumeType"].text(), n["AvailabilityZone"].text()
        encrypted = n["Encrypted"].boolean(required=True)
        key, snap, state, created = n["KmsKeyId"].text(), n["SnapshotId"].text(), n["State"].text(), n["CreateTime"]
        attachments = []
        for a in n["Attachments"].objects("an attachment"):
            iid, device = a["InstanceId"].text(required=True), a["Device"].text()
            a_state, at = a["State"].text(), a["AttachTime"].time()
            dot = a["DeleteOnTermination"].boolean()
            if iid is not None:
                attachments.append(Attachment(iid, device or "", a_state or "attached", at or "", dot is not False))
        created_at = created.time()
        if vol_id is None or size is None or encrypted is None:
            return None
        return Volume(
            volume_id=vol_id,
            size=size,
            volume_type=vtype or "gp3",
            availability_zone=az or "",
            encrypted=encrypted,
            kms_key_id=key or None,
            snapshot_id=snap or None,  # describe-volumes prints "" for a volume not made from a snapshot
            state=state or "available",
            create_time=created_at or "",
            attachments=attachments,
        )

    def instance(self, n: Node) -> Instance | None:
        iid = n["InstanceId"].text(required=True)
        image, itype = n["ImageId"].text(), n["InstanceType"].text()
        launched = n["LaunchTime"].time()
        az = n["Placement"]["AvailabilityZone"].text() if n["Placement"].obj() else None
        label = n["State"]["Name"].choice(_INSTANCE_STATES, required=True) if n["State"].obj() else None
        if n["State"].missing:
            n["State"].problem("missing: expected {Code, Name}")
        reason = None
        if n["StateReason"].obj():
            reason = {k: v for k in ("Code", "Message") if (v := n["StateReason"][k].text()) is not None}
        devices = []
        for b in n["BlockDeviceMappings"].objects("a block device mapping"):
            device = b["DeviceName"].text(required=True)
            vol = b["Ebs"]["VolumeId"].text() if b["Ebs"].obj() else None
            if device is not None and vol is not None:
                devices.append((device, vol))
        tags = n["Tags"].tags()
        transition, root = n["StateTransitionReason"].text(), n["RootDeviceName"].text()
        token = n["ClientToken"].text()
        if iid is None or label is None:
            return None
        template = None
        if LT_ID_TAG in tags:
            template = {"LaunchTemplateId": tags[LT_ID_TAG], "Version": tags.get(LT_VERSION_TAG, "$Default")}
        return Instance(
            instance_id=iid,
            image_id=image or "",
            instance_type=itype or "",
            # describe-instances does not say who launched an instance; CloudTrail's RunInstances does (below).
            launched_by="",
            launch_time=launched or "",
            availability_zone=az or "",
            state=InstanceState.from_label(label),
            state_reason=reason,
            state_transition_reason=transition or "",
            block_devices=devices,
            root_device_name=root or "/dev/xvda",
            tags=tags,
            launch_template=template,
            client_token=token or None,
        )

    def launch_templates(self, region: Region, base: str, who: str) -> None:
        ec2 = region.ec2
        quiet = not (self.root / base / "ec2").is_dir()
        node = self.read(
            f"{base}/{L.EC2_TEMPLATES}", who, L.EC2_TEMPLATES, None if quiet else "launch templates are unknown"
        )
        listed: set[str] = set()
        for t in node["LaunchTemplates"].objects("a launch template") if node else []:
            tid, name = t["LaunchTemplateId"].text(required=True), t["LaunchTemplateName"].text()
            default = t["DefaultVersionNumber"].integer()
            created, by = t["CreateTime"].time(), t["CreatedBy"].text()
            if tid is None:
                continue
            if not L.SAFE_NAME_RE.match(tid):
                t["LaunchTemplateId"].problem(f"{tid!r} is not a launch template id")
                continue
            listed.add(tid)
            ec2.launch_templates[tid] = LaunchTemplate(tid, name or "", {}, default or 1, created or "", by or "")
            rel = f"{L.EC2_TEMPLATE_VERSIONS}/{tid}.json"
            versions = self.read(f"{base}/{rel}", who, rel, f"the versions of launch template {tid} are unknown")
            if versions is not None:
                self.template_versions(ec2.launch_templates[tid], versions, default is None)
        # Versions of templates describe-launch-templates did not list (or that file is missing): still usable.
        vdir = self.root / base / L.EC2_TEMPLATE_VERSIONS
        for f in sorted(vdir.glob("*.json")) if vdir.is_dir() else []:
            if f.stem in listed:
                continue
            versions = self.read(f"{base}/{L.EC2_TEMPLATE_VERSIONS}/{f.name}")
            if versions is None:
                continue
            first = next(iter(versions["LaunchTemplateVersions"].objects("a launch template version")), None)
            name = first["LaunchTemplateName"].text() if first else None
            lt = LaunchTemplate(f.stem, name or "", {}, 1)
            self.template_versions(lt, versions, True)
            ec2.launch_templates[f.stem] = lt

    def template_versions(self, lt: LaunchTemplate, node: Node, take_default: bool) -> None:
        for v in node["LaunchTemplateVersions"].objects("a launch template version"):
            number = v["VersionNumber"].integer(required=True, what="a version number")
            data = v["LaunchTemplateData"]
            if data.missing:
                data.problem("missing: expected the version's LaunchTemplateData")
            elif data.obj():
                self.block_devices(data["BlockDeviceMappings"])
            is_default = v["DefaultVersion"].boolean()
            if number is None or not data.obj():
                continue
            lt.versions[number] = dict(data.value)
            if take_default and is_default:
                lt.default_version = number

    # -- Auto Scaling -----------------------------------------------------------------------------------------

    def autoscaling(self, world: World, account: str, region: Region, base: str, who: str) -> None:
        asg = region.autoscaling
        whole = self.whole_dir(base, "autoscaling", who, "Auto Scaling groups, launch configurations and activities")

        def read(rel: str, what: str) -> Node | None:
            return self.read(f"{base}/{rel}", who, rel, None if whole else f"{what} are unknown")

        if (node := read(L.ASG_GROUPS, "Auto Scaling groups")) is not None:
            for g in node["AutoScalingGroups"].objects("an Auto Scaling group"):
                group = self.group(world, account, g)
                if group is not None:
                    asg.groups[group.name] = group
        if (node := read(L.ASG_CONFIGURATIONS, "launch configurations")) is not None:
            for c in node["LaunchConfigurations"].objects("a launch configuration"):
                name, image = c["LaunchConfigurationName"].text(required=True), c["ImageId"].text()
                arn, itype = c["LaunchConfigurationARN"].text(), c["InstanceType"].text()
                devices = self.block_devices(c["BlockDeviceMappings"])
                created = c["CreatedTime"].time()
                if name is not None:
                    asg.launch_configurations[name] = LaunchConfiguration(
                        name, arn or "", image or "", itype or "", devices, created or ""
                    )
        if (node := read(L.ASG_ACTIVITIES, "scaling activities")) is not None:
            # describe-scaling-activities lists the newest first; the world keeps them oldest first.
            for a in reversed(node["Activities"].objects("a scaling activity")):
                activity = self.activity(a)
                if activity is not None and activity.group_name in asg.groups:
                    asg.groups[activity.group_name].activities.append(activity)

    def group(self, world: World, account: str, g: Node) -> AutoScalingGroup | None:
        name = g["AutoScalingGroupName"].text(required=True)
        arn, slr = g["AutoScalingGroupARN"].text(), g["ServiceLinkedRoleARN"].text()
        spec = g["LaunchTemplate"]
        mixed = g["MixedInstancesPolicy"]
        if spec.missing and mixed.obj() and mixed["LaunchTemplate"].obj():
            spec = mixed["LaunchTemplate"]["LaunchTemplateSpecification"]
            # The world has one launch template per group: the overrides of a mixed policy are kept aside.
            self.raw.setdefault("MixedInstancesPolicy", {})[arn or name or ""] = mixed.value
        template = None
        if spec.obj():
            template = {k: v for k in ("LaunchTemplateId", "LaunchTemplateName", "Version") if (v := spec[k].text())}
            if "LaunchTemplateId" not in template and "LaunchTemplateName" not in template:
                spec.problem("needs LaunchTemplateId or LaunchTemplateName")
        config = g["LaunchConfigurationName"].text()
        sizes = [g[k].integer(what="a number of instances") for k in ("MinSize", "MaxSize", "DesiredCapacity")]
        zones = g["AvailabilityZones"].texts("an Availability Zone")
        instances = [i for n in g["Instances"].objects("an instance") if (i := n["InstanceId"].text(required=True))]
        created = g["CreatedTime"].time()
        if name is None:
            return None
        return AutoScalingGroup(
            name=name,
            arn=arn or "",
            # Auto Scaling uses AWSServiceRoleForAutoScaling when the group names no other role.
            service_linked_role_arn=slr or default_slr_arn(account, None, world.partition),
            launch_template=template,
            launch_configuration=config,
            min_size=sizes[0] or 0,
            max_size=sizes[1] if sizes[1] is not None else 1,
            desired_capacity=sizes[2] or 0,
            availability_zones=zones,
            instances=instances,
            created_time=created or "",
        )

    def activity(self, a: Node) -> ScalingActivity | None:
        values = {
            k: a[k].text(required=k in ("ActivityId", "AutoScalingGroupName"))
            for k in ("ActivityId", "AutoScalingGroupName", "Description", "Cause", "StatusCode", "StatusMessage")
        }
        start, end = a["StartTime"].time(), a["EndTime"].time()
        progress, details = a["Progress"].integer(), a["Details"].text()
        if values["ActivityId"] is None or values["AutoScalingGroupName"] is None:
            return None
        return ScalingActivity(
            activity_id=values["ActivityId"],
            group_name=values["AutoScalingGroupName"],
            description=values["Description"] or "",
            cause=values["Cause"] or "",
            start_time=start or "",
            end_time=end or "",
            status_code=values["StatusCode"] or "",
            status_message=values["StatusMessage"] or "",
            progress=progress if progress is not None else 100,
            details=details if details is not None else "{}",
        )

    # -- CloudTrail -------------------------------------------------------------------------------------------

    def trail(self, node: Node) -> list[dict[str, Any]]:
        events = []
        for e in node["Events"].objects("an event"):
            text = e["CloudTrailEvent"].text(required=True, what="the CloudTrail record as a JSON string")
            if text is None:
                continue
            try:
                record = json.loads(text)
            except json.JSONDecodeError as exc:
                e["CloudTrailEvent"].problem(f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")
                continue
            except RecursionError:
                e["CloudTrailEvent"].problem("not valid JSON: nested too deeply")
                continue
            if not isinstance(record, dict):
                e["CloudTrailEvent"].problem(f"expected a JSON object, got {type(record).__name__}")
                continue
            events.append(record)
        # lookup-events lists the newest first; Trail.events is oldest first.
        events.reverse()
        return events

    # -- images and snapshots other accounts share ------------------------------------------------------------

    def place_shared(self, world: World) -> None:
        """Images and snapshots of other accounts that an account's describe-* listed.

        ``describe-images`` lists only images the account may launch (its own, public ones, and ones shared with
        it), so an image of another account in this file is taken as launchable by the listing account; likewise
        ``describe-snapshots`` for snapshots it may restore. The full list of accounts an image or snapshot is
        shared with (describe-image-attribute, describe-snapshot-attribute) is not collected: accounts outside the
        snapshot are unknown. An item whose owner is in the snapshot gets the permission on the owner's copy; an
        item of an account outside it is kept once, by the first account that listed it.
        """
        kept_images: dict[tuple[str, str], Image] = {}
        for listing, region, image in self.shared_images:
            owner = world.accounts.get(image.owner)
            held = kept_images.get((region, image.image_id))
            if held is None and owner is not None and region in owner.regions:
                held = owner.regions[region].ec2.images.get(image.image_id)
            if held is None:
                held = kept_images[(region, image.image_id)] = image
                world.accounts[listing].regions[region].ec2.images[image.image_id] = image
            if listing not in held.launch_permissions and not held.public:
                held.launch_permissions.append(listing)
        kept_snaps: dict[tuple[str, str], EbsSnapshot] = {}
        for listing, region, snap in self.shared_snapshots:
            owner = world.accounts.get(snap.owner)
            held_snap = kept_snaps.get((region, snap.snapshot_id))
            if held_snap is None and owner is not None and region in owner.regions:
                held_snap = owner.regions[region].ec2.snapshots.get(snap.snapshot_id)
            if held_snap is None:
                held_snap = kept_snaps[(region, snap.snapshot_id)] = snap
                world.accounts[listing].regions[region].ec2.snapshots[snap.snapshot_id] = snap
            if listing not in held_snap.create_volume_permissions:
                held_snap.create_volume_permissions.append(listing)

    # -- Organizations ----------------------------------------------------------------------------------------

    def organization(self, world: World, meta: dict[str, Any]) -> None:
        org = world.organization
        errors = meta.get("errors")
        not_in_org = isinstance(errors, list) and any(
            isinstance(e, dict) and e.get("code") == L.NOT_IN_ORG for e in errors
        )
        if not_in_org:
            return
        node = self.read(L.ORG_DESCRIBE)
        if node is None:
            if not (self.root / L.ORG_DESCRIBE).is_file():
                self.unknown.append(
                    f"{L.ORG_DESCRIBE} is missing: the organization, its SCPs and RCPs are unknown "
                    "(collect from the management account)"
                )
            org.known = False
            return
        if node["Organization"].obj():
            o = node["Organization"]
            org.org_id = o["Id"].text(required=True, what="an organization id")
            org.management_account = o["MasterAccountId"].text()
        else:
            node["Organization"].problem("missing: expected the organization")
        roots = self.read(
            L.ORG_ROOTS, "organization", L.ORG_ROOTS, "the organization's root is unknown: no SCP applies"
        )
        if roots is not None:
            for r in roots["Roots"].objects("a root")[:1]:
                org.root_id = r["Id"].text(required=True, what="a root id")
                if not r["PolicyTypes"].missing:
                    self.raw["RootPolicyTypes"] = r["PolicyTypes"].value
        for f in _json_files(self.root / L.ORG_PARENTS):
            parents = self.read(f"{L.ORG_PARENTS}/{f.name}")
            for p in parents["Parents"].objects("a parent {Id, Type}")[:1] if parents else []:
                parent = p["Id"].text(required=True)
                if parent:
                    org.parents[f.stem] = parent
        for kind in (SCP, RCP):
            for f in _json_files(self.root / L.ORG_TARGET_POLICIES / kind):
                listed = self.read(f"{L.ORG_TARGET_POLICIES}/{kind}/{f.name}")
                for p in listed["Policies"].objects("a policy summary") if listed else []:
                    pid = p["Id"].text(required=True, what="a policy id")
                    if pid and pid not in org.attachments.setdefault(f.stem, []):
                        org.attachments[f.stem].append(pid)
        for f in _json_files(self.root / L.ORG_POLICY):
            self.org_policy(world, f)
        for target, pids in org.attachments.items():
            for pid in pids:
                if pid not in org.policies:
                    self.unknown.append(
                        f"{L.ORG_POLICY}/{pid}.json is missing: policy {pid} (attached to {target}) is unknown"
                    )

    def org_policy(self, world: World, f: Path) -> None:
        node = self.read(f"{L.ORG_POLICY}/{f.name}")
        if node is None:
            return
        if not node["Policy"].obj() or not node["Policy"]["PolicySummary"].obj():
            node["Policy"].problem("expected {PolicySummary, Content}")
            return
        summary = node["Policy"]["PolicySummary"]
        pid, name = summary["Id"].text(required=True), summary["Name"].text()
        kind = summary["Type"].text(required=True)
        arn, managed, desc = summary["Arn"].text(), summary["AwsManaged"].boolean(), summary["Description"].text()
        if pid is not None and pid != f.stem:
            summary["Id"].problem(f"{pid!r} is not the policy this file is named after ({f.stem})")
        if kind not in _ORG_POLICY_TYPES or pid is None:
            return  # tag, backup and AI policies are not IAM documents: nothing here evaluates them
        doc = self.document(node["Policy"]["Content"], _ORG_POLICY_TYPES[kind], name or pid)
        if doc is not None:
            world.organization.policies[pid] = OrgPolicy(
                pid, name or "", kind, doc, arn or "", bool(managed), desc or ""
            )


def _seed(root: Path) -> str:
    digest = hashlib.sha256(str(root.resolve()).encode())
    for p in sorted(root.rglob("*.json"))[:2000]:
        digest.update(str(p.relative_to(root)).encode())
        digest.update(str(p.stat().st_size).encode())
    return "snapshot:" + digest.hexdigest()


def _json_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.json")) if folder.is_dir() else []


def _launched_by(world: World) -> None:
    """Who launched each instance, from the RunInstances records of the account's trail (describe-instances
    does not say)."""
    for acct in world.accounts.values():
        for region in acct.regions.values():
            if not region.ec2.instances:
                continue
            for record in region.trail.events:
                if record.get("eventName") != "RunInstances" or record.get("errorCode"):
                    continue
                who, resp = record.get("userIdentity"), record.get("responseElements")
                arn = who.get("arn") if isinstance(who, dict) else None
                items = resp.get("instancesSet", {}) if isinstance(resp, dict) else None
                items = items.get("items") if isinstance(items, dict) else None
                if not isinstance(arn, str) or not isinstance(items, list):
                    continue
                for item in items:
                    iid = item.get("instanceId") if isinstance(item, dict) else None
                    inst = region.ec2.instances.get(iid) if isinstance(iid, str) else None
                    if inst is not None and not inst.launched_by:
                        inst.launched_by = arn
