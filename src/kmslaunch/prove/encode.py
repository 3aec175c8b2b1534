"""The policy language as z3 formulas: one symbolic request, and what each statement of a document does to it.

The encoding follows the engine (``policy/match.py``, ``policy/conditions.py``, ``policy/operators.py``,
``policy/principals.py``), which follows AWS's documents; where they are cited there, they are not repeated here.
A document becomes, for the symbolic request, the same pair ``eval_fast`` returns: the bits of the Allow
statements that apply (how each named the caller: the principal itself, its role, or its account) and whether a
Deny applies.

What is not encoded raises ``Unencodable`` naming the statement and the element, and nothing is claimed for it.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

import z3

from kmslaunch.policy.catalog import lookup_condition_key
from kmslaunch.policy.conditions import Condition, _Op, _parse_operator
from kmslaunch.policy.model import Effect, Policy, PolicyType, PrincipalSpec, Statement, ValuePattern
from kmslaunch.policy.operators import BASES, _arn_regex, _instant, _number
from kmslaunch.policy.variables import Literal, Special, Template, Variable, parse_template

from .regex import _literal_re, _python_regex_re, glob_re
from .request import KeyVar, Kind, PType, SymbolicRequest, arn_is, role_is

ACCOUNT, ROLE, PRINCIPAL = 1, 2, 4  # the engine's bits (policy/match.py)
_PRINCIPAL_TYPES = frozenset(
    {PolicyType.KEY, PolicyType.RESOURCE, PolicyType.RCP, PolicyType.TRUST, PolicyType.VPC_ENDPOINT}
)


class Unencodable(Exception):
    """A statement the encoding cannot express faithfully: ``where`` names it, ``why`` says what it uses."""

    def __init__(self, where: str, why: str) -> None:
        super().__init__(f"{where} uses {why}")
        self.where = where
        self.why = why


# ---------------------------------------------------------------------------------------------------------
# Which keys, of which kind


_FAMILY_KIND = {
    "string": Kind.STRING,
    "bool": Kind.STRING,
    "arn": Kind.STRING,
    "numeric": Kind.NUMBER,
    "date": Kind.DATE,
    "ip": Kind.IP,
}


def key_kinds(policies: Iterable[Policy], extra: Iterable[str] = ()) -> dict[str, tuple[Kind, bool, int]]:
    """Each condition key the documents read (and ``extra``), with the kind its operators compare it as, whether
    it is multivalued, and the decimal scale numbers are kept at. A key compared both as text and as a number,
    date or address raises Unencodable."""
    kinds: dict[str, Kind] = {}
    multi: dict[str, bool] = {}
    scale: dict[str, int] = {}
    seen: set[str] = set(extra)
    for pol in policies:
        for st in pol.statements:
            for p in st.resources:
                for var in _template_vars(p.template):
                    _set_kind(kinds, var, Kind.STRING, st)
            for c in st.conditions:
                op = _op(c, st)
                base = op.base
                if base != "Null":
                    family = BASES[base].family
                    if family == "binary":
                        raise Unencodable(_where(pol, st), f"{c.operator} (binary values are not encoded)")
                    _set_kind(kinds, c.key_lower, _FAMILY_KIND[family], st)
                    if family == "numeric":
                        scale[c.key_lower] = max(scale.get(c.key_lower, 0), 1 + max(_decimals(v) for v in c.values))
                    for v in c.values:
                        t = parse_template(v)
                        for var in _template_vars(t):
                            _set_kind(kinds, var, Kind.STRING, st)
                seen.add(c.key_lower)
                documented = lookup_condition_key(c.key_lower)
                qualified = op.qualifier is not None
                multi[c.key_lower] = (
                    multi.get(c.key_lower, False) or qualified or bool(documented and documented.multivalued)
                )
    for k in seen:
        kinds.setdefault(k, Kind.STRING)  # read by Null only, or named by the launch: its text is what counts
    return {k: (kind, multi.get(k, False) or _documented_multi(k), scale.get(k, 0)) for k, kind in kinds.items()}


def _documented_multi(key: str) -> bool:
    found = lookup_condition_key(key)
    return bool(found and found.multivalued)


def _decimals(text: str) -> int:
    d = _number(text)
    if d is None:
        return 0
    exp = d.as_tuple().exponent
    return max(0, -exp) if isinstance(exp, int) else 0


def _template_vars(t: Template | None) -> list[str]:
    return [p.key_lower for p in t.parts if isinstance(p, Variable)] if t is not None else []


def _set_kind(kinds: dict[str, Kind], key: str, kind: Kind, st: Statement) -> None:
    had = kinds.get(key)
    if had is not None and had is not kind:
        raise Unencodable(st.label, f"the key {key} compared both as {had.value} and as {kind.value}")
    kinds[key] = kind


def _where(pol: Policy, st: Statement) -> str:
    return f"{pol.name} {st.label}"


def _op(c: Condition, st: Statement) -> _Op:
    op = _parse_operator(c.operator, c.path, [])
    if op is None:  # pragma: no cover - parse_policy reported it and left the condition out
        raise Unencodable(st.label, f"the operator {c.operator}")
    return op


# ---------------------------------------------------------------------------------------------------------
# Documents


@dataclass(frozen=True)
class DocumentFormula:
    """What one document does to the symbolic request: ``level`` is how strongly its applying Allow statements
    name the caller (0 none, 1 its account, 2 its role, 3 the caller itself: the engine's bits, of which the
    decision depends on the strongest), ``deny`` whether a Deny applies."""

    level: z3.ArithRef
    deny: z3.BoolRef


def encode_policy(policy: Policy, r: SymbolicRequest) -> DocumentFormula:
    """The document as ``eval_fast`` decides it, for every request at once."""
    allow: list[tuple[z3.BoolRef, z3.ArithRef]] = []
    denies: list[z3.BoolRef] = []
    needs_principal = policy.type in _PRINCIPAL_TYPES
    for st in policy.statements:
        where = _where(policy, st)
        level: z3.ArithRef = z3.IntVal(3)
        if needs_principal:
            level = _principal_level(st, r)
        applies = z3.And(
            level > 0,
            _action_matches(st, r),
            _resource_matches(st, r, where),
            *(_condition(c, r, where) for c in st.conditions),
        )
        if st.effect is Effect.DENY:
            denies.append(applies)
        else:
            allow.append((applies, level))
    best: z3.ArithRef = z3.IntVal(0)
    for applies, level in allow:
        best = z3.If(z3.And(applies, level > best), level, best)
    return DocumentFormula(best, z3.Or(*denies) if denies else z3.BoolVal(False))


def _action_matches(st: Statement, r: SymbolicRequest) -> z3.BoolRef:
    hit = z3.Or(*(z3.InRe(r.action, glob_re(a.lower())) for a in st.actions)) if st.actions else z3.BoolVal(False)
    return z3.Not(hit) if st.not_action else hit


def _resource_matches(st: Statement, r: SymbolicRequest, where: str) -> z3.BoolRef:
    if not st.has_resource:
        return z3.BoolVal(True)
    hits = [_pattern(p, r.resource, r, where) for p in st.resources]
    hit = z3.Or(*hits) if hits else z3.BoolVal(False)
    return z3.Not(hit) if st.not_resource else hit


def _pattern(p: ValuePattern, value: z3.SeqRef, r: SymbolicRequest, where: str) -> z3.BoolRef:
    if p.template is None:
        if "*" not in p.text and "?" not in p.text:
            return value == z3.StringVal(p.text)
        return z3.InRe(value, glob_re(p.text))
    return _template_equals(p.template, value, r, where, wildcards=True)


def _template_equals(t: Template, value: z3.SeqRef, r: SymbolicRequest, where: str, *, wildcards: bool) -> z3.BoolRef:
    """A value with policy variables, where its literal text holds no wildcard: equality with the text the
    request's keys make of it (policy/variables.Template: a key absent or not one-valued takes the default, and
    without one the value matches nothing)."""
    pieces: list[z3.SeqRef] = []
    ready: list[z3.BoolRef] = []
    for part in t.parts:
        if isinstance(part, Literal):
            if wildcards and ("*" in part.text or "?" in part.text):
                raise Unencodable(where, f"the policy variable in {t.source!r} next to a wildcard")
            pieces.append(z3.StringVal(part.text))
        elif isinstance(part, Special):
            pieces.append(z3.StringVal(part.char))
        else:
            kv = r.keys.get(part.key_lower)
            if kv is None or kv.kind is not Kind.STRING:
                raise Unencodable(where, f"the policy variable ${{{part.key}}}")
            if part.default is None:
                ready.append(kv.one_value())
                pieces.append(kv.strings[0])
            else:
                pieces.append(z3.If(kv.one_value(), kv.strings[0], z3.StringVal(part.default)))
    text = z3.Concat(*pieces) if len(pieces) > 1 else pieces[0]
    return z3.And(*ready, value == text)


def _principal_level(st: Statement, r: SymbolicRequest) -> z3.ArithRef:
    """policy/match._principal_match: how the Principal (or NotPrincipal) element names the caller."""
    if st.principal is None:
        return z3.IntVal(3)
    m = _match_principal(st.principal, r)
    if not st.not_principal:
        return m
    exempt = z3.Or(m == 3, m == 2)
    if st.effect is Effect.DENY:
        lacks = z3.And(
            r.has_account,
            r.ptype != PType.ACCOUNT,
            *(z3.Not(_names_account(e, r)) for e in st.principal.aws),
        )
        return z3.If(z3.Or(r.has_boundary, z3.And(exempt, lacks)), 3, z3.If(exempt, 0, 3))
    return z3.If(exempt, 0, 3)


def _names_account(entry: str, r: SymbolicRequest) -> z3.BoolRef:
    if re.fullmatch(r"\d{12}", entry):
        return r.account == z3.StringVal(entry)
    m = re.fullmatch(r"arn:([^:]+):iam::(\d{12}):root", entry)
    if m:
        return z3.And(r.partition == z3.StringVal(m.group(1)), r.account == z3.StringVal(m.group(2)))
    return z3.BoolVal(False)


def _match_principal(spec: PrincipalSpec, r: SymbolicRequest) -> z3.ArithRef:
    """policy/principals.match_principal as a level 0..3."""
    if spec.wildcard:
        return z3.IntVal(3)
    service = z3.Or(*(r.service == z3.StringVal(s) for s in spec.service)) if spec.service else z3.BoolVal(False)
    best: z3.ArithRef = z3.IntVal(0)
    for entry in spec.aws:
        got = _aws_entry(entry, r)
        best = z3.If(got > best, got, best)
    return z3.If(r.ptype == PType.SERVICE, z3.If(service, 3, 0), z3.If(r.has_account, best, 0))


def _aws_entry(entry: str, r: SymbolicRequest) -> z3.ArithRef:
    role_named = z3.BoolVal(False)
    m = re.fullmatch(r"arn:[^:]+:iam::(\d{12}):role/(.+)", entry)
    if m:
        role_named = z3.And(
            z3.Not(r.role_path_known),
            r.account == z3.StringVal(m.group(1)),
            r.name == z3.StringVal(m.group(2).rsplit("/", 1)[-1]),
        )
    return z3.If(
        _names_account(entry, r),
        z3.If(r.ptype == PType.ACCOUNT, 3, 1),
        z3.If(
            arn_is(entry, r),
            3,
            z3.If(z3.Or(role_is(entry, r), role_named), 2, 0),
        ),
    )


# Conditions


def _condition(c: Condition, r: SymbolicRequest, where: str) -> z3.BoolRef:
    """conditions._shape and _null_test: the request's values quantified over the operator's matcher."""
    op = _parse_operator(c.operator, c.path, [])
    if op is None:  # pragma: no cover - parse_policy left such a condition out
        raise Unencodable(where, f"the operator {c.operator}")
    kv = r.keys[c.key_lower]
    if op.base == "Null":
        lowered = {v.lower() for v in c.values}
        return z3.If(kv.present, z3.BoolVal("false" in lowered), z3.BoolVal("true" in lowered))
    spec = BASES[op.base]
    if op.qualifier == "ForAllValues":
        missing, shape = True, ("none" if spec.negated else "all")
    elif op.qualifier == "ForAnyValue":
        missing, shape = op.if_exists, ("notall" if spec.negated else "any")
    else:
        missing, shape = op.if_exists or spec.negated, ("none" if spec.negated else "any")
    matches = [z3.And(kv.count > i, _value_matches(spec.family, spec.cmp, c, kv, i, r, where)) for i in kv.slots()]
    within = [z3.Implies(kv.count > i, _value_matches(spec.family, spec.cmp, c, kv, i, r, where)) for i in kv.slots()]
    if shape == "any":
        body = z3.Or(*matches)
    elif shape == "none":
        body = z3.Not(z3.Or(*matches))
    elif shape == "all":
        body = z3.And(*within)
    else:
        body = z3.Not(z3.And(*within))
    return z3.If(kv.present, body, z3.BoolVal(missing))


def _value_matches(
    family: str, cmp: str, c: Condition, kv: KeyVar, i: int, r: SymbolicRequest, where: str
) -> z3.BoolRef:
    """Whether the request's i-th value matches any of the policy's values (operators.FAMILIES)."""
    if family in ("string", "bool", "arn"):
        return _string_matches(family, cmp, c.values, kv.strings[i], r, where)
    ok, num = kv.valid[i], kv.numbers[i]
    if family == "ip":
        return z3.And(ok, _ip_matches(c.values, num, kv.versions[i]))
    parse = _number if family == "numeric" else _instant
    parsed: list[int] = []
    for v in c.values:
        p = parse(v)
        if p is not None:
            parsed.append(int(Decimal(p) * 10**kv.scale) if family == "numeric" else int(p))
    if not parsed:
        return z3.BoolVal(False)
    if cmp == "eq":
        return z3.And(ok, z3.Or(*(num == p for p in parsed)))
    bound = max(parsed) if cmp in ("lt", "le") else min(parsed)
    rel = {"lt": num < bound, "le": num <= bound, "gt": num > bound, "ge": num >= bound}[cmp]
    return z3.And(ok, rel)


def _string_matches(
    family: str, cmp: str, values: Sequence[str], s: z3.SeqRef, r: SymbolicRequest, where: str
) -> z3.BoolRef:
    alts: list[z3.BoolRef] = []
    for v in values:
        t = parse_template(v)
        if t is not None:
            if family != "string" or cmp == "ieq":
                raise Unencodable(
                    where, f"the policy variable in {v!r} under a {family} operator that ignores case or compares ARNs"
                )
            alts.append(_template_equals(t, s, r, where, wildcards=cmp == "like"))
        elif family == "bool":
            if v.lower() in ("true", "false"):
                alts.append(z3.InRe(s, _literal_re(v.lower(), True)))
        elif family == "arn":
            rx = _arn_regex([(v, True)])
            if rx is not None:
                alts.append(z3.InRe(s, _python_regex_re(rx)))
        elif cmp == "eq":
            alts.append(s == z3.StringVal(v))
        elif cmp == "ieq":
            alts.append(z3.InRe(s, _literal_re(v, True)))
        else:
            alts.append(z3.InRe(s, glob_re(v)))
    return z3.Or(*alts) if alts else z3.BoolVal(False)


def _ip_matches(values: Sequence[str], num: z3.ArithRef, ver: z3.ArithRef) -> z3.BoolRef:
    alts: list[z3.BoolRef] = []
    for v in values:
        try:
            net = ipaddress.ip_network(v.strip(), strict=False)
        except ValueError:
            continue
        lo, hi = int(net.network_address), int(net.broadcast_address)
        alts.append(z3.And(ver == net.version, num >= lo, num <= hi))
    return z3.Or(*alts) if alts else z3.BoolVal(False)
