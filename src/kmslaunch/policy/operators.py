"""The IAM condition operators' families: how each compares a request value with the policy's values.

``conditions`` parses the Condition element and combines request values, qualifiers and absent keys; each
family here turns the policy's values for one operator into a matcher (or a binder, where policy variables are
resolved per request), parsing everything it can ahead of time. Sources are cited where each rule is encoded
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html).
"""

from __future__ import annotations

import base64
import binascii
import functools
import ipaddress
import operator
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
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
class Spec:
    """What a base operator compares (``family``), how (``cmp``), and whether it is a negated operator."""

    family: str  # string | numeric | date | bool | binary | ip | arn
    cmp: str  # eq | ieq | like | lt | le | gt | ge
    negated: bool


BASES: dict[str, Spec] = {
    "StringEquals": Spec("string", "eq", False),
    "StringNotEquals": Spec("string", "eq", True),
    "StringEqualsIgnoreCase": Spec("string", "ieq", False),
    "StringNotEqualsIgnoreCase": Spec("string", "ieq", True),
    "StringLike": Spec("string", "like", False),
    "StringNotLike": Spec("string", "like", True),
    "NumericEquals": Spec("numeric", "eq", False),
    "NumericNotEquals": Spec("numeric", "eq", True),
    "NumericLessThan": Spec("numeric", "lt", False),
    "NumericLessThanEquals": Spec("numeric", "le", False),
    "NumericGreaterThan": Spec("numeric", "gt", False),
    "NumericGreaterThanEquals": Spec("numeric", "ge", False),
    "DateEquals": Spec("date", "eq", False),
    "DateNotEquals": Spec("date", "eq", True),
    "DateLessThan": Spec("date", "lt", False),
    "DateLessThanEquals": Spec("date", "le", False),
    "DateGreaterThan": Spec("date", "gt", False),
    "DateGreaterThanEquals": Spec("date", "ge", False),
    "Bool": Spec("bool", "eq", False),
    "BinaryEquals": Spec("binary", "eq", False),
    "IpAddress": Spec("ip", "eq", False),
    "NotIpAddress": Spec("ip", "eq", True),
    # "The ArnEquals and ArnLike condition operators behave identically" (and so do the Not forms).
    "ArnEquals": Spec("arn", "like", False),
    "ArnLike": Spec("arn", "like", False),
    "ArnNotEquals": Spec("arn", "like", True),
    "ArnNotLike": Spec("arn", "like", True),
}


def _never(_: str) -> bool:
    return False


def _any_of(matchers: list[Matcher]) -> Matcher:
    if not matchers:
        return _never
    if len(matchers) == 1:
        return matchers[0]
    return lambda v: any(m(v) for m in matchers)


Family = Callable[[Spec, tuple[str, ...], str, str, list[Issue]], tuple[Matcher | None, Binder | None]]


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
    spec: Spec, values: tuple[str, ...], op: str, path: str, issues: list[Issue]
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
    if cmp == "like":

        def bind_like(ctx: Context) -> Matcher:
            globs = [g for g in (t.resolve_glob(ctx) for t in templates) if g is not None]
            return _any_of([static, *globs])

        return None, bind_like
    # The matcher by the variables' resolved values: a caller resolves the same way on every request.
    memo: dict[tuple[str, ...], Matcher] = {}
    base = frozenset(p.lower() for p in plain) if cmp == "ieq" else frozenset(plain)

    def bind(ctx: Context) -> Matcher:
        texts = tuple(x for x in (t.resolve_text(ctx) for t in templates) if x is not None)
        got = memo.get(texts)
        if got is None:
            if cmp == "ieq":
                lowered = base | {x.lower() for x in texts}
                got = lambda v: v.lower() in lowered  # noqa: E731 - a closure is the compiled form
            else:
                got = (base | frozenset(texts)).__contains__
            if len(memo) < 1024:
                memo[texts] = got
        return got

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
    spec: Spec, values: tuple[str, ...], op: str, path: str, issues: list[Issue]
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
    Assumption date-formats (docs/assumptions.md): a string of digits is epoch seconds (so a bare "2020" is a time
    in 1970, not a year); a date without a time is midnight UTC and a date-time without a zone is UTC, as AWS states
    times in UTC.
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
    spec: Spec,
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
    spec: Spec, values: tuple[str, ...], op: str, path: str, issues: list[Issue]
) -> tuple[Matcher | None, Binder | None]:
    # "You can not use a policy variable with the Numeric condition operator": a ${...} is just not a number.
    return _ordered(spec, values, parse=_number, what="a number", path=path, issues=issues), None


def _date(
    spec: Spec, values: tuple[str, ...], op: str, path: str, issues: list[Issue]
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
    spec: Spec, values: tuple[str, ...], op: str, path: str, issues: list[Issue]
) -> tuple[Matcher | None, Binder | None]:
    """BinaryEquals compares bytes with "a base-64 encoded representation of the binary value in the policy"
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_BinaryEquals).
    Assumption binary-request-values (docs/assumptions.md): the request's binary values arrive base64-encoded too
    (as the IAM policy simulator takes them); one that does not decode matches nothing.
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
    spec: Spec, values: tuple[str, ...], op: str, path: str, issues: list[Issue]
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
    Assumption arn-like-star (docs/assumptions.md): a lone ``*`` matches any ARN (every component a wildcard); any
    other policy value with fewer than six components is not an ARN and matches nothing.
    """
    pieces = list(pieces)
    if len(pieces) == 1 and pieces[0] == ("*", True):
        return r"[^:]*:[^:]*:[^:]*:[^:]*:[^:]*:.*"
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
    spec: Spec, values: tuple[str, ...], op: str, path: str, issues: list[Issue]
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


FAMILIES: dict[str, Family] = {
    "string": _string,
    "bool": _bool,
    "numeric": _numeric,
    "date": _date,
    "binary": _binary,
    "ip": _ipaddr,
    "arn": _arn,
}
