"""The Condition element: every IAM condition operator, compiled once, evaluated with a lookup and a compare.

A statement's ``Condition`` block maps operators to ``{key: value-or-values}``. Each operator-key pair
becomes one ``Condition``; the caller ANDs them. Within one pair the policy's values are OR'ed (NOR for
negated operators), and the request's values are combined as the set qualifier (``ForAllValues:`` /
``ForAnyValue:``) says. Everything that can be parsed ahead of time is: IP ranges become integer bounds,
numbers ``Decimal``, dates integer microseconds, wildcard patterns one regular expression, so that
``holds`` runs a closure specialised for its operator.

Sources, cited where each rule is encoded:
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-logic-multiple-context-keys-or-values.html
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition.html
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import difflib
import functools
import ipaddress
import operator
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import lru_cache

from kmslaunch.policy.errors import Issue, error, warning
from kmslaunch.policy.variables import Literal, Special, Template, parse_template
from kmslaunch.policy.wildcard import _translate, compile_glob, has_wildcard

Context = Mapping[str, tuple[str, ...]]
Matcher = Callable[[str], bool]
Binder = Callable[[Context], Matcher]
Test = Callable[[Context], bool]


# ---------------------------------------------------------------------------------------------------------
# The operator table


@dataclass(frozen=True, slots=True)
class _Spec:
    """What a base operator compares (``family``), how (``cmp``), and whether it is a negated operator."""

    family: str  # string | numeric | date | bool | binary | ip | arn
    cmp: str  # eq | ieq | like | lt | le | gt | ge
    negated: bool


_BASES: dict[str, _Spec] = {
    "StringEquals": _Spec("string", "eq", False),
    "StringNotEquals": _Spec("string", "eq", True),
    "StringEqualsIgnoreCase": _Spec("string", "ieq", False),
    "StringNotEqualsIgnoreCase": _Spec("string", "ieq", True),
    "StringLike": _Spec("string", "like", False),
    "StringNotLike": _Spec("string", "like", True),
    "NumericEquals": _Spec("numeric", "eq", False),
    "NumericNotEquals": _Spec("numeric", "eq", True),
    "NumericLessThan": _Spec("numeric", "lt", False),
    "NumericLessThanEquals": _Spec("numeric", "le", False),
    "NumericGreaterThan": _Spec("numeric", "gt", False),
    "NumericGreaterThanEquals": _Spec("numeric", "ge", False),
    "DateEquals": _Spec("date", "eq", False),
    "DateNotEquals": _Spec("date", "eq", True),
    "DateLessThan": _Spec("date", "lt", False),
    "DateLessThanEquals": _Spec("date", "le", False),
    "DateGreaterThan": _Spec("date", "gt", False),
    "DateGreaterThanEquals": _Spec("date", "ge", False),
    "Bool": _Spec("bool", "eq", False),
    "BinaryEquals": _Spec("binary", "eq", False),
    "IpAddress": _Spec("ip", "eq", False),
    "NotIpAddress": _Spec("ip", "eq", True),
    # "The ArnEquals and ArnLike condition operators behave identically" (and so do the Not forms).
    "ArnEquals": _Spec("arn", "like", False),
    "ArnLike": _Spec("arn", "like", False),
    "ArnNotEquals": _Spec("arn", "like", True),
    "ArnNotLike": _Spec("arn", "like", True),
}
_QUALIFIERS = ("ForAllValues", "ForAnyValue")
_IF_EXISTS = "IfExists"

# Every operator name AWS accepts, for "did you mean" on a misspelt or wrongly cased one.
_ALL_NAMES: tuple[str, ...] = (
    "Null",
    *(f"{q}{b}{s}" for q in ("", *(f"{q}:" for q in _QUALIFIERS)) for b in _BASES for s in ("", _IF_EXISTS)),
)
_BY_LOWER = {n.lower(): n for n in _ALL_NAMES}


@dataclass(frozen=True, slots=True)
class _Op:
    qualifier: str | None  # "ForAllValues" | "ForAnyValue" | None
    base: str  # a key of _BASES, or "Null"
    if_exists: bool


def _parse_operator(op: str, path: str, issues: list[Issue]) -> _Op | None:
    qualifier: str | None = None
    rest = op
    if ":" in op:
        qualifier, rest = op.split(":", 1)
    if_exists = rest.endswith(_IF_EXISTS) and rest != _IF_EXISTS
    base = rest[: -len(_IF_EXISTS)] if if_exists else rest
    known = (qualifier is None or qualifier in _QUALIFIERS) and (base in _BASES or base == "Null")
    if not known:
        # Operator names are matched as AWS spells them; the IAM reference lists them in one case only
        # (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_grammar.html), so a name in
        # another case is reported rather than guessed at.
        if op.lower() in _BY_LOWER:
            issues.append(
                error(path, f'condition operator "{op}" is not spelt as AWS spells it', _BY_LOWER[op.lower()])
            )
        else:
            close = difflib.get_close_matches(op, _ALL_NAMES, n=1, cutoff=0.6)
            issues.append(error(path, f'unknown condition operator "{op}"', close[0] if close else None))
        return None
    if base == "Null":
        if if_exists:
            # "You can add IfExists to the end of any condition operator name except the Null condition"
            # (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_IfExists).
            issues.append(error(path, "IfExists cannot be added to Null: Null already tests presence", "Null"))
            return None
        if qualifier is not None:
            issues.append(warning(path, f"{qualifier} has no effect on Null, which tests presence only", "Null"))
            qualifier = None
    return _Op(qualifier, base, if_exists)


# ---------------------------------------------------------------------------------------------------------
# The compiled condition


@dataclass(frozen=True, slots=True)
class Condition:
    """One operator-key pair of a Condition block, compiled.

    ``values`` are the policy's values as strings (JSON ``true`` is ``"true"``); ``path`` is the element path
    used in messages. ``holds`` answers whether the request context satisfies it.
    """

    operator: str
    key: str
    key_lower: str
    values: tuple[str, ...]
    path: str
    _test: Test = field(compare=False, repr=False, hash=False)

    def holds(self, ctx: Context) -> bool:
        """Whether the request context satisfies this condition (the fast path of every decision)."""
        return self._test(ctx)

    def actual(self, ctx: Context) -> tuple[str, ...] | None:
        """The request's values for the key, None when the request does not carry it (for explanations)."""
        return ctx.get(self.key_lower)


def parse_condition_block(
    block: object, path: str, *, variables: bool = True
) -> tuple[tuple[Condition, ...], list[Issue]]:
    """Compile a statement's Condition element into one Condition per operator-key pair.

    ``block`` is the raw JSON value; ``path`` its element path (``Statement[1].Condition``). Every problem is
    returned as an Issue with the full path of the element at fault; nothing raises, whatever the JSON.
    ``variables`` is False for documents without Version 2012-10-17, where IAM reads ``${...}`` as literal text
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html).
    """
    issues: list[Issue] = []
    out: list[Condition] = []
    if not isinstance(block, dict):
        issues.append(error(path, "Condition must be an object of {operator: {key: value or [values]}}"))
        return (), issues
    for raw_op, keys in block.items():
        op_name = str(raw_op)
        opath = f"{path}.{op_name}"
        op = _parse_operator(op_name, opath, issues)
        if op is None:
            continue
        if not isinstance(keys, dict):
            issues.append(error(opath, f"the value of {op_name} must be an object of {{key: values}}"))
            continue
        for raw_key, raw in keys.items():
            key = str(raw_key)
            kpath = f"{opath}.{key}"
            values = _values(raw, kpath, issues)
            if values is None:
                continue
            if variables or not any("${" in v for v in values):
                out.append(_compile(op_name, op, key, values, path=kpath, issues=issues))
            else:
                # "${" written as "${$}{" is the same text with no variable left in it.
                literal = tuple(v.replace("${", "${$}{") for v in values)
                compiled = _compile(op_name, op, key, literal, path=kpath, issues=issues)
                out.append(dataclasses.replace(compiled, values=values))
    return tuple(out), issues


def _values(raw: object, path: str, issues: list[Issue]) -> tuple[str, ...] | None:
    """The policy's values as strings; JSON scalars are written as their JSON text."""
    items = raw if isinstance(raw, list) else [raw]
    if isinstance(raw, list) and not raw:
        issues.append(error(path, "empty list of values: a condition needs at least one value"))
        return ()
    out: list[str] = []
    bad = False
    for item in items:
        if isinstance(item, bool):
            out.append("true" if item else "false")
        elif isinstance(item, str):
            out.append(item)
        elif isinstance(item, int | float):
            out.append(str(item))
        else:
            bad = True
    if bad:
        issues.append(error(path, "a condition value must be a string, number or boolean, or a list of them"))
        if not out:
            return None
    return tuple(out)


def _compile(op_name: str, op: _Op, key: str, values: tuple[str, ...], *, path: str, issues: list[Issue]) -> Condition:
    key_lower = key.lower()
    if op.base == "Null":
        test = _null_test(key_lower, values, path, issues)
    else:
        spec = _BASES[op.base]
        static, binder = _FAMILIES[spec.family](spec, values, op_name, path, issues)
        test = _shape(key_lower, spec.negated, op, static, binder)
    return Condition(op_name, key, key_lower, values, path, test)


# ---------------------------------------------------------------------------------------------------------
# How request values, policy values, qualifiers and absence combine


def _shape(key: str, negated: bool, op: _Op, static: Matcher | None, binder: Binder | None) -> Test:
    """Pick the closure quantifying the request's values over ``m`` (a value matches ANY policy value).

    Missing key (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html):
    "If the key that you specify in a policy condition is not present in the request context, the values do
    not match and the condition is false. If the policy condition requires that the key is not matched, such
    as StringNotLike or ArnNotLike, and the right key is not present, the condition is true." ...IfExists:
    "If the key is not present, evaluate the condition element as true."

    Set qualifiers (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html):
    ForAllValues is true when every request value matches, and "also returns true if there are no context
    keys in the request" (absent or empty); ForAnyValue needs one matching request value, so it is false
    when the key is absent or empty, negated operator or not ("If the key values in the request resolve to
    an empty data set ... ForAnyValue returns false": the set rule wins over the negated-operator rule
    above). Under a qualifier a negated operator is
    applied to each request value: ForAllValues:StringNotEquals holds when no request value equals any policy
    value, ForAnyValue:StringNotEquals when some request value equals none of them.

    Policy values are OR'ed, and NOR'ed for negated operators ("If a single negated matching condition
    operator includes multiple values for a context key, those values are evaluated using a logical NOR",
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-logic-multiple-context-keys-or-values.html).

    ASSUMPTION: AWS says multivalued keys "require a condition set operator" but not what an unqualified
    operator does when the request has several values for its key. kmslaunch applies a positive operator
    as "any request value matches" and a negated one as its negation ("no request value matches"), which is
    also what a one-valued request gives. (Another simulator, cloud-copilot/iam-simulate, makes such a
    condition never match; AWS documents neither behaviour.)
    """
    if op.qualifier == "ForAllValues":
        missing = True
        shape = "none" if negated else "all"
    elif op.qualifier == "ForAnyValue":
        missing = op.if_exists
        shape = "notall" if negated else "any"
    else:
        missing = op.if_exists or negated
        shape = "none" if negated else "any"
    if binder is not None:
        return _bound_test(key, missing, shape, binder)
    assert static is not None
    return _static_test(key, missing, shape, static)


def _static_test(key: str, missing: bool, shape: str, m: Matcher) -> Test:
    if shape == "any":

        def test(ctx: Context) -> bool:
            vals = ctx.get(key)
            if vals is None:
                return missing
            for v in vals:  # noqa: SIM110 - a plain loop is faster than any() over a generator
                if m(v):
                    return True
            return False

    elif shape == "none":

        def test(ctx: Context) -> bool:
            vals = ctx.get(key)
            if vals is None:
                return missing
            for v in vals:  # noqa: SIM110 - as above
                if m(v):
                    return False
            return True

    elif shape == "all":

        def test(ctx: Context) -> bool:
            vals = ctx.get(key)
            if vals is None:
                return missing
            for v in vals:  # noqa: SIM110 - as above
                if not m(v):
                    return False
            return True

    else:

        def test(ctx: Context) -> bool:
            vals = ctx.get(key)
            if vals is None:
                return missing
            for v in vals:  # noqa: SIM110 - as above
                if not m(v):
                    return True
            return False

    return test


def _bound_test(key: str, missing: bool, shape: str, binder: Binder) -> Test:
    """Policy values with variables: resolve them against this request, then quantify as above."""

    def test(ctx: Context) -> bool:
        vals = ctx.get(key)
        if vals is None:
            return missing
        m = binder(ctx)
        if shape == "any":
            return any(m(v) for v in vals)
        if shape == "none":
            return not any(m(v) for v in vals)
        if shape == "all":
            return all(m(v) for v in vals)
        return not all(m(v) for v in vals)

    return test


def _null_test(key: str, values: tuple[str, ...], path: str, issues: list[Issue]) -> Test:
    """Null: ``true`` holds when the key is absent, ``false`` when it is present
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_Null).

    Several values are OR'ed like any other operator's. A key present with no values counts as present.
    """
    when_absent = when_present = False
    for v in values:
        lv = v.lower()
        if lv == "true":
            when_absent = True
        elif lv == "false":
            when_present = True
        else:
            issues.append(error(path, f'"{v}" is not true or false', '"true" or "false"'))

    def test(ctx: Context) -> bool:
        return when_present if key in ctx else when_absent

    return test


def _never(_: str) -> bool:
    return False


def _any_of(matchers: list[Matcher]) -> Matcher:
    if not matchers:
        return _never
    if len(matchers) == 1:
        return matchers[0]
    return lambda v: any(m(v) for m in matchers)


Family = Callable[[_Spec, tuple[str, ...], str, str, list[Issue]], tuple[Matcher | None, Binder | None]]


# ---------------------------------------------------------------------------------------------------------
# String (and Bool, which compares strings): policy variables allowed


def _templates(values: Iterable[str]) -> tuple[list[str], list[Template]]:
    plain: list[str] = []
    templates: list[Template] = []
    for v in values:
        t = parse_template(v)
        if t is None:
            plain.append(v)
        else:
            templates.append(t)
    return plain, templates


def _string(
    spec: _Spec, values: tuple[str, ...], op: str, path: str, issues: list[Issue]
) -> tuple[Matcher | None, Binder | None]:
    """String operators: exact (case-sensitive), IgnoreCase, or Like with ``*`` and ``?``; policy variables
    are substituted in their values (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html).
    A variable the request cannot supply makes that one value match nothing.
    """
    plain, templates = _templates(values)
    if spec.cmp == "eq":
        static: Matcher = _set_matcher(frozenset(plain))
    elif spec.cmp == "ieq":
        lowered = frozenset(p.lower() for p in plain)
        static = lambda v: v.lower() in lowered  # noqa: E731 - a closure is the compiled form
    else:
        static = _like_matcher(plain)
    if not templates:
        return static, None
    cmp = spec.cmp

    def bind(ctx: Context) -> Matcher:
        if cmp == "like":
            globs = [g for g in (t.resolve_glob(ctx) for t in templates) if g is not None]
            return _any_of([static, *globs])
        texts = [x for x in (t.resolve_text(ctx) for t in templates) if x is not None]
        if cmp == "ieq":
            extra = frozenset(x.lower() for x in texts)
            return lambda v: static(v) or v.lower() in extra
        extra_eq = frozenset(texts)
        return lambda v: static(v) or v in extra_eq

    return None, bind


def _set_matcher(values: frozenset[str]) -> Matcher:
    if not values:
        return _never
    if len(values) == 1:
        (only,) = values
        return functools.partial(operator.eq, only)  # a bool for any value, unlike str.__eq__
    return values.__contains__


def _like_matcher(patterns: list[str]) -> Matcher:
    if not patterns:
        return _never
    if len(patterns) == 1:
        return compile_glob(patterns[0])
    if not any(has_wildcard(p) for p in patterns):
        return frozenset(patterns).__contains__
    # One regular expression for all the values: a single C-level scan instead of a Python loop.
    return _regex_matcher("|".join(f"(?:{_translate(p)})" for p in patterns))


@lru_cache(maxsize=16384)
def _regex_matcher(regex: str) -> Matcher:
    fullmatch = re.compile(regex, re.DOTALL).fullmatch
    return lambda s: fullmatch(s) is not None


def _bool(
    spec: _Spec, values: tuple[str, ...], op: str, path: str, issues: list[Issue]
) -> tuple[Matcher | None, Binder | None]:
    """Bool compares with "true" or "false", without regard to case; Bool values may hold policy variables
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_Boolean).
    Any other value is accepted by IAM but can never match, which is almost always a mistake.
    """
    plain, templates = _templates(values)
    ok: set[str] = set()
    for v in plain:
        lv = v.lower()
        if lv in ("true", "false"):
            ok.add(lv)
        else:
            issues.append(
                warning(
                    path,
                    f'"{v}" is not true or false: AWS accepts it but it never matches',
                    '"true" or "false"',
                )
            )
    frozen = frozenset(ok)
    static: Matcher = (lambda v: v.lower() in frozen) if frozen else _never
    if not templates:
        return static, None

    def bind(ctx: Context) -> Matcher:
        extra = frozenset(x.lower() for x in (t.resolve_text(ctx) for t in templates) if x is not None)
        both = frozen | extra
        return lambda v: v.lower() in both

    return None, bind


# ---------------------------------------------------------------------------------------------------------
# Numeric and Date: compared as numbers, parsed once on the policy side and cached on the request side

_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)


@lru_cache(maxsize=8192)
def _number(text: str) -> Decimal | None:
    """Integers and decimals exactly ("Numeric condition operators ... an integer or decimal value")."""
    if _NUMBER.fullmatch(text) is None:
        return None
    try:
        return Decimal(text)
    except InvalidOperation:  # pragma: no cover - the pattern only admits what Decimal parses
        return None


_EPOCH = re.compile(r"[+-]?[0-9]{1,15}(?:\.[0-9]{1,9})?", re.ASCII)
_YEAR_MONTH = re.compile(r"[0-9]{4}-[0-9]{2}", re.ASCII)
_ISO_START = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)
_EPOCH_ZERO = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


@lru_cache(maxsize=8192)
def _instant(text: str) -> int | None:
    """A date/time as integer microseconds since the epoch, or None.

    AWS takes "one of the W3C implementations of the ISO 8601 date formats or ... epoch (UNIX) time"
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_Date,
    http://www.w3.org/TR/NOTE-datetime): YYYY-MM, YYYY-MM-DD, and date-times with Z or an offset.
    ASSUMPTION: a string of digits is epoch seconds (so a bare "2020" is a time in 1970, not a year); a
    date without a time is midnight UTC and a date-time without a zone is UTC, as AWS states times in UTC.
    """
    if _EPOCH.fullmatch(text):
        return int(Decimal(text) * 1_000_000)
    if _YEAR_MONTH.fullmatch(text):
        text += "-01"
    elif not _ISO_START.match(text):
        return None
    try:
        dt = datetime.fromisoformat(text)
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)
        return (dt - _EPOCH_ZERO) // _MICROSECOND
    except (ValueError, OverflowError):
        return None


def _ordered(
    spec: _Spec,
    values: tuple[str, ...],
    *,
    parse: Callable[[str], Decimal | int | None],
    what: str,
    path: str,
    issues: list[Issue],
) -> Matcher:
    parsed: list[Decimal | int] = []
    for v in values:
        p = parse(v)
        if p is None:
            issues.append(error(path, f'"{v}" is not {what}'))
        else:
            parsed.append(p)
    if not parsed:
        return _never
    # OR over the policy values collapses to one comparison: "less than any of them" is "less than the
    # largest", and so on; equality is set membership (Decimal hashes agree with numeric equality).
    cmp = spec.cmp
    if cmp == "eq":
        allowed = frozenset(parsed)
        return lambda v: parse(v) in allowed
    bound = max(parsed) if cmp in ("lt", "le") else min(parsed)

    def m(v: str) -> bool:
        x = parse(v)
        if x is None:
            return False
        if cmp == "lt":
            return x < bound
        if cmp == "le":
            return x <= bound
        if cmp == "gt":
            return x > bound
        return x >= bound

    return m


def _numeric(
    spec: _Spec, values: tuple[str, ...], op: str, path: str, issues: list[Issue]
) -> tuple[Matcher | None, Binder | None]:
    # "You can not use a policy variable with the Numeric condition operator": a ${...} is just not a number.
    return _ordered(spec, values, parse=_number, what="a number", path=path, issues=issues), None


def _date(
    spec: _Spec, values: tuple[str, ...], op: str, path: str, issues: list[Issue]
) -> tuple[Matcher | None, Binder | None]:
    what = "a date (ISO 8601 such as 2024-01-31T12:00:00Z, or epoch seconds)"
    return _ordered(spec, values, parse=_instant, what=what, path=path, issues=issues), None


# ---------------------------------------------------------------------------------------------------------
# Binary


@lru_cache(maxsize=4096)
def _b64(text: str) -> bytes | None:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, binascii.Error):
        return None


def _binary(
    spec: _Spec, values: tuple[str, ...], op: str, path: str, issues: list[Issue]
) -> tuple[Matcher | None, Binder | None]:
    """BinaryEquals compares bytes with "a base-64 encoded representation of the binary value in the policy"
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_BinaryEquals).
    ASSUMPTION: the request's binary values arrive base64-encoded too (as the IAM policy simulator takes
    them); one that does not decode matches nothing.
    """
    wanted: set[bytes] = set()
    for v in values:
        b = _b64(v)
        if b is None:
            issues.append(error(path, f'"{v}" is not valid base64'))
        else:
            wanted.add(b)
    if not wanted:
        return _never, None
    frozen = frozenset(wanted)
    return (lambda v: _b64(v) in frozen), None


# ---------------------------------------------------------------------------------------------------------
# IP address


@lru_cache(maxsize=8192)
def _ip(text: str) -> tuple[int, int] | None:
    """(IP version, address as an integer), or None for anything else (aws:SourceIp can be "AWS Internal")."""
    try:
        a = ipaddress.ip_address(text)
    except ValueError:
        return None
    return a.version, int(a)


def _ipaddr(
    spec: _Spec, values: tuple[str, ...], op: str, path: str, issues: list[Issue]
) -> tuple[Matcher | None, Binder | None]:
    """IPv4 or IPv6 addresses and CIDR ranges; "If you specify an IP address without the associated routing
    prefix, IAM uses the default prefix value of /32"
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_IPAddress).
    Ranges become integer bounds per IP version, so an IPv4 address never falls in an IPv6 range.
    """
    ranges: dict[int, list[tuple[int, int]]] = {4: [], 6: []}
    for v in values:
        try:
            net = ipaddress.ip_network(v.strip(), strict=False)
        except ValueError:
            issues.append(error(path, f'"{v}" is not an IP address or CIDR'))
            continue
        ranges[net.version].append((int(net.network_address), int(net.broadcast_address)))
    v4 = tuple(ranges[4])
    v6 = tuple(ranges[6])
    if not v4 and not v6:
        return _never, None
    if len(v4) == 1 and not v6:
        lo, hi = v4[0]

        def one(v: str) -> bool:
            a = _ip(v)
            return a is not None and a[0] == 4 and lo <= a[1] <= hi

        return one, None

    def m(v: str) -> bool:
        a = _ip(v)
        if a is None:
            return False
        x = a[1]
        for lo, hi in v4 if a[0] == 4 else v6:  # noqa: SIM110 - hot path, no generator
            if lo <= x <= hi:
                return True
        return False

    return m, None


# ---------------------------------------------------------------------------------------------------------
# ARN


def _arn_regex(pieces: Iterable[tuple[str, bool]]) -> str | None:
    """A regular expression matching ARNs as ArnLike does, or None when the value is not an ARN.

    "Each of the six colon-delimited components of the ARN is checked separately and each can include ...
    wildcards": in the first five components ``*`` and ``?`` never cross a colon; the sixth (the resource,
    which may itself contain colons) runs to the end
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_ARN).
    ``pieces`` are (text, wildcards active): text substituted from a variable is literal. The pattern holds
    five literal colons, so a request value that is not an ARN cannot match.
    ASSUMPTION: a policy value with fewer than six components (even "*") is not an ARN and matches nothing.
    """
    colons = 0
    out: list[str] = []
    for text, wild in pieces:
        for ch in text:
            if ch == ":":
                colons += 1
                out.append(":")
            elif wild and ch == "*":
                out.append(".*" if colons >= 5 else "[^:]*")
            elif wild and ch == "?":
                out.append("." if colons >= 5 else "[^:]")
            else:
                out.append(re.escape(ch))
    if colons < 5:
        return None
    return "".join(out)


def _arn_template_regex(t: Template, ctx: Context) -> str | None:
    pieces: list[tuple[str, bool]] = []
    for p in t.parts:
        if isinstance(p, Literal):
            pieces.append((p.text, True))
        elif isinstance(p, Special):
            pieces.append((p.char, False))
        else:
            # The same resolution as kmslaunch.policy.variables: one value, else the default, else no match.
            got = ctx.get(p.key_lower)
            if got is not None and len(got) == 1:
                pieces.append((got[0], False))
            elif p.default is not None:
                pieces.append((p.default, False))
            else:
                return None
    return _arn_regex(pieces)


def _arn(
    spec: _Spec, values: tuple[str, ...], op: str, path: str, issues: list[Issue]
) -> tuple[Matcher | None, Binder | None]:
    plain, templates = _templates(values)
    regexes: list[str] = []
    for v in plain:
        rx = _arn_regex([(v, True)])
        if rx is None:
            issues.append(
                warning(
                    path,
                    f'"{v}" is not an ARN: {op} compares the six colon-separated parts of an ARN, '
                    "so this value matches nothing",
                    "StringLike",
                )
            )
        else:
            regexes.append(rx)
    static = _regex_matcher("|".join(f"(?:{r})" for r in regexes)) if regexes else _never
    if not templates:
        return static, None

    def bind(ctx: Context) -> Matcher:
        resolved = [r for r in (_arn_template_regex(t, ctx) for t in templates) if r is not None]
        if not resolved:
            return static
        return _any_of([static, _regex_matcher("|".join(f"(?:{r})" for r in resolved))])

    return None, bind


_FAMILIES: dict[str, Family] = {
    "string": _string,
    "bool": _bool,
    "numeric": _numeric,
    "date": _date,
    "binary": _binary,
    "ip": _ipaddr,
    "arn": _arn,
}
