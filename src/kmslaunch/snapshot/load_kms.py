"""KMS keys, policies, grants and aliases from a region's kms/ folder into the world."""

from __future__ import annotations

from kmslaunch.policy.grants import Grant, parse_grant
from kmslaunch.policy.model import PolicyType
from kmslaunch.snapshot import layout as L
from kmslaunch.snapshot.errors import issue_problems
from kmslaunch.snapshot.jsonio import Node
from kmslaunch.snapshot.reader import Reader
from kmslaunch.world.documents import Document
from kmslaunch.world.kms import Key, KeyManager, KeyState
from kmslaunch.world.world import Region, World

_STATES = tuple(s.value for s in KeyState)
_MANAGERS = tuple(m.value for m in KeyManager)
# Stands in for a key policy that was not collected; ``Key.policy_known`` is False, so nothing evaluates it.
_UNKNOWN_POLICY = {"Version": "2012-10-17", "Statement": []}


class KmsLoader(Reader):
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
            listed_arn = m["Arn"].arn()
            parts = (listed_arn or "").split(":", 5)
            if listed_arn is not None and (
                len(parts) != 6 or parts[2] != "kms" or parts[5] != f"key/{key_id}" or not L.ACCOUNT_RE.match(parts[4])
            ):
                shown = listed_arn if len(listed_arn) <= 100 else listed_arn[:100] + "…"
                m["Arn"].problem(f"{shown!r} is not the ARN of key {key_id} (expected {arn})")
                listed_arn = None
            key.arn = arn = listed_arn or arn
            owner = m["AWSAccountId"].text()
            if owner is not None and not L.ACCOUNT_RE.match(owner):
                m["AWSAccountId"].problem(f"{owner[:40]!r} is not an account id (expected 12 digits)")
                owner = None
            key.account = owner or account
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
