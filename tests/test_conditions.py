"""IAM condition operators, table-driven: tests/cases/conditions/*.yaml. Adding a case needs no Python.

operators.yaml: one operator-key pair per case ({op, key, values, ctx, expect, doc}); blocks.yaml: whole
Condition blocks ({block, ctx, expect}); validation.yaml: every issue a block yields, exactly.
Property tests check that no JSON input makes parsing raise and no context makes ``holds`` raise.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from kmslaunch.policy.conditions import Context, parse_condition_block

CASES = Path(__file__).parent / "cases" / "conditions"
PATH = "Statement[1].Condition"


def _file(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((CASES / name).read_text())
    assert data.get("doc"), f"{name}: a case file names the AWS document it encodes"
    return data


def _params(name: str) -> list[Any]:
    data = _file(name)
    names = [c["name"] for c in data["cases"]]
    assert len(names) == len(set(names)), f"{name}: case names must be unique"
    return [pytest.param(c, id=c["name"]) for c in data["cases"]]


def _ctx(raw: dict[str, Any]) -> Context:
    """The caller's normalisation: lower-cased key names, every value a tuple of strings."""
    out: dict[str, tuple[str, ...]] = {}
    for k, v in raw.items():
        items = v if isinstance(v, list) else [v]
        out[k.lower()] = tuple(str(i) for i in items)
    return out


@pytest.mark.parametrize("case", _params("operators.yaml"))
def test_operator(case: dict[str, Any]) -> None:
    block = {case["op"]: {case["key"]: case["values"]}}
    conditions, issues = parse_condition_block(block, PATH)
    assert not [i for i in issues if i.severity.value == "error"], issues
    assert len(conditions) == 1
    c = conditions[0]
    assert c.operator == case["op"]
    assert c.key == case["key"]
    assert c.key_lower == case["key"].lower()
    assert c.path == f"{PATH}.{case['op']}.{case['key']}"
    ctx = _ctx(case["ctx"])
    assert c.holds(ctx) is case["expect"], (case, ctx)
    assert c.actual(ctx) == ctx.get(case["key"].lower())


@pytest.mark.parametrize("case", _params("blocks.yaml"))
def test_block(case: dict[str, Any]) -> None:
    conditions, issues = parse_condition_block(case["block"], PATH)
    assert not issues, issues
    ctx = _ctx(case["ctx"])
    assert all(c.holds(ctx) for c in conditions) is case["expect"]


@pytest.mark.parametrize("case", _params("validation.yaml"))
def test_validation(case: dict[str, Any]) -> None:
    _, issues = parse_condition_block(case["block"], PATH)
    got = [i.to_json() for i in issues]
    assert got == case["issues"]


def test_values_are_json_text() -> None:
    (c,), _ = parse_condition_block({"StringEquals": {"k": [True, False, 12, 1.5, "x"]}}, PATH)
    assert c.values == ("true", "false", "12", "1.5", "x")


def test_one_condition_per_operator_key_pair_in_order() -> None:
    block = {"StringEquals": {"a": "1", "B": "2"}, "NumericLessThan": {"c": 3}}
    conditions, issues = parse_condition_block(block, PATH)
    assert not issues
    assert [(c.operator, c.key, c.key_lower, c.path) for c in conditions] == [
        ("StringEquals", "a", "a", f"{PATH}.StringEquals.a"),
        ("StringEquals", "B", "b", f"{PATH}.StringEquals.B"),
        ("NumericLessThan", "c", "c", f"{PATH}.NumericLessThan.c"),
    ]


def test_invalid_values_match_nothing_but_valid_ones_still_do() -> None:
    (c,), issues = parse_condition_block({"IpAddress": {"aws:SourceIp": ["300.1.1.1", "10.0.0.0/8"]}}, PATH)
    assert len(issues) == 1
    assert c.holds({"aws:sourceip": ("10.2.3.4",)})
    assert not c.holds({"aws:sourceip": ("300.1.1.1",)})


def test_unknown_operator_yields_no_condition() -> None:
    conditions, issues = parse_condition_block({"StringEqual": {"a": "b"}, "StringEquals": {"a": "b"}}, PATH)
    assert [c.operator for c in conditions] == ["StringEquals"]
    assert len(issues) == 1


def test_conditions_are_values() -> None:
    a, _ = parse_condition_block({"StringEquals": {"k": "v"}}, PATH)
    b, _ = parse_condition_block({"StringEquals": {"k": "v"}}, PATH)
    assert a == b
    assert hash(a) == hash(b)


# ---------------------------------------------------------------------------------------------------------
# Properties: nothing raises, whatever the JSON and whatever the context

_OPERATOR_NAMES = [
    "StringEquals",
    "StringNotLike",
    "StringEqualsIgnoreCase",
    "NumericLessThan",
    "NumericNotEquals",
    "DateGreaterThanEquals",
    "DateNotEquals",
    "Bool",
    "BinaryEquals",
    "IpAddress",
    "NotIpAddressIfExists",
    "ArnLike",
    "ArnNotEquals",
    "Null",
    "ForAllValues:StringLike",
    "ForAnyValue:ArnNotLike",
    "ForAnyValue:NumericEqualsIfExists",
    "NullIfExists",
]
_KEYS = ["aws:SourceIp", "aws:username", "k", "K", "aws:CurrentTime"]
_text = st.one_of(
    st.text(max_size=20),
    st.sampled_from(
        [
            "10.0.0.0/8",
            "::1",
            "2001:db8::/32",
            "2024-01-01T00:00:00Z",
            "1704067200",
            "1e999999999",
            "arn:aws:s3:::b*",
            "arn:*:*:*:*:*",
            "${aws:username}",
            "${*}${?}${$}",
            "${k, 'd'}",
            "QUJD",
            "true",
            "FALSE",
            "*",
            "9999-12-31T23:59:59-14:00",
            "0001-01-01T00:00:00+14:00",
        ]
    ),
)
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | _text,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.one_of(_text, st.sampled_from(_KEYS)), inner, max_size=4)
    ),
    max_leaves=20,
)
_block = st.one_of(
    _json,
    st.dictionaries(
        st.one_of(st.sampled_from(_OPERATOR_NAMES), _text),
        st.one_of(st.dictionaries(st.sampled_from(_KEYS), _json, max_size=3), _json),
        max_size=4,
    ),
)
_context = st.dictionaries(
    st.sampled_from([k.lower() for k in _KEYS]), st.lists(_text, max_size=3).map(tuple), max_size=5
)


@settings(max_examples=400, deadline=None)
@given(block=_block, ctx=_context)
def test_never_raises(block: object, ctx: dict[str, tuple[str, ...]]) -> None:
    conditions, issues = parse_condition_block(block, PATH)
    for c in conditions:
        assert isinstance(c.holds(ctx), bool)
        c.actual(ctx)
    for i in issues:
        assert i.path.startswith(PATH)


@settings(max_examples=200, deadline=None)
@given(op=st.sampled_from(_OPERATOR_NAMES), key=st.sampled_from(_KEYS), values=st.lists(_text, max_size=3))
def test_qualifiers_agree_with_their_definition(op: str, key: str, values: list[str]) -> None:
    """ForAllValues/ForAnyValue over a request equal the base operator applied to each request value alone.

    (Not for values with policy variables: a variable naming the tested key resolves only when it has one value.)
    """
    assume(":" not in op and not op.startswith("Null") and not any("${" in v for v in values))
    base, _ = parse_condition_block({op: {key: values}}, PATH)
    every, _ = parse_condition_block({f"ForAllValues:{op}": {key: values}}, PATH)
    some, _ = parse_condition_block({f"ForAnyValue:{op}": {key: values}}, PATH)
    if not base:
        return
    request = ("10.1.2.3", "2024-01-01T00:00:00Z", "bob", "arn:aws:s3:::bx", "true", "5")
    per_value = [base[0].holds({key.lower(): (v,)}) for v in request]
    ctx: Context = {key.lower(): request}
    assert every[0].holds(ctx) is all(per_value)
    assert some[0].holds(ctx) is any(per_value)
