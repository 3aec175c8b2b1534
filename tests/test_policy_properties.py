"""Property tests of the policy engine against small reference models (Hypothesis).

- Wildcard matching against a dynamic-programming matcher of ``*`` and ``?`` written here, and StringLike /
  ArnLike conditions against the same matcher applied per value and per ARN component.
- Robustness: whatever JSON comes in, ``parse_policy`` and ``load_request`` return a value or raise
  ``PolicyValidationError``, and whatever they return can be decided, with the fast and the explained path
  agreeing.
- Evaluation laws on generated policy sets: a matching Deny always denies; removing Deny statements never
  turns allowed into denied, adding an Allow statement never turns allowed into denied; a KMS key without a
  key policy is usable only through a grant; the fast path and the explained path agree.

The examples per test are kept small so the whole file runs in a few seconds; raise them locally with
``--hypothesis-seed`` and a bigger ``max_examples`` when hunting.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from kmslaunch.assumptions import ASSUMPTIONS
from kmslaunch.policy.conditions import parse_condition_block
from kmslaunch.policy.decision import Decision, Verdict
from kmslaunch.policy.errors import PolicyValidationError
from kmslaunch.policy.evaluate import PolicySet, Request, authorize, is_kms_key
from kmslaunch.policy.grants import Grant, parse_grant
from kmslaunch.policy.model import Policy, PolicyType
from kmslaunch.policy.parse import parse_policy
from kmslaunch.policy.principals import parse_principal
from kmslaunch.policy.requestfile import load_request
from kmslaunch.policy.scan import authorize_by_scan
from kmslaunch.policy.wildcard import glob_match


def runs(n: int) -> settings:
    """``n`` examples, no deadline: first calls compile regular expressions and load botocore's catalog."""
    return settings(
        max_examples=n, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
    )


# ---------------------------------------------------------------------------------------------------------
# Wildcards


def ref_glob(pattern: str, value: str, ignore_case: bool = False) -> bool:
    """Reference: ``*`` any run of characters (newlines too), ``?`` exactly one, the rest literal.

    Dynamic programming over the pattern: ``row[j]`` tells whether the pattern so far matches ``value[:j]``.
    Case-insensitive compares lower-cased text, which is exact for the ASCII alphabets generated here.
    """
    if ignore_case:
        pattern, value = pattern.lower(), value.lower()
    row = [True] + [False] * len(value)
    for ch in pattern:
        nxt = [False] * (len(value) + 1)
        if ch == "*":
            seen = False
            for j in range(len(value) + 1):
                seen = seen or row[j]
                nxt[j] = seen
        else:
            for j in range(1, len(value) + 1):
                nxt[j] = row[j - 1] and (ch in ("?", value[j - 1]))
        row = nxt
    return row[len(value)]


# Wildcards, separators, regular-expression metacharacters, letters in both cases, a newline.
ALPHABET = "*?:/.+([\\$^|{}aAbB-\n"
VALUE_ALPHABET = ALPHABET.replace("*", "").replace("?", "") + "*?"  # values may hold literal * and ?
patterns = st.text(ALPHABET, max_size=8)
values = st.text(VALUE_ALPHABET, max_size=10)


@runs(400)
@given(patterns, values, st.booleans())
def test_glob_match_agrees_with_reference(pattern: str, value: str, ignore_case: bool) -> None:
    assert glob_match(pattern, value, ignore_case) == ref_glob(pattern, value, ignore_case)


@runs(200)
@given(patterns, st.booleans())
def test_glob_matches_itself_once_wildcards_are_literal(pattern: str, ignore_case: bool) -> None:
    # A pattern matches its own text (each * matches itself, each ? one character): a value equal to the pattern.
    assert glob_match(pattern, pattern, ignore_case)
    # The value built by deleting every * matches too (each * matches the empty string).
    assert glob_match(pattern, pattern.replace("*", ""), ignore_case)


@runs(150)
@given(st.lists(patterns, min_size=1, max_size=4), st.lists(values, min_size=1, max_size=3))
def test_string_like_agrees_with_reference(pats: list[str], vals: list[str]) -> None:
    # Several StringLike values compile into one alternation; it must be their OR.
    # "${" opens a policy variable in condition values; glob_match itself knows no variables.
    assume(not any("${" in p for p in pats))
    conds, issues = parse_condition_block({"StringLike": {"k": pats}}, "C")
    assert not issues
    (cond,) = conds
    ctx = {"k": tuple(vals)}
    expected = any(ref_glob(p, v) for p in pats for v in vals)
    assert cond.holds(ctx) == expected


def ref_arn_like(pattern: str, value: str) -> bool:
    """ArnLike: six colon-separated components each matched alone; the sixth takes the rest, colons and all."""
    p, v = pattern.split(":", 5), value.split(":", 5)
    if len(p) < 6 or len(v) < 6:
        return False
    return all(ref_glob(a, b) for a, b in zip(p, v, strict=True))


arn_parts = st.text("*?ab:/-", max_size=4)
arns = st.lists(arn_parts, min_size=4, max_size=8).map(":".join)


@runs(200)
@given(st.lists(arns, min_size=1, max_size=3), arns)
def test_arn_like_agrees_with_reference(pats: list[str], value: str) -> None:
    conds, _ = parse_condition_block({"ArnLike": {"aws:SourceArn": pats}}, "C")
    (cond,) = conds
    expected = any(ref_arn_like(p, value) for p in pats)
    assert cond.holds({"aws:sourcearn": (value,)}) == expected


# ---------------------------------------------------------------------------------------------------------
# Pools shared by the generators below

ACCOUNT = "111122223333"
OTHER = "444455556666"
KEY = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
OTHER_KEY = f"arn:aws:kms:us-east-1:{OTHER}:key/0000abcd-12ab-34cd-56ef-1234567890ab"
ALICE = f"arn:aws:iam::{ACCOUNT}:user/alice"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/app"
SESSION = f"arn:aws:sts::{ACCOUNT}:assumed-role/app/i-0123"
BOB = f"arn:aws:iam::{OTHER}:user/bob"

CALLERS = (ALICE, ROLE, SESSION, BOB, f"arn:aws:iam::{ACCOUNT}:root", "ec2.amazonaws.com")
ACTIONS = ("kms:Decrypt", "kms:CreateGrant", "kms:Encrypt", "kms:DescribeKey", "s3:GetObject", "ec2:RunInstances")
RESOURCES = (KEY, OTHER_KEY, "arn:aws:s3:::bucket/obj", "*")

OPERATORS = (
    "StringEquals",
    "StringNotEquals",
    "StringLike",
    "StringNotLikeIfExists",
    "StringEqualsIgnoreCase",
    "ForAllValues:StringEquals",
    "ForAnyValue:StringLike",
    "Null",
    "NullIfExists",
    "Bool",
    "BoolIfExists",
    "NumericLessThan",
    "NumericGreaterThanEquals",
    "DateGreaterThan",
    "DateLessThanIfExists",
    "IpAddress",
    "NotIpAddress",
    "ArnLike",
    "ArnNotEquals",
    "BinaryEquals",
    "stringequals",  # wrongly cased
    "StringEqual",  # misspelt
)
CONDITION_KEYS = (
    "aws:SourceIp",
    "kms:ViaService",
    "kms:CallerAccount",
    "kms:GrantIsForAWSResource",
    "aws:PrincipalArn",
    "aws:PrincipalTag/team",
    "aws:CurrentTime",
    "kms:EncryptionContextKeys",
    "aws:RequestTag/${aws:username}",
    "s3:prefix",
)
CONDITION_VALUES = (
    "true",
    "false",
    "10.0.0.0/8",
    "2001:db8::/32",
    "203.0.113.5",
    "2024-01-01T00:00:00Z",
    "1700000000",
    "2024-13",
    "42",
    "-1.5e3",
    "aGVsbG8=",
    "not base64!",
    "ec2.us-east-1.amazonaws.com",
    "*.amazonaws.com",
    ACCOUNT,
    "arn:aws:iam::*:role/*",
    "arn:aws:iam::${aws:PrincipalAccount}:user/${aws:username}",
    "${aws:username}",
    "${aws:PrincipalTag/team, 'none'}",
    "${*}${?}${$}",
    "${",
    "*",
    "",
)

# ---------------------------------------------------------------------------------------------------------
# Any JSON, and JSON shaped like policies and requests

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
any_json = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=16,
)


def one_or_list(element: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return element | st.lists(element, max_size=3)


def sometimes_junk(element: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly well-formed values, sometimes anything at all."""
    return st.one_of(element, element, element, any_json)


action_texts = st.sampled_from(
    [
        "*",
        "kms:*",
        "kms:Decrypt",
        "kms:Create*",
        "kms:ReEncrypt",
        "kms:?ecrypt",
        "s3:GetObject",
        "ec2:*",
        "bad",
        "a:b:c",
    ]
) | st.text(max_size=10)
resource_texts = st.sampled_from(
    ["*", KEY, OTHER_KEY, "arn:aws:kms:*:111122223333:key/*", "arn:aws:s3:::bucket/${aws:username}/*", "${x"]
) | st.text(max_size=10)
principal_entries = st.sampled_from([ALICE, ROLE, SESSION, BOB, ACCOUNT, OTHER, "*", "arn:aws:iam::*:root", "x"])
principal_values = st.one_of(
    st.just("*"),
    st.dictionaries(
        st.sampled_from(["AWS", "Service", "Federated", "CanonicalUser", "aws"]),
        sometimes_junk(one_or_list(principal_entries | st.just("ec2.amazonaws.com"))),
        max_size=2,
    ),
    any_json,
)
condition_blocks = st.dictionaries(
    st.sampled_from(OPERATORS) | st.text(max_size=6),
    sometimes_junk(
        st.dictionaries(
            st.sampled_from(CONDITION_KEYS),
            sometimes_junk(one_or_list(st.sampled_from(CONDITION_VALUES) | st.booleans() | st.integers())),
            max_size=2,
        )
    ),
    max_size=3,
)
statement_like = st.fixed_dictionaries(
    {},
    optional={
        "Sid": sometimes_junk(st.sampled_from(["A", "B", "Use"])),
        "Effect": sometimes_junk(st.sampled_from(["Allow", "Deny", "allow"])),
        "Action": sometimes_junk(one_or_list(action_texts)),
        "NotAction": sometimes_junk(one_or_list(action_texts)),
        "Resource": sometimes_junk(one_or_list(resource_texts)),
        "NotResource": sometimes_junk(one_or_list(resource_texts)),
        "Principal": principal_values,
        "NotPrincipal": principal_values,
        "Condition": sometimes_junk(condition_blocks),
        "Bogus": any_json,
    },
)
policy_like = st.fixed_dictionaries(
    {"Statement": sometimes_junk(statement_like | st.lists(statement_like, max_size=4))},
    optional={
        "Version": sometimes_junk(st.sampled_from(["2012-10-17", "2008-10-17", "2012-10-18"])),
        "Id": sometimes_junk(st.just("key-default-1")),
        "Extra": any_json,
    },
)
# Documents as IAM hands them out too: JSON text, URL-encoded JSON text, and broken text.
policy_documents = st.one_of(
    policy_like,
    policy_like,
    any_json,
    policy_like.map(json.dumps),
    policy_like.map(lambda d: quote(json.dumps(d))),
    st.text(max_size=20),
)

SIMPLE_REQUESTS = (
    Request(parse_principal(ALICE), "kms:Decrypt", KEY, {"aws:sourceip": ("10.1.2.3",)}),
    Request(
        parse_principal(SESSION, tags={"team": "blue"}),
        "kms:CreateGrant",
        KEY,
        {"kms:grantisforawsresource": ("true",), "kms:viaservice": ("ec2.us-east-1.amazonaws.com",)},
    ),
    Request(parse_principal(BOB), "s3:GetObject", "arn:aws:s3:::bucket/bob/x"),
    Request(parse_principal("ec2.amazonaws.com"), "kms:Encrypt", OTHER_KEY),
)


ASSUMPTION_IDS = {a.id for a in ASSUMPTIONS}


def decide_both(req: Request, ps: PolicySet) -> tuple[Decision, Decision]:
    """Decide with the plain path, the explained path and the statement-by-statement scan: the plain and
    explained paths must give the same verdict and layers, and the explained path (compiled, its near misses
    found when read) must equal the scan in every part: deciding statements, partial ones, assumptions and
    near misses. A second decision against the same set (served from the plan's memo) and one against a
    copy of the set (a new PolicySet of the same policies, as the world makes for every request) must be the
    same again."""
    fast = authorize(req, ps)
    full = authorize(req, ps, explain=True)
    reference = authorize_by_scan(req, ps)
    assert fast.verdict is full.verdict, (fast, full)
    assert fast.denied_by == full.denied_by, (fast, full)
    assert not full.near.computed or full.near_misses == ()  # found when read, not before
    assert (full.verdict, full.denied_by, full.decided_by) == (
        reference.verdict,
        reference.denied_by,
        reference.decided_by,
    ), (full, reference)
    assert (full.partial, full.assumptions) == (reference.partial, reference.assumptions), (full, reference)
    assert full.near_misses == reference.near_misses, (full.near_misses, reference.near_misses)
    assert full == reference
    again, fresh = authorize(req, ps, explain=True), authorize(req, dataclasses.replace(ps), explain=True)
    assert again == full == fresh, (again, full, fresh)
    assert authorize(req, ps) == fast == authorize(req, dataclasses.replace(ps))
    assert full.explained and not fast.explained
    assert not fast.decided_by and not fast.near_misses and not fast.assumptions
    assert set(full.assumptions) <= ASSUMPTION_IDS, full.assumptions
    if full.verdict is Verdict.ALLOWED:
        assert full.decided_by and not full.denied_by
    elif full.verdict is Verdict.EXPLICIT_DENY:
        assert full.decided_by and all(r.effect.value == "Deny" for r in full.decided_by)
    else:
        assert full.denied_by
    json.dumps(full.to_json())  # reasons are plain data
    return fast, full


def placements(pol: Policy) -> list[PolicySet]:
    """The policy as an identity policy, as the key (resource) policy, and at the place its type has."""
    out = [PolicySet(identity=(pol,)), PolicySet(resource=pol), PolicySet(identity=(pol,), resource=pol)]
    if pol.type is PolicyType.PERMISSIONS_BOUNDARY:
        out.append(PolicySet(identity=(pol,), boundary=pol))
    elif pol.type is PolicyType.SESSION:
        out.append(PolicySet(identity=(pol,), session=(pol,)))
    elif pol.type is PolicyType.SCP:
        out.append(PolicySet(identity=(pol,), scps=((pol,), (pol,))))
    elif pol.type is PolicyType.RCP:
        out.append(PolicySet(resource=pol, rcps=((pol,),)))
    return out


@runs(300)
@given(policy_documents, st.sampled_from(SIMPLE_REQUESTS))
def test_any_document_parses_or_is_rejected_and_then_decides(doc: object, req: Request) -> None:
    for ptype in PolicyType:
        try:
            pol = parse_policy(doc, ptype, "p")
        except PolicyValidationError as exc:
            assert exc.issues, "a rejection says why"
            continue
        assert isinstance(pol, Policy)
        for ps in placements(pol):
            decide_both(req, ps)


grant_like = st.fixed_dictionaries(
    {
        "GranteePrincipal": sometimes_junk(st.sampled_from([ALICE, ROLE, SESSION, BOB, ACCOUNT])),
        # Scalars only: a list or object among the operations is test_grant_operation_that_is_a_list below.
        "Operations": st.one_of(
            st.lists(st.sampled_from(["Decrypt", "Encrypt", "CreateGrant", "DescribeKey", "RetireGrant"]), max_size=3),
            st.lists(json_scalars, max_size=3),
            json_scalars,
        ),
    },
    optional={
        "GrantId": sometimes_junk(st.sampled_from(["g1", "g2"])),
        "Constraints": sometimes_junk(
            st.dictionaries(
                st.sampled_from(["EncryptionContextSubset", "EncryptionContextEquals"]),
                sometimes_junk(st.dictionaries(st.sampled_from(["Dept", "dept"]), st.sampled_from(["IT", "it"]))),
                max_size=2,
            )
        ),
    },
)
named_policy = policy_like | st.fixed_dictionaries(
    {"document": sometimes_junk(policy_like)}, optional={"name": sometimes_junk(st.just("n"))}
)
request_like = st.fixed_dictionaries(
    {
        "principal": sometimes_junk(st.sampled_from([*CALLERS, "*", ACCOUNT, "arn:aws:iam::1:user/x", ""])),
        "action": sometimes_junk(st.sampled_from(ACTIONS)),
        "resource": sometimes_junk(st.sampled_from(RESOURCES)),
    },
    optional={
        "principal_arn": sometimes_junk(st.just(ROLE)),
        "principal_tags": sometimes_junk(st.dictionaries(st.sampled_from(["team", "Team"]), st.just("blue"))),
        "userid": sometimes_junk(st.just("AIDAEXAMPLE")),
        "context": sometimes_junk(
            st.dictionaries(
                st.sampled_from([*CONDITION_KEYS, "kms:EncryptionContext:Dept", "kms:encryptioncontext:dept"]),
                sometimes_junk(one_or_list(st.sampled_from(CONDITION_VALUES) | st.booleans() | st.integers())),
                max_size=4,
            )
        ),
        "encryption_context": sometimes_junk(st.dictionaries(st.sampled_from(["Dept"]), st.just("IT"))),
        "identity_policies": sometimes_junk(st.lists(named_policy, max_size=2)),
        "resource_policy": sometimes_junk(named_policy),
        "permissions_boundary": sometimes_junk(named_policy),
        "session_policies": sometimes_junk(st.lists(named_policy, max_size=2)),
        "scps": sometimes_junk(st.lists(st.lists(named_policy, max_size=2), max_size=2)),
        "rcps": sometimes_junk(st.lists(st.lists(named_policy, max_size=1), max_size=2)),
        "grants": sometimes_junk(st.lists(grant_like, max_size=2)),
        "key_manager": sometimes_junk(st.sampled_from(["AWS", "CUSTOMER"])),
        "organization": sometimes_junk(
            st.fixed_dictionaries({}, optional={"management_account": st.just(OTHER), "id": st.just("o-abc")})
        ),
    },
)


@runs(300)
@given(st.one_of(request_like, request_like, any_json))
def test_any_request_file_loads_or_is_rejected_and_then_decides(data: object) -> None:
    try:
        req, ps, _warnings = load_request(data, "REQUEST.json")
    except PolicyValidationError as exc:
        assert exc.issues
        return
    decide_both(req, ps)


# ---------------------------------------------------------------------------------------------------------
# Evaluation laws on well-formed policy sets

pool_actions = st.sampled_from(["*", "kms:*", "kms:Decrypt", "kms:Create*", "kms:*crypt", "s3:GetObject", "ec2:*"])
pool_resources = st.sampled_from(["*", KEY, "arn:aws:kms:*:111122223333:key/*", OTHER_KEY, "arn:aws:s3:::bucket/*"])
pool_principals = st.sampled_from(
    [
        "*",
        {"AWS": "*"},
        {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
        {"AWS": ACCOUNT},
        {"AWS": ALICE},
        {"AWS": ROLE},
        {"AWS": SESSION},
        {"AWS": [BOB, OTHER]},
        {"Service": "ec2.amazonaws.com"},
    ]
)
pool_conditions: st.SearchStrategy[dict[str, dict[str, Any]]] = st.sampled_from(
    [
        {"StringEquals": {"kms:ViaService": "ec2.us-east-1.amazonaws.com"}},
        {"StringLike": {"kms:ViaService": "*.amazonaws.com"}},
        {"StringEquals": {"kms:CallerAccount": ACCOUNT}},
        {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
        {"NotIpAddress": {"aws:SourceIp": ["10.0.0.0/8", "192.168.0.0/16"]}},
        {"StringNotEqualsIfExists": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}},
        {"Null": {"aws:SourceIp": "true"}},
        {"Bool": {"kms:GrantIsForAWSResource": "true"}},
        {"StringEquals": {"aws:PrincipalTag/team": "blue"}},
    ]
)
CONTEXT_CHOICES = {
    "aws:sourceip": ("10.1.2.3", "203.0.113.5"),
    "kms:viaservice": ("ec2.us-east-1.amazonaws.com", "s3.us-east-1.amazonaws.com"),
    "kms:grantisforawsresource": ("true", "false"),
}
OTHER_CONTEXTS = st.fixed_dictionaries(
    {}, optional={k: st.sampled_from(v).map(lambda x: (x,)) for k, v in CONTEXT_CHOICES.items()}
)


@st.composite
def statements(
    draw: st.DrawFn,
    *,
    with_principal: bool,
    rcp: bool = False,
    effects: tuple[str, ...] = ("Allow", "Allow", "Allow", "Deny"),
) -> Any:
    s: dict[str, Any] = {
        "Effect": draw(st.sampled_from(effects)),
        "Action" if draw(st.integers(0, 5)) else "NotAction": draw(one_or_list(pool_actions).filter(bool)),
        "Resource" if draw(st.integers(0, 5)) else "NotResource": draw(pool_resources),
    }
    if rcp:
        s["Principal"] = "*"  # the only Principal an RCP takes
    elif with_principal:
        s["Principal"] = draw(pool_principals)
    conds: dict[str, dict[str, Any]] = {}
    for c in draw(st.lists(pool_conditions, max_size=2)):
        for op, kv in c.items():
            conds.setdefault(op, {}).update(kv)
    if conds:
        s["Condition"] = conds
    return s


def documents(with_principal: bool, rcp: bool = False) -> st.SearchStrategy[dict[str, Any]]:
    return st.builds(
        lambda sts: {"Version": "2012-10-17", "Statement": sts},
        st.lists(statements(with_principal=with_principal, rcp=rcp), min_size=1, max_size=4),
    )


FULL_ACCESS = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
RCP_FULL_ACCESS = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}],
}


@st.composite
def scenarios(draw: st.DrawFn, kms_key: bool = False) -> dict[str, Any]:
    """A REQUEST.json of well-formed pieces: every layer may be present, each drawn from the pools.

    ``kms_key``: only KMS actions on keys.
    """
    caller = draw(st.sampled_from(CALLERS[:5]))
    data: dict[str, Any] = {
        "principal": caller,
        "action": draw(st.sampled_from([a for a in ACTIONS if a.startswith("kms:") or not kms_key])),
        "resource": draw(st.sampled_from([KEY, OTHER_KEY] if kms_key else RESOURCES)),
        "context": {k: draw(st.sampled_from(v)) for k, v in CONTEXT_CHOICES.items() if draw(st.booleans())},
        "identity_policies": [
            {"name": f"id{i}", "document": d} for i, d in enumerate(draw(st.lists(documents(False), max_size=3)))
        ],
    }
    if caller == SESSION:
        data["principal_tags"] = {"team": draw(st.sampled_from(["blue", "red"]))}
    if draw(st.integers(0, 4)):
        data["resource_policy"] = draw(documents(True))
    if not draw(st.integers(0, 4)):
        data["permissions_boundary"] = draw(documents(False))
    if not draw(st.integers(0, 4)):
        data["session_policies"] = [draw(documents(False))]
    # Organization levels mostly keep AWS's default FullAWSAccess (RCPFullAWSAccess) beside their own policies.
    if not draw(st.integers(0, 3)):
        levels = draw(st.lists(st.lists(documents(False), min_size=1, max_size=2), min_size=1, max_size=2))
        data["scps"] = [[FULL_ACCESS, *level] if draw(st.integers(0, 3)) else level for level in levels]
    if not draw(st.integers(0, 5)):
        level = [draw(documents(True, rcp=True))]
        data["rcps"] = [[RCP_FULL_ACCESS, *level] if draw(st.integers(0, 3)) else level]
    if draw(st.booleans()):
        data["grants"] = draw(
            st.lists(
                st.fixed_dictionaries(
                    {
                        "GrantId": st.sampled_from(["g1", "g2", "g3"]),
                        "GranteePrincipal": st.sampled_from([ALICE, ROLE, SESSION, BOB, ACCOUNT]),
                        "Operations": st.lists(
                            st.sampled_from(["Decrypt", "Encrypt", "CreateGrant", "DescribeKey"]),
                            min_size=1,
                            max_size=3,
                        ),
                    }
                ),
                max_size=2,
                unique_by=lambda g: g["GrantId"],
            )
        )
    return copy.deepcopy(data)  # tests edit the documents; the shared FullAWSAccess ones must stay intact


def load(data: Mapping[str, Any]) -> tuple[Request, PolicySet]:
    req, ps, _ = load_request(data, "scenario")
    return req, ps


LAW = runs(150)


@LAW
@given(scenarios())
def test_fast_and_explained_paths_agree(data: dict[str, Any]) -> None:
    decide_both(*load(data))


@LAW
@given(scenarios(), st.lists(OTHER_CONTEXTS, min_size=1, max_size=4))
def test_one_policy_set_decides_each_context_on_its_own(
    data: dict[str, Any], contexts: list[dict[str, tuple[str, ...]]]
) -> None:
    # The plan and its memo are kept on the policy set by caller, action and resource: requests that differ
    # only in their condition keys share them, and each must still be decided on its own keys.
    req, ps = load(data)
    for ctx in [*contexts, dict(req.context), *contexts]:
        decide_both(dataclasses.replace(req, context=ctx), ps)


@LAW
@given(scenarios(), st.data())
def test_a_matching_deny_always_denies(data: dict[str, Any], draw: st.DataObject) -> None:
    deny: dict[str, Any] = {"Effect": "Deny", "Action": draw.draw(st.sampled_from(["*", data["action"]]))}
    deny["Resource"] = draw.draw(st.sampled_from(["*", data["resource"]]))
    if draw.draw(st.booleans()):
        deny["Condition"] = {"Null": {"kms:NoSuchKey": "true"}}  # a condition that holds
    where = draw.draw(st.sampled_from(["identity", "resource", "boundary", "session"]))
    if where == "identity":
        data["identity_policies"].append({"Version": "2012-10-17", "Statement": [deny]})
    elif where == "resource":
        doc = data.setdefault("resource_policy", {"Version": "2012-10-17", "Statement": []})
        doc["Statement"].append({**deny, "Principal": "*"})
    elif where == "boundary":
        doc = data.setdefault("permissions_boundary", {"Version": "2012-10-17", "Statement": []})
        doc["Statement"].append(deny)
    else:
        data.setdefault("session_policies", []).append({"Version": "2012-10-17", "Statement": [deny]})
    fast, _ = decide_both(*load(data))
    assert fast.verdict is Verdict.EXPLICIT_DENY


def _strip_denies(data: dict[str, Any]) -> dict[str, Any]:
    """The same scenario with every Deny statement removed from every document."""

    def doc(d: dict[str, Any]) -> dict[str, Any]:
        return {**d, "Statement": [s for s in d["Statement"] if s["Effect"] != "Deny"]}

    def named(p: dict[str, Any]) -> dict[str, Any]:
        return {**p, "document": doc(p["document"])} if "document" in p else doc(p)

    out = dict(data)
    out["identity_policies"] = [named(p) for p in data["identity_policies"]]
    for single in ("resource_policy", "permissions_boundary"):
        if single in data:
            out[single] = doc(data[single])
    if "session_policies" in data:
        out["session_policies"] = [doc(d) for d in data["session_policies"]]
    for levels in ("scps", "rcps"):
        if levels in data:
            out[levels] = [[doc(d) for d in level] for level in data[levels]]
    return out


@LAW
@given(scenarios())
def test_removing_denies_never_turns_allowed_into_denied(data: dict[str, Any]) -> None:
    before, _ = decide_both(*load(data))
    after, _ = decide_both(*load(_strip_denies(data)))
    if before.allowed:
        assert after.allowed
    # Nothing else can deny once the Denies are gone.
    assert after.verdict is not Verdict.EXPLICIT_DENY


@LAW
@given(scenarios(), st.data())
def test_adding_an_allow_statement_never_turns_allowed_into_denied(data: dict[str, Any], draw: st.DataObject) -> None:
    before, _ = decide_both(*load(data))
    targets = [p["document"] for p in data["identity_policies"]]
    targets += [data[k] for k in ("resource_policy", "permissions_boundary") if k in data]
    targets += data.get("session_policies", [])
    targets += [d for k in ("scps", "rcps") for level in data.get(k, []) for d in level]
    assume(targets)
    target = draw.draw(st.sampled_from(targets))
    rcp = any(target is d for level in data.get("rcps", []) for d in level)
    needs_principal = rcp or target is data.get("resource_policy")
    target["Statement"].append(draw.draw(statements(with_principal=needs_principal, rcp=rcp, effects=("Allow",))))
    after, _ = decide_both(*load(data))
    if before.allowed:
        assert after.allowed


@LAW
@given(scenarios(kms_key=True))
def test_a_kms_key_without_a_key_policy_is_usable_only_through_a_grant(data: dict[str, Any]) -> None:
    data.pop("resource_policy", None)
    req, ps = load(data)
    assert is_kms_key(req.action, req.resource)
    _, full = decide_both(req, ps)
    if full.allowed:
        # A grant decided it; IAM statements may stand beside it only when the grant names the caller's account,
        # which delegates to IAM as an account in a key policy does (assumption grant-to-account).
        layers = {r.layer if isinstance(r.layer, str) else r.layer.value for r in full.decided_by}
        assert "grant" in layers and layers <= {"grant", "identity-policy"}, full.to_json()
    without_grants = PolicySet(
        identity=ps.identity, boundary=ps.boundary, session=ps.session, scps=ps.scps, rcps=ps.rcps
    )
    fast, _ = decide_both(req, without_grants)
    assert not fast.allowed


# ---------------------------------------------------------------------------------------------------------
# Grants read from any JSON


def test_grant_operation_that_is_a_list_is_reported() -> None:
    grant, issues = parse_grant({"GranteePrincipal": ALICE, "Operations": [["Decrypt"]]}, "grants[0]")
    assert grant is None
    assert [i.path for i in issues] == ["grants[0].Operations[0]"]


@runs(150)
@given(st.one_of(grant_like, any_json))
def test_any_grant_parses_or_is_reported(raw: object) -> None:
    grant, issues = parse_grant(raw, "grants[0]")
    assert (grant is None) == bool(issues)
    if grant is not None:
        assert isinstance(grant, Grant)


@pytest.mark.parametrize(("value", "text"), [(5, "5"), (True, "true")])
def test_encryption_context_given_as_a_number_meets_a_grant_constraint(value: object, text: str) -> None:
    data = {
        "principal": ALICE,
        "action": "kms:Decrypt",
        "resource": KEY,
        "context": {"kms:EncryptionContext:n": value},
        "resource_policy": {"Version": "2012-10-17", "Statement": []},
        "grants": [
            {
                "GranteePrincipal": ALICE,
                "Operations": ["Decrypt"],
                "Constraints": {"EncryptionContextSubset": {"n": text}},
            }
        ],
    }
    fast, _ = decide_both(*load(data))
    assert fast.allowed


def test_near_misses_are_found_when_read_and_survive_a_copy() -> None:
    # A statement that fails on its condition alone is a near miss; finding it waits for the first read.
    doc = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "OnlyFromTheOffice",
                "Effect": "Allow",
                "Action": "kms:Decrypt",
                "Resource": "*",
                "Condition": {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}},
            }
        ],
    }
    ps = PolicySet(identity=(parse_policy(doc, PolicyType.IDENTITY, "office"),))
    req = SIMPLE_REQUESTS[0]  # kms:Decrypt from 10.1.2.3
    d = authorize(req, ps, explain=True)
    assert d.verdict is Verdict.IMPLICIT_DENY and not d.near.computed
    copied = copy.deepcopy(d)
    (near,) = d.near_misses
    assert d.near.computed and copied == d and copied.near_misses == (near,)
    assert (near.statement.statement, near.mismatch.key, near.mismatch.actual) == (
        "OnlyFromTheOffice",
        "aws:SourceIp",
        ("10.1.2.3",),
    )
    assert d.to_json()["near_misses"] == [near.to_json()]
