"""Known traps in key policies and in the KMS statements of IAM policies, found without simulating anything.

One function per rule, each taking one statement (or one policy) and its place; ``RULES`` is the table of rule
ids, severities and the AWS page each rule encodes. Parser warnings (``Policy.warnings``) are reused, not
re-derived: an action name that matches nothing, a ``kms:ViaService`` value that cannot name an endpoint,
``kms:GrantIsForAWSResource`` on actions that never carry it.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from kmslaunch.doctor.perimeter import NETWORK_KEYS, perimeter_exemption, recommendation
from kmslaunch.policy.errors import Issue
from kmslaunch.policy.model import Effect, Policy, Statement
from kmslaunch.world.iam import Iam
from kmslaunch.world.kms import Key, KeyManager
from kmslaunch.world.world import World


class Severity(enum.Enum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    sarif_id: str
    severity: Severity
    title: str
    doc: str


_INFRA = "https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/iam-roles-for-amazon-ec2.html"
_CONDITIONS = "https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html"
RULES: dict[str, Rule] = {
    r.id: r
    for r in (
        Rule(
            "source-ip-deny",
            "KMSL001",
            Severity.ERROR,
            "A Deny on aws:SourceIp/aws:VpcSourceIp/aws:SourceVpc/aws:SourceVpce catches the KMS calls EC2 makes, "
            "with no exemption for them",
            _INFRA,
        ),
        Rule(
            "source-ip-allow",
            "KMSL002",
            Severity.WARNING,
            "An Allow EC2's KMS calls rely on requires an aws:SourceIp/aws:VpcSourceIp they cannot have",
            _INFRA,
        ),
        Rule(
            "unknown-action",
            "KMSL003",
            Severity.WARNING,
            "An action name matches no action",
            "https://docs.aws.amazon.com/kms/latest/developerguide/kms-api-permissions-reference.html",
        ),
        Rule(
            "via-service-format",
            "KMSL004",
            Severity.WARNING,
            "A kms:ViaService value is not <service>.<region>.amazonaws.com",
            _CONDITIONS + "#conditions-kms-via-service",
        ),
        Rule(
            "grant-is-for-aws-resource",
            "KMSL005",
            Severity.WARNING,
            "kms:GrantIsForAWSResource on actions that never carry it",
            _CONDITIONS + "#conditions-kms-grant-is-for-aws-resource",
        ),
        Rule(
            "service-principal-for-slr",
            "KMSL006",
            Severity.ERROR,
            "A key policy names a service principal where the service acts through its service-linked role",
            "https://docs.aws.amazon.com/autoscaling/ec2/userguide/key-policy-requirements-EBS-encryption.html",
        ),
        Rule(
            "caller-account-pinned",
            "KMSL007",
            Severity.ERROR,
            "kms:CallerAccount pins one account in a statement for a key shared with other accounts",
            _CONDITIONS + "#conditions-kms-caller-account",
        ),
        Rule(
            "missing-principal",
            "KMSL008",
            Severity.ERROR,
            "A key policy names a role or user that does not exist in the snapshot's IAM",
            "https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html",
        ),
        Rule(
            "policy-warning",
            "KMSL009",
            Severity.WARNING,
            "Something AWS accepts but is almost certainly a mistake",
            "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_grammar.html",
        ),
    )
}

# The KMS actions EC2 calls for an encrypted volume (launch/plan.py).
EC2_KMS_ACTIONS = (
    "kms:creategrant",
    "kms:decrypt",
    "kms:generatedatakeywithoutplaintext",
    "kms:reencryptfrom",
    "kms:reencryptto",
    "kms:describekey",
)
_SOURCE_KEYS = NETWORK_KEYS
# Services that launch instances as their service-linked role, and that role's name.
_SLR_SERVICES = {
    "autoscaling.amazonaws.com": "AWSServiceRoleForAutoScaling",
    "spotfleet.amazonaws.com": "AWSServiceRoleForEC2SpotFleet",
    "ec2fleet.amazonaws.com": "AWSServiceRoleForEC2Fleet",
    "spot.amazonaws.com": "AWSServiceRoleForEC2Spot",
}
_IAM_ARN = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}):(role|user)/(.+)$")
_UNIQUE_ID = re.compile(r"^(AROA|AIDA)[A-Z0-9]{12,}$")
_STATEMENT = re.compile(r"^Statement\[(\d+)\]")


@dataclass(frozen=True, slots=True)
class LintFinding:
    """One trap found: the rule, where (account, region, the key or policy, the JSON path), and what to do."""

    rule: str
    account: str
    region: str | None
    resource: str
    policy: str
    path: str
    message: str
    suggestion: str | None = None

    @property
    def severity(self) -> Severity:
        return RULES[self.rule].severity

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "id": RULES[self.rule].sarif_id,
            "severity": self.severity.value,
            "account": self.account,
            "region": self.region,
            "resource": self.resource,
            "policy": self.policy,
            "path": self.path,
            "message": self.message,
            "suggestion": self.suggestion,
            "doc": RULES[self.rule].doc,
        }


@dataclass(frozen=True, slots=True)
class Place:
    """Where a policy is: its account, region (keys), what it belongs to, and whether it is a key policy."""

    account: str
    region: str | None
    resource: str
    policy: str
    key_policy: bool


# -- statement helpers ------------------------------------------------------------------------------------------


def _covers(st: Statement, actions: Iterable[str]) -> list[str]:
    """Which of ``actions`` the statement's Action (or NotAction) covers."""
    pats = [a.lower() for a in st.actions]
    hit = [a for a in actions if any(fnmatchcase(a, p) for p in pats)]
    if st.not_action:
        return [a for a in actions if a not in hit]
    return hit


def _kms_statement(st: Statement) -> bool:
    if st.not_action:
        return True
    return any(a == "*" or a.lower().startswith("kms:") for a in st.actions)


def _path(st: Statement, rest: str = "") -> str:
    return f"Statement[{st.index}]{rest}"


# -- rules ------------------------------------------------------------------------------------------------------


def source_ip(st: Statement, place: Place) -> Iterator[LintFinding]:
    """EC2 makes its KMS calls from AWS's network (and Decrypt as the instance's own identity): a condition on
    aws:SourceIp, aws:VpcSourceIp, aws:SourceVpc or aws:SourceVpce cannot hold for them. A Deny needs the
    exemption the doctor adds (``kmslaunch.doctor.perimeter``: one recommendation for one statement, whichever
    tool finds it); an Allow with such a condition never applies to EC2's calls."""
    ips = [c for c in st.conditions if c.key_lower in _SOURCE_KEYS]
    covered = _covers(st, EC2_KMS_ACTIONS)
    if not ips or not covered:
        return
    c = ips[0]
    if st.effect is Effect.DENY:
        missing = perimeter_exemption(st)
        if not missing:
            return
        yield LintFinding(
            "source-ip-deny",
            place.account,
            place.region,
            place.resource,
            place.policy,
            c.path,
            f"Deny {st.label} with {c.operator} {c.key} catches {', '.join(covered)} as EC2 makes them for a launch "
            "(from EC2's network, Decrypt as the instance's identity aws:ec2-infrastructure): encrypted volumes "
            "fail to attach",
            recommendation(missing),
        )
    elif place.key_policy or "kms:decrypt" in covered:
        yield LintFinding(
            "source-ip-allow",
            place.account,
            place.region,
            place.resource,
            place.policy,
            c.path,
            f"Allow {st.label} requires {c.key} for {', '.join(covered)}: EC2's calls for a launch never come from "
            "your network, so this statement never allows them",
            "allow EC2's calls with a separate statement conditioned on kms:ViaService ec2.<region>.amazonaws.com",
        )


def parser_warnings(policy: Policy, place: Place, statements: set[int] | None) -> Iterator[LintFinding]:
    """The parser's warnings on the policy (only those of ``statements`` when given), each under its rule."""
    for issue in policy.warnings:
        m = _STATEMENT.match(issue.path)
        if statements is not None and (m is None or int(m.group(1)) not in statements):
            continue
        yield LintFinding(
            _rule_of(issue),
            place.account,
            place.region,
            place.resource,
            place.policy,
            issue.path,
            issue.message,
            issue.suggestion,
        )


def _rule_of(issue: Issue) -> str:
    if "kms:ViaService value" in issue.message:
        return "via-service-format"
    if "GrantIsForAWSResource" in issue.message:
        return "grant-is-for-aws-resource"
    if "matches no" in issue.message and ("Action" in issue.path):
        return "unknown-action"
    return "policy-warning"


def service_principal(st: Statement, place: Place) -> Iterator[LintFinding]:
    """Auto Scaling, EC2 Fleet and Spot call KMS as their service-linked role, never as the service principal:
    a key policy must name the role's ARN."""
    if st.principal is None or st.effect is not Effect.ALLOW:
        return
    for i, service in enumerate(st.principal.service):
        role = _SLR_SERVICES.get(service.lower())
        if role is None:
            continue
        arn = f"arn:aws:iam::{place.account}:role/aws-service-role/{service.lower()}/{role}"
        yield LintFinding(
            "service-principal-for-slr",
            place.account,
            place.region,
            place.resource,
            place.policy,
            _path(st, f".Principal.Service[{i}]" if len(st.principal.service) > 1 else ".Principal.Service"),
            f'"Service": "{service}" never matches: {service} launches instances as its service-linked role {role}',
            f'"AWS": "{arn}"',
        )


def _account_of(entry: str) -> str | None:
    if re.fullmatch(r"\d{12}", entry):
        return entry
    parts = entry.split(":")
    return parts[4] if len(parts) >= 6 and parts[0] == "arn" and re.fullmatch(r"\d{12}", parts[4]) else None


def shared_with(key: Key) -> set[str]:
    """Accounts other than the key's that its policy allows or its grants name."""
    out: set[str] = set()
    for st in key.policy.policy.statements if key.policy_known else ():
        if st.effect is Effect.ALLOW and st.principal is not None and not st.not_principal:
            out |= {a for e in st.principal.aws if (a := _account_of(e))}
    for g in key.grants:
        if a := _account_of(g.grantee):
            out.add(a)
    out.discard(key.account)
    return out


def caller_account(st: Statement, place: Place, shared: set[str]) -> Iterator[LintFinding]:
    """A statement meant for other accounts that requires kms:CallerAccount to be one account refuses them all:
    the caller's account is theirs, not the key's."""
    if st.effect is not Effect.ALLOW or st.principal is None or not shared:
        return
    for c in st.conditions:
        if c.key_lower != "kms:calleraccount" or c.operator.lower() not in ("stringequals", "stringequalsignorecase"):
            continue
        if any("*" in v or "?" in v for v in c.values):
            continue
        named = {a for e in st.principal.aws if (a := _account_of(e))}
        reached = (named | (shared if st.principal.wildcard else set())) - set(c.values)
        reached &= shared | named - {place.account}
        if reached:
            yield LintFinding(
                "caller-account-pinned",
                place.account,
                place.region,
                place.resource,
                place.policy,
                c.path,
                f"kms:CallerAccount must be {', '.join(c.values)}, but the key is shared with "
                f"{', '.join(sorted(reached))}: their calls never match {st.label}",
                f"list every account that uses the key: {sorted(set(c.values) | reached)}",
            )


def missing_principal(st: Statement, place: Place, world: World) -> Iterator[LintFinding]:
    """Key policies name principals by ARN; KMS shows a deleted one by its unique id. Either way the statement
    allows no one."""
    if st.principal is None:
        return
    for i, entry in enumerate(st.principal.aws):
        where = _path(st, f".Principal.AWS[{i}]" if len(st.principal.aws) > 1 else ".Principal.AWS")
        if _UNIQUE_ID.match(entry):
            yield LintFinding(
                "missing-principal",
                place.account,
                place.region,
                place.resource,
                place.policy,
                where,
                f"{entry} is the unique id of a deleted role or user: KMS shows a principal that way once it is gone",
                "name the principal that replaced it by ARN",
            )
            continue
        m = _IAM_ARN.match(entry)
        if m is None or m.group(1) not in world.accounts or not world.accounts[m.group(1)].iam.known:
            continue
        iam = world.accounts[m.group(1)].iam
        if _exists(iam, m.group(2), entry):
            continue
        name = m.group(3).rsplit("/", 1)[-1]
        same = iam.roles.get(name) if m.group(2) == "role" else iam.users.get(name)
        yield LintFinding(
            "missing-principal",
            place.account,
            place.region,
            place.resource,
            place.policy,
            where,
            f"{entry}: no such {m.group(2)} in account {m.group(1)}'s IAM"
            + (f" (there is {same.arn}: the path differs)" if same is not None else ""),
            f'"{same.arn}"' if same is not None else None,
        )


def _exists(iam: Iam, kind: str, arn: str) -> bool:
    items = iam.roles.values() if kind == "role" else iam.users.values()
    return any(x.arn == arn for x in items)


# -- the world ----------------------------------------------------------------------------------------------------


def lint_key(key: Key, world: World) -> list[LintFinding]:
    """Every rule on one key policy."""
    if not key.policy_known or key.manager is KeyManager.AWS:
        return []
    policy = key.policy.policy
    place = Place(key.account, key.region, key.arn, "key policy", True)
    out = list(parser_warnings(policy, place, None))
    shared = shared_with(key)
    for st in policy.statements:
        out += source_ip(st, place)
        out += service_principal(st, place)
        out += caller_account(st, place, shared)
        out += missing_principal(st, place, world)
    return out


def lint_identity(policy: Policy, place: Place) -> list[LintFinding]:
    """The rules that apply to IAM policies, on their KMS statements only."""
    kms = {st.index for st in policy.statements if _kms_statement(st)}
    if not kms:
        return []
    out = list(parser_warnings(policy, place, kms))
    for st in policy.statements:
        if st.index in kms:
            out += source_ip(st, place)
    return out


def lint_world(world: World) -> list[LintFinding]:
    """Every key policy and every IAM policy with KMS statements in the world; an AWS managed policy once."""
    out: list[LintFinding] = []
    seen_managed: set[str] = set()
    for account in sorted(world.accounts):
        acct = world.accounts[account]
        for region in sorted(acct.regions):
            for key_id in sorted(acct.regions[region].kms.keys):
                out += lint_key(acct.regions[region].kms.keys[key_id], world)
        iam = acct.iam
        for arn in sorted(iam.policies):
            mp = iam.policies[arn]
            if mp.aws_managed:
                if arn in seen_managed:
                    continue
                seen_managed.add(arn)
            out += lint_identity(mp.document.policy, Place(account, None, arn, mp.name, False))
        for kind, holders in (("user", iam.users), ("group", iam.groups), ("role", iam.roles)):
            for name in sorted(holders):
                h = holders[name]
                for pname, doc in h.inline.items():
                    out += lint_identity(
                        doc.policy, Place(account, None, h.arn, f"{kind} {name} inline {pname}", False)
                    )
    return out
