"""Who makes a request, and how a Principal element names them.

The request side (``Principal``) is derived from the ARN AWS reports for the caller; the policy side
(``PrincipalSpec``) is matched against it with the rules of "AWS JSON policy elements: Principal"
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html):
an account (id or ``:root`` ARN) means "this account, if its IAM policies allow"; a role ARN covers
every session of the role; a session ARN only that session; ``*`` everyone, anonymous included.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from kmslaunch.policy.model import PrincipalSpec

EC2_INFRASTRUCTURE_ROLE = "aws:ec2-infrastructure"
_ACCOUNT_ID = re.compile(r"^\d{12}$")
_IAM_ARN = re.compile(r"^arn:(?P<partition>aws[\w-]*):iam::(?P<account>\d{12}):(?P<rest>.+)$")
_STS_ARN = re.compile(r"^arn:(?P<partition>aws[\w-]*):sts::(?P<account>\d{12}):(?P<rest>.+)$")


class PrincipalType(enum.Enum):
    """The values of ``aws:PrincipalType``, plus SERVICE for a service principal calling as itself."""

    ACCOUNT = "Account"
    USER = "User"
    ASSUMED_ROLE = "AssumedRole"
    FEDERATED_USER = "FederatedUser"
    ANONYMOUS = "Anonymous"
    SERVICE = "Service"


class PrincipalMatch(enum.Enum):
    """How a Principal element matched the caller; evaluation treats each differently.

    ``PRINCIPAL``: it names this user or this role session (or ``*``). ``ROLE``: it names the role the
    session belongs to. ``ACCOUNT``: it names the caller's account, which only delegates to IAM.
    The difference matters for permissions boundaries and session policies, which limit grants made to a
    role ARN or an account but not grants made to a user or session ARN
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html).
    """

    NONE = 0
    ACCOUNT = 1
    ROLE = 2
    PRINCIPAL = 3


class PrincipalError(ValueError):
    """The text is not a principal ARN kmslaunch can evaluate."""


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller of one request.

    ``arn`` is the ARN AWS reports (the session ARN for a role); ``principal_arn`` is ``aws:PrincipalArn``
    (the role's ARN, with its path when known, for a session). ``role_path_known`` is False when the role's
    path could not be known from a session ARN alone: matching then compares account and role name.
    """

    arn: str
    type: PrincipalType
    account: str | None
    partition: str
    principal_arn: str
    name: str | None = None  # user name, role name, federated user name
    session_name: str | None = None
    service: str | None = None  # service principal, e.g. "ec2.amazonaws.com"
    role_path_known: bool = True
    userid: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict, compare=False, hash=False)
    org_id: str | None = None

    @property
    def is_service_linked_role(self) -> bool:
        """Service-linked roles live under ``/aws-service-role/`` and are named ``AWSServiceRoleFor…``.

        (https://docs.aws.amazon.com/IAM/latest/UserGuide/using-service-linked-roles.html)
        """
        if self.type is not PrincipalType.ASSUMED_ROLE or self.name is None:
            return False
        return "/aws-service-role/" in self.principal_arn or self.name.startswith("AWSServiceRoleFor")

    @property
    def is_ec2_infrastructure(self) -> bool:
        return self.type is PrincipalType.ASSUMED_ROLE and self.name == EC2_INFRASTRUCTURE_ROLE

    @property
    def role_arn(self) -> str | None:
        return self.principal_arn if self.type is PrincipalType.ASSUMED_ROLE else None

    def context(self) -> dict[str, tuple[str, ...]]:
        """The global condition keys AWS derives from the caller (lower-cased names).

        https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html
        """
        ctx: dict[str, tuple[str, ...]] = {}
        if self.type is PrincipalType.SERVICE:
            ctx["aws:principalisawsservice"] = ("true",)
            if self.service:
                ctx["aws:principalservicename"] = (self.service,)
            return ctx
        if self.type is PrincipalType.ANONYMOUS:
            ctx["aws:principaltype"] = ("Anonymous",)
            return ctx
        ctx["aws:principalarn"] = (self.principal_arn,)
        ctx["aws:principalisawsservice"] = ("false",)
        ctx["aws:principaltype"] = (self.type.value,)
        if self.account:
            ctx["aws:principalaccount"] = (self.account,)
        if self.type is PrincipalType.USER and self.name:
            ctx["aws:username"] = (self.name,)
        if self.userid:
            ctx["aws:userid"] = (self.userid,)
        elif self.type is PrincipalType.ACCOUNT and self.account:
            ctx["aws:userid"] = (self.account,)
        if self.org_id:
            ctx["aws:principalorgid"] = (self.org_id,)
        for k, v in self.tags.items():
            ctx["aws:principaltag/" + k.lower()] = (v,)
        return ctx


def parse_principal(
    text: str,
    *,
    role_arn: str | None = None,
    userid: str | None = None,
    tags: Mapping[str, str] | None = None,
    org_id: str | None = None,
) -> Principal:
    """Build a ``Principal`` from the ARN a request is made as.

    Accepts user, role (taken as a session of that role), assumed-role session, federated user and root
    ARNs, a bare account id (its root), a service principal (``ec2.amazonaws.com``) and ``*`` (anonymous).
    ``role_arn`` gives a session's role ARN with its path, which the session ARN does not carry.
    """
    tags = dict(tags or {})
    if text in ("*", "anonymous"):
        return Principal("anonymous", PrincipalType.ANONYMOUS, None, "aws", "anonymous")
    if _ACCOUNT_ID.match(text):
        text = f"arn:aws:iam::{text}:root"
    if text.endswith(".amazonaws.com") or text.endswith(".amazonaws.com.cn"):
        return Principal(text, PrincipalType.SERVICE, None, "aws", text, service=text)
    m = _IAM_ARN.match(text)
    if m:
        part, acct, rest = m.group("partition"), m.group("account"), m.group("rest")
        if rest == "root":
            return Principal(text, PrincipalType.ACCOUNT, acct, part, text, userid=userid, tags=tags)
        kind, _, tail = rest.partition("/")
        if kind == "user" and tail:
            name = tail.rsplit("/", 1)[-1]
            return Principal(
                text, PrincipalType.USER, acct, part, text, name=name, userid=userid, tags=tags, org_id=org_id
            )
        if kind == "role" and tail:
            # A role never calls by itself: a request "as a role" is a session of it.
            name = tail.rsplit("/", 1)[-1]
            session = f"arn:{part}:sts::{acct}:assumed-role/{name}/kmslaunch"
            return Principal(
                session,
                PrincipalType.ASSUMED_ROLE,
                acct,
                part,
                text,
                name=name,
                session_name="kmslaunch",
                userid=userid,
                tags=tags,
                org_id=org_id,
            )
        raise PrincipalError(f"{text!r} is not a user, role or root ARN")
    m = _STS_ARN.match(text)
    if m:
        part, acct, rest = m.group("partition"), m.group("account"), m.group("rest")
        kind, _, tail = rest.partition("/")
        if kind == "assumed-role" and "/" in tail:
            name, _, session_name = tail.rpartition("/")
            known = role_arn is not None
            ra = role_arn or _default_role_arn(part, acct, name)
            if not known and name.startswith("AWSServiceRoleFor"):
                known = False
            return Principal(
                text,
                PrincipalType.ASSUMED_ROLE,
                acct,
                part,
                ra,
                name=name,
                session_name=session_name,
                role_path_known=known,
                userid=userid,
                tags=tags,
                org_id=org_id,
            )
        if kind == "federated-user" and tail:
            return Principal(
                text,
                PrincipalType.FEDERATED_USER,
                acct,
                part,
                text,
                name=tail,
                userid=userid,
                tags=tags,
                org_id=org_id,
            )
    raise PrincipalError(
        f"{text!r} is not a principal ARN (expected a user, role, assumed-role session, federated user or "
        "root ARN, an account id, a service principal or *)"
    )


def _default_role_arn(partition: str, account: str, name: str) -> str:
    if name == EC2_INFRASTRUCTURE_ROLE:
        return f"arn:{partition}:iam::{account}:role/{EC2_INFRASTRUCTURE_ROLE}"
    return f"arn:{partition}:iam::{account}:role/{name}"


def _role_name_account(arn: str) -> tuple[str, str] | None:
    m = _IAM_ARN.match(arn)
    if not m:
        return None
    kind, _, tail = m.group("rest").partition("/")
    if kind != "role" or not tail:
        return None
    return m.group("account"), tail.rsplit("/", 1)[-1]


def match_principal(spec: PrincipalSpec, who: Principal) -> PrincipalMatch:
    """How strongly ``spec`` (a Principal element) names ``who``; ``NONE`` when it does not."""
    if spec.wildcard:
        return PrincipalMatch.PRINCIPAL
    if who.type is PrincipalType.SERVICE:
        return PrincipalMatch.PRINCIPAL if who.service in spec.service else PrincipalMatch.NONE
    best = PrincipalMatch.NONE
    for entry in spec.aws:
        got = _match_aws_entry(entry, who)
        if got.value > best.value:
            best = got
            if best is PrincipalMatch.PRINCIPAL:
                break
    return best


def _match_aws_entry(entry: str, who: Principal) -> PrincipalMatch:
    if who.account is None:
        return PrincipalMatch.NONE
    if entry in (who.account, f"arn:{who.partition}:iam::{who.account}:root"):
        # The root user itself is named by its account; everyone else only through IAM delegation.
        return PrincipalMatch.PRINCIPAL if who.type is PrincipalType.ACCOUNT else PrincipalMatch.ACCOUNT
    if entry == who.arn:
        return PrincipalMatch.PRINCIPAL
    if who.type is PrincipalType.ASSUMED_ROLE:
        if entry == who.principal_arn:
            return PrincipalMatch.ROLE
        if not who.role_path_known:
            # assumption role-path (docs/assumptions.md): the session ARN does not carry the role's
            # path; without it, a role ARN naming the same account and role name is taken as this role.
            named = _role_name_account(entry)
            if named == (who.account, who.name):
                return PrincipalMatch.ROLE
    return PrincipalMatch.NONE
