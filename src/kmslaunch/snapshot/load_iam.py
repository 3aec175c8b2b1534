"""IAM from get-account-authorization-details.json into the world."""

from __future__ import annotations

from kmslaunch.policy.model import PolicyType
from kmslaunch.snapshot.jsonio import Node
from kmslaunch.snapshot.reader import Reader
from kmslaunch.world.documents import Document
from kmslaunch.world.iam import Group, ManagedPolicy, Role, User
from kmslaunch.world.world import Account


class IamLoader(Reader):
    def iam(self, node: Node, acct: Account) -> None:
        iam = acct.iam
        for u in node["UserDetailList"].objects("a user"):
            name, arn = u["UserName"].text(required=True), u["Arn"].arn(required=True)
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
            name, arn = g["GroupName"].text(required=True), g["Arn"].arn(required=True)
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
            name, arn = r["RoleName"].text(required=True), r["Arn"].arn(required=True)
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
            name, arn = p["PolicyName"].text(required=True), p["Arn"].arn(required=True)
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
            arn = p["PolicyArn"].arn(required=True)
            if arn is not None:
                out.append(arn)
        return out

    def boundary(self, node: Node) -> str | None:
        return node["PermissionsBoundaryArn"].arn(required=True) if node.obj() else None

    # -- regions ----------------------------------------------------------------------------------------------
