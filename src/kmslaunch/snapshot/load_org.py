"""Organizations: roots, parents, SCPs and RCPs from the organizations/ folder into the world."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kmslaunch.policy.model import PolicyType
from kmslaunch.snapshot import layout as L
from kmslaunch.snapshot.reader import Reader, json_files
from kmslaunch.world.organizations import RCP, SCP, OrgPolicy
from kmslaunch.world.world import World

_ORG_POLICY_TYPES = {SCP: PolicyType.SCP, RCP: PolicyType.RCP}


class OrgLoader(Reader):
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
            # A member account's view: the organization's description is missing, but whatever parents and
            # policies were collected still govern its accounts (Organization.gaps names what is missing).
            if not (self.root / L.ORG_DESCRIBE).is_file():
                self.unknown.append(
                    f"{L.ORG_DESCRIBE} is missing: the organization and its management account are unknown "
                    "(collect from the management account)"
                )
            org.known = False
        elif node["Organization"].obj():
            o = node["Organization"]
            org.org_id = o["Id"].text(required=True, what="an organization id")
            org.management_account = o["MasterAccountId"].text()
        else:
            node["Organization"].problem("missing: expected the organization")
        roots = (
            self.read(
                L.ORG_ROOTS,
                "organization",
                L.ORG_ROOTS,
                "the organization's root is unknown: the SCPs and RCPs above the collected levels are unknown",
            )
            if org.known
            else self.read(L.ORG_ROOTS)
        )
        if roots is not None:
            for r in roots["Roots"].objects("a root")[:1]:
                org.root_id = r["Id"].text(required=True, what="a root id")
                if not r["PolicyTypes"].missing:
                    self.raw["RootPolicyTypes"] = r["PolicyTypes"].value
        for f in json_files(self.root / L.ORG_PARENTS):
            parents = self.read(f"{L.ORG_PARENTS}/{f.name}")
            for p in parents["Parents"].objects("a parent {Id, Type}")[:1] if parents else []:
                parent = p["Id"].text(required=True)
                if parent:
                    org.parents[f.stem] = parent
        for kind in (SCP, RCP):
            for f in json_files(self.root / L.ORG_TARGET_POLICIES / kind):
                listed = self.read(f"{L.ORG_TARGET_POLICIES}/{kind}/{f.name}")
                if listed is not None:
                    org.listed.add((kind, f.stem))
                for p in listed["Policies"].objects("a policy summary") if listed else []:
                    pid = p["Id"].text(required=True, what="a policy id")
                    if pid:
                        org.listed_type[pid] = kind
                    if pid and pid not in org.attachments.setdefault(f.stem, []):
                        org.attachments[f.stem].append(pid)
        for f in json_files(self.root / L.ORG_POLICY):
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
        arn, managed, desc = summary["Arn"].arn(), summary["AwsManaged"].boolean(), summary["Description"].text()
        if pid is not None and pid != f.stem:
            summary["Id"].problem(f"{pid!r} is not the policy this file is named after ({f.stem})")
        if kind not in _ORG_POLICY_TYPES or pid is None:
            return  # tag, backup and AI policies are not IAM documents: nothing here evaluates them
        doc = self.document(node["Policy"]["Content"], _ORG_POLICY_TYPES[kind], name or pid)
        if doc is not None:
            world.organization.policies[pid] = OrgPolicy(
                pid, name or "", kind, doc, arn or "", bool(managed), desc or ""
            )
