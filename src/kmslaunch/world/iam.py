"""IAM: users, groups, roles (service-linked ones included), managed and inline policies, boundaries."""

from __future__ import annotations

from dataclasses import dataclass, field

from kmslaunch.world.documents import Document

SERVICE_ROLE_PATH = "/aws-service-role/"


@dataclass
class ManagedPolicy:
    arn: str
    name: str
    document: Document
    path: str = "/"
    policy_id: str = ""
    default_version_id: str = "v1"
    attachment_count: int = 0

    @property
    def aws_managed(self) -> bool:
        return self.arn.split(":")[4] == "aws"


@dataclass
class User:
    arn: str
    name: str
    user_id: str
    path: str = "/"
    inline: dict[str, Document] = field(default_factory=dict)
    attached: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    boundary_arn: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    create_date: str = ""


@dataclass
class Group:
    arn: str
    name: str
    group_id: str
    path: str = "/"
    inline: dict[str, Document] = field(default_factory=dict)
    attached: list[str] = field(default_factory=list)
    create_date: str = ""


@dataclass
class Role:
    arn: str
    name: str
    role_id: str
    trust: Document | None
    path: str = "/"
    inline: dict[str, Document] = field(default_factory=dict)
    attached: list[str] = field(default_factory=list)
    boundary_arn: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    create_date: str = ""

    @property
    def service_linked(self) -> bool:
        """Service-linked roles' policies belong to their service and cannot be edited
        (https://docs.aws.amazon.com/IAM/latest/UserGuide/using-service-linked-roles.html)."""
        return self.path.startswith(SERVICE_ROLE_PATH)


@dataclass
class Iam:
    """One account's IAM. Keys: user/group/role names, policy ARNs."""

    users: dict[str, User] = field(default_factory=dict)
    groups: dict[str, Group] = field(default_factory=dict)
    roles: dict[str, Role] = field(default_factory=dict)
    policies: dict[str, ManagedPolicy] = field(default_factory=dict)
    access_keys: dict[str, tuple[str, str]] = field(default_factory=dict)  # access key id -> (user name, secret)
    # What the snapshot did not contain: evaluation that needs it says so.
    known: bool = True

    def user_by_arn(self, arn: str) -> User | None:
        return next((u for u in self.users.values() if u.arn == arn), None)

    def role_by_arn(self, arn: str) -> Role | None:
        return next((r for r in self.roles.values() if r.arn == arn), None)
