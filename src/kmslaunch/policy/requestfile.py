"""The REQUEST.json that ``kmslaunch authorize`` decides: one request and every policy that takes part.

Shape (any policy field may be absent; documents are JSON objects or strings, URL-encoded too)::

    {"principal": "arn:aws:iam::111122223333:user/alice", "action": "kms:CreateGrant",
     "resource": "arn:aws:kms:us-east-1:111122223333:key/…",
     "context": {"aws:SourceIp": "203.0.113.10", "kms:GrantIsForAWSResource": true},
     "identity_policies": [{"name": "…", "document": {…}}], "resource_policy": {…},
     "permissions_boundary": {…}, "session_policies": [{…}], "scps": [[{…}], [{…}]], "rcps": [[{…}]],
     "grants": [{…list-grants shape…}]}

Optional extras: ``principal_arn`` (a session's role ARN with its path), ``principal_tags``, ``userid``,
``encryption_context``, ``key_manager`` ("AWS" or "CUSTOMER"), ``organization``
({"management_account": "…", "id": "o-…"}), ``resource_account`` (the owner of a resource whose ARN names no
account; else ``aws:ResourceAccount`` from the context decides it), ``vpce_policy`` (the policy of the VPC
endpoint the request comes through), ``vpce`` and ``vpc`` (that endpoint's id and its VPC's, which become
``aws:SourceVpce`` and ``aws:SourceVpc``).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Any

from kmslaunch.policy.catalog import KeyType, lookup_condition_key
from kmslaunch.policy.errors import Issue, PolicyValidationError, Severity, error, warning
from kmslaunch.policy.evaluate import Organization, PolicySet, Request
from kmslaunch.policy.grants import Grant, parse_grant
from kmslaunch.policy.model import Policy, PolicyType
from kmslaunch.policy.parse import parse_policy
from kmslaunch.policy.principals import PrincipalError, PrincipalType, parse_principal

_FIELDS = {
    "principal",
    "principal_arn",
    "principal_tags",
    "userid",
    "action",
    "resource",
    "context",
    "encryption_context",
    "identity_policies",
    "resource_policy",
    "permissions_boundary",
    "session_policies",
    "scps",
    "rcps",
    "grants",
    "key_manager",
    "organization",
    "resource_account",
    "vpce_policy",
    "vpce",
    "vpc",
}
_ACCOUNT_ID = re.compile(r"^\d{12}$")
_VPCE_ID = re.compile(r"^vpce-[0-9a-f]{8,17}$")
_VPC_ID = re.compile(r"^vpc-[0-9a-f]{8,17}$")


def context_value(value: object) -> tuple[str, ...] | None:
    """A request-context value as IAM compares it: text, booleans as true/false, lists as several values."""
    if isinstance(value, bool):
        return ("true" if value else "false",)
    if isinstance(value, int | float):
        return (str(value),)
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        out: list[str] = []
        for v in value:
            one = context_value(v)
            if one is None or len(one) != 1:
                return None
            out.extend(one)
        return tuple(out)
    return None


def normalise_context(raw: Mapping[str, Any], path: str, issues: list[Issue]) -> dict[str, tuple[str, ...]]:
    ctx: dict[str, tuple[str, ...]] = {}
    for key, value in raw.items():
        v = context_value(value)
        if v is None:
            issues.append(error(f"{path}.{key}", "expected a string, number, boolean or a list of them"))
            continue
        known = lookup_condition_key(str(key))
        if known is not None and known.type is KeyType.IP:
            # An IPAddress key (aws:SourceIp, aws:VpcSourceIp) carries the address a request came from: one
            # address, never a range (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-sourceip).
            bad = [x for x in v if not is_ip_address(x)]
            if bad:
                issues.append(error(f"{path}.{key}", f'"{bad[0]}" is not an IP address (expected e.g. 203.0.113.10)'))
                continue
        ctx[str(key).lower()] = v
    return ctx


def is_ip_address(text: str) -> bool:
    """Whether ``text`` is one IP address (v4 or v6), not a range: what aws:SourceIp holds in a request."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def load_request(data: object, source: str) -> tuple[Request, PolicySet, tuple[Issue, ...]]:
    """Read a request file's JSON. Raises PolicyValidationError with every problem; returns warnings."""
    issues: list[Issue] = []
    if not isinstance(data, Mapping):
        raise PolicyValidationError(source, [error("", "expected a JSON object")])
    for key in data:
        if key not in _FIELDS:
            issues.append(error(str(key), f"unknown field (expected one of {', '.join(sorted(_FIELDS))})"))

    def text(name: str, required: bool) -> str | None:
        v = data.get(name)
        if v is None:
            if required:
                issues.append(error(name, "missing"))
            return None
        if not isinstance(v, str) or not v:
            issues.append(error(name, "expected a non-empty string"))
            return None
        return v

    principal_text = text("principal", True)
    action = text("action", True)
    resource = text("resource", True) or ""
    role_arn = text("principal_arn", False)
    userid = text("userid", False)
    tags_raw = data.get("principal_tags") or {}
    if not isinstance(tags_raw, Mapping) or not all(isinstance(v, str) for v in tags_raw.values()):
        issues.append(error("principal_tags", "expected an object of string values"))
        tags_raw = {}
    org_raw = data.get("organization") or {}
    if not isinstance(org_raw, Mapping):
        issues.append(error("organization", "expected an object"))
        org_raw = {}
    org = Organization(org_raw.get("management_account"), org_raw.get("id"))

    principal = None
    if principal_text:
        try:
            principal = parse_principal(
                principal_text, role_arn=role_arn, userid=userid, tags=dict(tags_raw), org_id=org.org_id
            )
        except PrincipalError as exc:
            issues.append(error("principal", str(exc)))
    if principal is not None and principal.type is PrincipalType.ANONYMOUS and action:
        service = action.split(":", 1)[0].lower()
        if service != "s3":
            # "Every interaction with Amazon S3 is either authenticated or anonymous"
            # (https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-authenticating-requests.html); other APIs take
            # only signed requests (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv.html).
            issues.append(
                warning(
                    "principal",
                    f"an anonymous caller: {service} takes only signed requests, so AWS would refuse this before "
                    "any policy is read",
                )
            )

    ctx_raw = data.get("context") or {}
    if not isinstance(ctx_raw, Mapping):
        issues.append(error("context", "expected an object"))
        ctx_raw = {}
    ctx = normalise_context(ctx_raw, "context", issues)
    # The VPC endpoint the request comes through, and its VPC: aws:SourceVpce and aws:SourceVpc, unless the
    # context gives them (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-sourcevpce).
    for name, key, pattern, example in (
        ("vpce", "aws:sourcevpce", _VPCE_ID, "vpce-1a2b3c4d"),
        ("vpc", "aws:sourcevpc", _VPC_ID, "vpc-1a2b3c4d"),
    ):
        given = text(name, False)
        if given is None:
            continue
        if not pattern.match(given):
            issues.append(error(name, f'"{given}" is not a {name.upper()} id (expected e.g. {example})'))
        else:
            ctx.setdefault(key, (given,))
    enc = data.get("encryption_context")
    if enc is None:
        # The request's encryption context, recovered (case preserved) from kms:EncryptionContext:<k> keys.
        enc = {
            k.split(":", 2)[2]: ctx[k.lower()][0]
            for k in ctx_raw
            if k.lower().startswith("kms:encryptioncontext:") and len(ctx.get(k.lower(), ())) == 1
        }
    elif not isinstance(enc, Mapping) or not all(isinstance(v, str) for v in enc.values()):
        issues.append(error("encryption_context", "expected an object of string values"))
        enc = {}

    def policy(raw: object, path: str, ptype: PolicyType, default_name: str) -> Policy | None:
        name = default_name
        doc = raw
        if isinstance(raw, Mapping) and "document" in raw:
            doc = raw["document"]
            name = str(raw.get("name") or default_name)
            path = f"{path}.document"
        try:
            pol = parse_policy(doc, ptype, name)
        except PolicyValidationError as exc:
            issues.extend(_prefixed(path, exc.issues))
            return None
        issues.extend(_prefixed(path, pol.warnings))
        return pol

    def policy_list(name: str, ptype: PolicyType) -> tuple[Policy, ...]:
        raw = data.get(name) or []
        if not isinstance(raw, list):
            issues.append(error(name, "expected a list"))
            return ()
        got = (policy(r, f"{name}[{i}]", ptype, f"{name}[{i}]") for i, r in enumerate(raw))
        return tuple(p for p in got if p is not None)

    def levels(name: str, ptype: PolicyType) -> tuple[tuple[Policy, ...], ...]:
        raw = data.get(name) or []
        if not isinstance(raw, list) or not all(isinstance(level, list) for level in raw):
            issues.append(error(name, "expected a list of levels (root first), each a list of policies"))
            return ()
        out = []
        for li, level in enumerate(raw):
            pols = (policy(r, f"{name}[{li}][{i}]", ptype, f"{name}[{li}][{i}]") for i, r in enumerate(level))
            out.append(tuple(p for p in pols if p is not None))
        return tuple(out)

    is_key = bool(action and action.lower().startswith("kms:"))
    # A role's trust policy is the resource policy of sts:AssumeRole*, and it must allow
    # (https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_terms-and-concepts.html).
    is_trust = bool(action and action.lower().startswith("sts:assumerole"))
    resource_policy = None
    if data.get("resource_policy") is not None:
        rtype = PolicyType.KEY if is_key else PolicyType.TRUST if is_trust else PolicyType.RESOURCE
        resource_policy = policy(data["resource_policy"], "resource_policy", rtype, "resource_policy")
    boundary = None
    if data.get("permissions_boundary") is not None:
        boundary = policy(
            data["permissions_boundary"],
            "permissions_boundary",
            PolicyType.PERMISSIONS_BOUNDARY,
            "permissions_boundary",
        )
    vpce_policy = None
    if data.get("vpce_policy") is not None:
        vpce_policy = policy(data["vpce_policy"], "vpce_policy", PolicyType.VPC_ENDPOINT, "vpce_policy")
    identity = policy_list("identity_policies", PolicyType.IDENTITY)
    session = policy_list("session_policies", PolicyType.SESSION)
    scps = levels("scps", PolicyType.SCP)
    rcps = levels("rcps", PolicyType.RCP)
    grants: list[Grant] = []
    raw_grants = data.get("grants") or []
    if not isinstance(raw_grants, list):
        issues.append(error("grants", "expected a list of grants (list-grants shape)"))
        raw_grants = []
    for i, g in enumerate(raw_grants):
        grant, gi = parse_grant(g, f"grants[{i}]")
        issues.extend(gi)
        if grant is not None:
            grants.append(grant)
    # The owner of a resource whose ARN names no account (S3: arn:aws:s3:::bucket); else aws:ResourceAccount
    # from the context, else the ARN's account.
    owner = text("resource_account", False)
    if owner is not None and not _ACCOUNT_ID.match(owner):
        issues.append(error("resource_account", f'"{owner}" is not an account id (expected 12 digits)'))
    manager = data.get("key_manager", "CUSTOMER")
    if manager not in ("AWS", "CUSTOMER"):
        issues.append(error("key_manager", 'expected "AWS" or "CUSTOMER"'))

    if any(i.severity is Severity.ERROR for i in issues) or principal is None or action is None:
        raise PolicyValidationError(source, issues)
    req = Request(principal, action, resource, ctx, enc or None)
    ps = PolicySet(
        identity=identity,
        resource=resource_policy,
        boundary=boundary,
        session=session,
        scps=scps,
        rcps=rcps,
        grants=tuple(grants),
        resource_account=owner,
        vpc_endpoint=vpce_policy,
        key_managed_by_aws=manager == "AWS",
        organization=org,
        resource_policy_required=is_trust,
    )
    return req, ps, tuple(issues)


def _prefixed(prefix: str, issues: tuple[Issue, ...]) -> list[Issue]:
    return [Issue(i.severity, f"{prefix}.{i.path}" if i.path else prefix, i.message, i.suggestion) for i in issues]
