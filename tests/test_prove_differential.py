"""The z3 encoding and the engine agree on every decision: random small policies, random requests, the policy's
formula with the request substituted is satisfiable exactly when the engine's per-document step applies."""

from __future__ import annotations

import os

import pytest

z3 = pytest.importorskip("z3")
from hypothesis import given, settings  # noqa: E402 - after the skip when z3 is not installed
from hypothesis import strategies as st  # noqa: E402 - after the skip when z3 is not installed

from kmslaunch.policy.model import PolicyType  # noqa: E402 - after the skip when z3 is not installed
from kmslaunch.policy.parse import parse_policy  # noqa: E402 - after the skip when z3 is not installed
from kmslaunch.prove.counterexample import Counterexample, engine_level  # noqa: E402 - after the skip when z3 is not installed
from kmslaunch.prove.encode import encode_policy, key_kinds  # noqa: E402 - after the skip when z3 is not installed
from kmslaunch.prove.launch import parse_kind  # noqa: E402 - after the skip when z3 is not installed
from kmslaunch.prove.request import arn_is, new_request  # noqa: E402 - after the skip when z3 is not installed

ACTIONS = ["kms:Decrypt", "kms:CreateGrant", "kms:*", "kms:Gen*", "s3:GetObject"]
RESOURCES = ["*", "arn:aws:kms:us-east-1:111122223333:key/k1", "arn:aws:kms:*:111122223333:key/*"]
PRINCIPALS = ["*", "111122223333", "arn:aws:iam::111122223333:user/alice", "arn:aws:iam::111122223333:role/web"]
CALLERS = [
    "arn:aws:iam::111122223333:user/alice",
    "arn:aws:sts::111122223333:assumed-role/web/s1",
    "arn:aws:iam::444455556666:user/bob",
]
CONDITIONS = [
    {"StringEquals": {"kms:ViaService": "ec2.us-east-1.amazonaws.com"}},
    {"StringNotEquals": {"kms:ViaService": "ec2.us-east-1.amazonaws.com"}},
    {"StringLike": {"kms:ViaService": "ec2.*"}},
    {"Bool": {"kms:GrantIsForAWSResource": "true"}},
    {"Null": {"kms:ViaService": "true"}},
    {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}},
    {"NotIpAddressIfExists": {"aws:SourceIp": "203.0.113.0/24"}},
    {"NumericLessThan": {"s3:max-keys": "10"}},
    {"ForAllValues:StringEquals": {"kms:GrantOperations": ["Decrypt", "Encrypt"]}},
    {"ForAnyValue:StringEquals": {"kms:GrantOperations": ["Decrypt"]}},
    {"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::111122223333:role/*"}},
    {"ArnNotEquals": {"aws:PrincipalArn": "arn:aws:iam::111122223333:user/alice"}},
    {"DateLessThan": {"aws:CurrentTime": "2026-01-01T00:00:00Z"}},
    {"StringEquals": {"kms:ViaService": "${aws:username}.us-east-1.amazonaws.com"}},
    {"StringEqualsIgnoreCase": {"kms:ViaService": "EC2.us-east-1.amazonaws.com"}},
]
CONTEXTS = {
    "kms:viaservice": [None, ("ec2.us-east-1.amazonaws.com",), ("s3.us-east-1.amazonaws.com",)],
    "kms:grantisforawsresource": [None, ("true",), ("false",)],
    "aws:sourceip": [None, ("203.0.113.7",), ("198.51.100.1",), ("AWS Internal",)],
    "aws:currenttime": [None, ("2025-06-01T00:00:00Z",), ("2026-06-01T00:00:00Z",)],
    "s3:max-keys": [None, ("5",), ("12",)],
    "kms:grantoperations": [None, ("Decrypt",), ("Decrypt", "Encrypt"), ("Sign",)],
}


def _negate(statement: dict[str, object]) -> dict[str, object]:
    """NotAction, NotResource or NotPrincipal in place of the element "Not" names."""
    out = dict(statement)
    which = out.pop("Not", None)
    if isinstance(which, str) and not (which == "Principal" and out["Principal"] == "*"):
        out["Not" + which] = out.pop(which)
    return out


statement = st.fixed_dictionaries(
    {
        "Effect": st.sampled_from(["Allow", "Deny"]),
        "Action": st.lists(st.sampled_from(ACTIONS), min_size=1, max_size=2),
        "Resource": st.sampled_from(RESOURCES),
        "Principal": st.sampled_from(PRINCIPALS).map(lambda p: p if p == "*" else {"AWS": p}),
    },
    optional={"Condition": st.sampled_from(CONDITIONS), "Not": st.sampled_from(["Action", "Resource", "Principal"])},
).map(_negate)
request = st.fixed_dictionaries(
    {
        "principal": st.sampled_from(CALLERS),
        "action": st.sampled_from(["kms:Decrypt", "kms:CreateGrant", "kms:GenerateDataKey", "s3:GetObject"]),
        "resource": st.sampled_from([*RESOURCES[1:2], "arn:aws:kms:eu-west-1:111122223333:key/k2"]),
        "context": st.fixed_dictionaries({k: st.sampled_from(v) for k, v in CONTEXTS.items()}),
        "boundary": st.booleans(),
    }
)
EXAMPLES = int(os.environ.get("KMSLAUNCH_PROVE_EXAMPLES", "25"))


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.lists(statement, min_size=1, max_size=3), st.sampled_from([PolicyType.KEY, PolicyType.IDENTITY]), request)
def test_encoding_agrees_with_engine(statements: list[dict[str, object]], ptype: PolicyType, req: dict) -> None:
    if ptype is PolicyType.IDENTITY:  # identity policies have no Principal element
        statements = [{k: v for k, v in x.items() if k not in ("Principal", "NotPrincipal")} for x in statements]
    policy = parse_policy({"Version": "2012-10-17", "Statement": statements}, ptype, "p")
    ctx = {k: v for k, v in req["context"].items() if v is not None}
    cex = Counterexample(req["principal"], None, req["action"], req["resource"], ctx, req["boundary"])
    want_level, want_deny = engine_level(policy, cex)
    kinds = key_kinds([policy], ctx)
    r, cons = new_request(kinds)
    f = encode_policy(policy, r)
    s = z3.Solver()
    s.add(*cons, arn_is(req["principal"], r), r.action == req["action"].lower(), r.resource == req["resource"])
    s.add(r.has_boundary == req["boundary"])
    if "assumed-role/" in req["principal"]:
        s.add(z3.Not(r.role_path_known))  # a session ARN alone: the engine does not know the role's path
    for name, kv in r.keys.items():
        if name not in ctx:
            if name in (
                "aws:principalarn",
                "aws:principalaccount",
                "aws:principaltype",
                "aws:username",
                "aws:principalisawsservice",
                "aws:resourceaccount",
                "kms:calleraccount",
            ):
                continue  # derived by both from the caller and the resource
            s.add(z3.Not(kv.present))
            continue
        values = ctx[name]
        s.add(kv.present, kv.count == len(values))
        for i, v in enumerate(values):
            if kv.strings:
                s.add(kv.strings[i] == v)
            else:
                parsed = parse_kind(kv, v)
                if parsed is None:
                    s.add(z3.Not(kv.valid[i]))
                else:
                    s.add(kv.valid[i], kv.numbers[i] == parsed[0])
                    if kv.versions:
                        s.add(kv.versions[i] == parsed[1])
    assert s.check() == z3.sat
    m = s.model()
    assert z3.is_true(m.eval(f.deny, model_completion=True)) == want_deny
    if not want_deny:
        assert m.eval(f.level, model_completion=True).as_long() == want_level
