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

import dataclasses
import difflib
import functools
import operator
from dataclasses import dataclass, field

from kmslaunch.policy.errors import Issue, error, warning
from kmslaunch.policy.operators import BASES, FAMILIES, Binder, Context, Matcher, Test

_QUALIFIERS = ("ForAllValues", "ForAnyValue")
_IF_EXISTS = "IfExists"

# Every operator name AWS accepts, for "did you mean" on a misspelt or wrongly cased one (assumption
# operator-name-case, docs/assumptions.md).
_ALL_NAMES: tuple[str, ...] = (
    "Null",
    *(f"{q}{b}{s}" for q in ("", *(f"{q}:" for q in _QUALIFIERS)) for b in BASES for s in ("", _IF_EXISTS)),
)
_BY_LOWER = {n.lower(): n for n in _ALL_NAMES}


@dataclass(frozen=True, slots=True)
class _Op:
    qualifier: str | None  # "ForAllValues" | "ForAnyValue" | None
    base: str  # a key of BASES, or "Null"
    if_exists: bool


def _parse_operator(op: str, path: str, issues: list[Issue]) -> _Op | None:
    qualifier: str | None = None
    rest = op
    if ":" in op:
        qualifier, rest = op.split(":", 1)
    if_exists = rest.endswith(_IF_EXISTS) and rest != _IF_EXISTS
    base = rest[: -len(_IF_EXISTS)] if if_exists else rest
    known = (qualifier is None or qualifier in _QUALIFIERS) and (base in BASES or base == "Null")
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
        spec = BASES[op.base]
        static, binder = FAMILIES[spec.family](spec, values, op_name, path, issues)
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

    Assumption multivalued-key-single-operator (docs/assumptions.md): AWS says multivalued keys "require a condition
    set operator" but not what an unqualified operator does when the request has several values for its key.
    kmslaunch applies a positive operator as "any request value matches" and a negated one as its negation ("no
    request value matches"), which is also what a one-valued request gives. (Another simulator,
    cloud-copilot/iam-simulate, makes such a condition never match; AWS documents neither behaviour.)
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


def _members(m: Matcher) -> frozenset[str] | None:
    """The policy's values when ``m`` is plain membership (StringEquals, StringLike without wildcards): the
    quantifiers are then set operations, done in C."""
    if isinstance(m, functools.partial) and m.func is operator.eq and len(m.args) == 1 and not m.keywords:
        return frozenset(m.args) if isinstance(m.args[0], str) else None
    owner = getattr(m, "__self__", None)
    if isinstance(owner, frozenset) and getattr(m, "__name__", "") == "__contains__":
        return owner
    return None


def _static_test(key: str, missing: bool, shape: str, m: Matcher) -> Test:
    members = _members(m)
    if members is not None:
        return _member_test(key, missing, shape, members)
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


def _member_test(key: str, missing: bool, shape: str, members: frozenset[str]) -> Test:
    """As ``_static_test`` for a matcher that is membership in ``members``."""
    isdisjoint, issuperset = members.isdisjoint, members.issuperset
    if shape == "any":

        def test(ctx: Context) -> bool:
            vals = ctx.get(key)
            return missing if vals is None else not isdisjoint(vals)

    elif shape == "none":

        def test(ctx: Context) -> bool:
            vals = ctx.get(key)
            return missing if vals is None else isdisjoint(vals)

    elif shape == "all":

        def test(ctx: Context) -> bool:
            vals = ctx.get(key)
            return missing if vals is None else issuperset(vals)

    else:

        def test(ctx: Context) -> bool:
            vals = ctx.get(key)
            return missing if vals is None else not issuperset(vals)

    return test


def _bound_test(key: str, missing: bool, shape: str, binder: Binder) -> Test:
    """Policy values with variables: resolve them against this request, then quantify as above."""

    def test(ctx: Context) -> bool:
        vals = ctx.get(key)
        if vals is None:
            return missing
        m = binder(ctx)
        if shape == "any":
            for v in vals:  # noqa: SIM110 - a plain loop is faster than any() over a generator
                if m(v):
                    return True
            return False
        if shape == "none":
            for v in vals:  # noqa: SIM110 - as above
                if m(v):
                    return False
            return True
        if shape == "all":
            for v in vals:  # noqa: SIM110 - as above
                if not m(v):
                    return False
            return True
        for v in vals:  # noqa: SIM110 - as above
            if not m(v):
                return True
        return False

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
