"""The policy language as z3 formulas: one symbolic request, and what each statement of a document does to it.

The encoding follows the engine (``policy/match.py``, ``policy/conditions.py``, ``policy/operators.py``,
``policy/principals.py``), which follows AWS's documents; where they are cited there, they are not repeated here.
A document becomes, for the symbolic request, the same pair ``eval_fast`` returns: the bits of the Allow
statements that apply (how each named the caller: the principal itself, its role, or its account) and whether a
Deny applies.

What is not encoded raises ``Unencodable`` naming the statement and the element, and nothing is claimed for it.
"""

from __future__ import annotations

import enum
import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

import z3

from kmslaunch.policy.catalog import lookup_condition_key
from kmslaunch.policy.conditions import Condition, _Op, _parse_operator
from kmslaunch.policy.model import Effect, Policy, PolicyType, PrincipalSpec, Statement, ValuePattern
from kmslaunch.policy.operators import BASES, _arn_regex, _instant, _number
from kmslaunch.policy.variables import Literal, Special, Template, Variable, parse_template

# How many values a multivalued key carries in the symbolic request (assumption prove-set-bound).
SET_BOUND = 3

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


class PType(enum.IntEnum):
    """The caller's kind, as the engine's PrincipalType."""

    ACCOUNT = 0
    USER = 1
    ASSUMED_ROLE = 2
    FEDERATED_USER = 3
    ANONYMOUS = 4
    SERVICE = 5


class Kind(enum.Enum):
    """How a condition key's value is represented: the operators used on it decide."""

    STRING = "string"
    NUMBER = "number"
    DATE = "date"
    IP = "ip"


# ---------------------------------------------------------------------------------------------------------
# Regular expressions


def _chars(text: str) -> z3.ReRef:
    return z3.Re(z3.StringVal(text))


ANY = z3.Full(z3.ReSort(z3.StringSort()))
ONE = z3.AllChar(z3.ReSort(z3.StringSort()))
_NOT_COLON = z3.Diff(ONE, z3.Re(":"))
_DIGIT = z3.Range("0", "9")
_NAME_CHAR = z3.Union(z3.Range("a", "z"), z3.Range("A", "Z"), _DIGIT, *(z3.Re(c) for c in "+=,.@_-"))
NAME = z3.Plus(_NAME_CHAR)
ACCOUNT_ID = z3.Loop(_DIGIT, 12, 12)
_LOWER_WORD = z3.Plus(z3.Union(z3.Range("a", "z"), _DIGIT, z3.Re("-")))
ACTION = z3.Concat(_LOWER_WORD, z3.Re(":"), z3.Plus(z3.Union(z3.Range("a", "z"), _DIGIT)))
_PRINTABLE = z3.Range(" ", "~")
# A resource is an ARN: six colon-separated parts, the fifth an account id or empty
# (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference-arns.html).
RESOURCE = z3.Concat(
    z3.Re("arn:"),
    _LOWER_WORD,
    z3.Re(":"),
    z3.Star(z3.Union(z3.Range("a", "z"), _DIGIT, z3.Re("-"))),
    z3.Re(":"),
    z3.Star(z3.Union(z3.Range("a", "z"), _DIGIT, z3.Re("-"))),
    z3.Re(":"),
    z3.Option(ACCOUNT_ID),
    z3.Re(":"),
    z3.Plus(_PRINTABLE),
)
_WITH_ACCOUNT = z3.Concat(*([z3.Star(_NOT_COLON), z3.Re(":")] * 4), z3.Plus(_DIGIT), z3.Re(":"), ANY)


def glob_re(pattern: str, ignore_case: bool = False) -> z3.ReRef:
    """IAM's ``*`` and ``?`` (policy/wildcard.py) as a z3 regular expression."""
    parts: list[z3.ReRef] = []
    literal = ""
    for ch in pattern:
        if ch in "*?":
            if literal:
                parts.append(_literal_re(literal, ignore_case))
                literal = ""
            parts.append(ANY if ch == "*" else ONE)
        else:
            literal += ch
    if literal:
        parts.append(_literal_re(literal, ignore_case))
    if not parts:
        return _chars("")
    return parts[0] if len(parts) == 1 else z3.Concat(*parts)


def _literal_re(text: str, ignore_case: bool) -> z3.ReRef:
    if not ignore_case or text.lower() == text.upper():
        return _chars(text)
    pieces = [
        z3.Union(z3.Re(c.lower()), z3.Re(c.upper())) if c.lower() != c.upper() else z3.Re(c)
        for c in text
        if len(c.lower()) == 1 and len(c.upper()) == 1
    ]
    if len(pieces) != len(text):
        return _chars(text.lower()) if text.lower() == text else _chars(text)
    return pieces[0] if len(pieces) == 1 else z3.Concat(*pieces)


def _python_regex_re(regex: str) -> z3.ReRef:
    """The regular expressions ``operators._arn_regex`` writes: escaped literals, ``[^:]*``, ``[^:]``, ``.*``,
    ``.``."""
    out: list[z3.ReRef] = []
    i = 0
    while i < len(regex):
        if regex.startswith("[^:]*", i):
            out.append(z3.Star(_NOT_COLON))
            i += 5
        elif regex.startswith("[^:]", i):
            out.append(_NOT_COLON)
            i += 4
        elif regex.startswith(".*", i):
            out.append(ANY)
            i += 2
        elif regex[i] == ".":
            out.append(ONE)
            i += 1
        elif regex[i] == "\\":
            out.append(z3.Re(regex[i + 1]))
            i += 2
        else:
            out.append(z3.Re(regex[i]))
            i += 1
    return z3.Concat(*out) if len(out) > 1 else out[0]


# ---------------------------------------------------------------------------------------------------------
# The symbolic request


@dataclass(frozen=True)
class KeyVar:
    """One condition key of the request: whether present, how many values, and the values in its kind."""

    name: str
    kind: Kind
    multivalued: bool
    present: z3.BoolRef
    count: z3.ArithRef
    strings: tuple[z3.SeqRef, ...] = ()
    valid: tuple[z3.BoolRef, ...] = ()  # NUMBER/DATE/IP: the value parses as one
    numbers: tuple[z3.ArithRef, ...] = ()  # NUMBER: value * 10**scale; DATE: microseconds; IP: the address
    versions: tuple[z3.ArithRef, ...] = ()  # IP: 4 or 6
    scale: int = 0

    def slots(self) -> range:
        return range(SET_BOUND if self.multivalued else 1)

    def one_value(self) -> z3.BoolRef:
        """The key is present with exactly one value (what a policy variable needs)."""
        return z3.And(self.present, self.count == 1)


@dataclass
class SymbolicRequest:
    """The request every formula is about: caller, action, resource, and the context keys the documents use."""

    ptype: z3.ArithRef
    partition: z3.SeqRef
    account: z3.SeqRef
    name: z3.SeqRef
    session: z3.SeqRef
    path: z3.SeqRef
    service: z3.SeqRef
    role_path_known: z3.BoolRef
    has_boundary: z3.BoolRef
    action: z3.SeqRef
    resource: z3.SeqRef
    keys: dict[str, KeyVar] = field(default_factory=dict)

    @property
    def arn(self) -> z3.SeqRef:
        """The ARN AWS reports for the caller (policy/principals.parse_principal's forms)."""
        head = z3.Concat(z3.StringVal("arn:"), self.partition)
        t = self.ptype
        return z3.If(
            t == PType.ACCOUNT,
            z3.Concat(head, z3.StringVal(":iam::"), self.account, z3.StringVal(":root")),
            z3.If(
                t == PType.USER,
                z3.Concat(head, z3.StringVal(":iam::"), self.account, z3.StringVal(":user"), self.path, self.name),
                z3.If(
                    t == PType.ASSUMED_ROLE,
                    z3.Concat(
                        head,
                        z3.StringVal(":sts::"),
                        self.account,
                        z3.StringVal(":assumed-role/"),
                        self.name,
                        z3.StringVal("/"),
                        self.session,
                    ),
                    z3.If(
                        t == PType.FEDERATED_USER,
                        z3.Concat(
                            head, z3.StringVal(":sts::"), self.account, z3.StringVal(":federated-user/"), self.name
                        ),
                        z3.If(t == PType.SERVICE, self.service, z3.StringVal("anonymous")),
                    ),
                ),
            ),
        )

    @property
    def principal_arn(self) -> z3.SeqRef:
        """``aws:PrincipalArn``: the role's ARN for a session, else the caller's ARN."""
        role = z3.Concat(
            z3.StringVal("arn:"),
            self.partition,
            z3.StringVal(":iam::"),
            self.account,
            z3.StringVal(":role"),
            self.path,
            self.name,
        )
        return z3.If(self.ptype == PType.ASSUMED_ROLE, role, self.arn)

    @property
    def root_arn(self) -> z3.SeqRef:
        return z3.Concat(
            z3.StringVal("arn:"), self.partition, z3.StringVal(":iam::"), self.account, z3.StringVal(":root")
        )

    @property
    def has_account(self) -> z3.BoolRef:
        return z3.And(self.ptype != PType.ANONYMOUS, self.ptype != PType.SERVICE)


def new_request(keys: dict[str, tuple[Kind, bool, int]]) -> tuple[SymbolicRequest, list[z3.BoolRef]]:
    """A fresh symbolic request with the given condition keys (lower-cased name -> kind, multivalued, scale), and
    the constraints that make it a request the engine can be given: well-formed ARNs and names, the keys the
    engine derives from the caller and the resource present where it derives them."""
    s = z3.String
    r = SymbolicRequest(
        ptype=z3.Int("principal_type"),
        partition=s("partition"),
        account=s("account"),
        name=s("name"),
        session=s("session"),
        path=s("path"),
        service=s("service"),
        role_path_known=z3.Bool("role_path_known"),
        has_boundary=z3.Bool("has_boundary"),
        action=s("action"),
        resource=s("resource"),
    )
    cons: list[z3.BoolRef] = [
        r.ptype >= 0,
        r.ptype <= 5,
        z3.Or(*(r.partition == z3.StringVal(p) for p in ("aws", "aws-cn", "aws-us-gov"))),
        z3.InRe(r.account, ACCOUNT_ID),
        z3.Or(z3.InRe(r.name, NAME), r.name == z3.StringVal("aws:ec2-infrastructure")),
        z3.InRe(r.session, NAME),
        z3.InRe(r.path, z3.Concat(z3.Re("/"), z3.Star(z3.Concat(NAME, z3.Re("/"))))),
        z3.InRe(
            r.service,
            z3.Concat(z3.Plus(z3.Union(z3.Range("a", "z"), _DIGIT, z3.Re("-"), z3.Re("."))), _chars(".amazonaws.com")),
        ),
        # Only a session of a role has a name with a colon (aws:ec2-infrastructure), a path for users and roles.
        z3.Implies(r.ptype != PType.ASSUMED_ROLE, z3.InRe(r.name, NAME)),
        z3.Implies(z3.Not(z3.Or(r.ptype == PType.ASSUMED_ROLE, r.ptype == PType.USER)), r.path == z3.StringVal("/")),
        # Without the role's path, the engine takes the role ARN without a path (principals._default_role_arn).
        z3.Implies(z3.Not(r.role_path_known), r.path == z3.StringVal("/")),
        z3.Implies(r.ptype != PType.ASSUMED_ROLE, r.role_path_known),
        z3.InRe(r.action, ACTION),
        z3.InRe(r.resource, RESOURCE),
    ]
    for name, (kind, multi, scale) in sorted(keys.items()):
        kv = _key_var(name, kind, multi, scale)
        r.keys[name] = kv
        cons += _key_constraints(kv)
    cons += _derived_presence(r)
    return r, cons


def _key_var(name: str, kind: Kind, multi: bool, scale: int) -> KeyVar:
    n = SET_BOUND if multi else 1
    present = z3.Bool(f"has[{name}]")
    count = z3.Int(f"count[{name}]")
    if kind is Kind.STRING:
        return KeyVar(name, kind, multi, present, count, strings=tuple(z3.String(f"{name}[{i}]") for i in range(n)))
    return KeyVar(
        name,
        kind,
        multi,
        present,
        count,
        valid=tuple(z3.Bool(f"valid[{name}][{i}]") for i in range(n)),
        numbers=tuple(z3.Int(f"num[{name}][{i}]") for i in range(n)),
        versions=tuple(z3.Int(f"ipv[{name}][{i}]") for i in range(n)),
        scale=scale,
    )


def _key_constraints(kv: KeyVar) -> list[z3.BoolRef]:
    n = len(kv.slots())
    # A present single-valued key has one value; a multivalued one none to SET_BOUND (assumption prove-set-bound).
    out: list[z3.BoolRef] = [
        z3.Implies(kv.present, z3.And(kv.count >= (0 if kv.multivalued else 1), kv.count <= n)),
        z3.Implies(z3.Not(kv.present), kv.count == 0),
    ]
    documented = lookup_condition_key(kv.name)
    boolean = documented is not None and documented.type.value == "Bool"
    for s in kv.strings:
        out.append(z3.InRe(s, z3.Star(_PRINTABLE)))
        if boolean:
            # AWS sets its boolean keys to "true" or "false" (assumption prove-request-space).
            out.append(z3.Or(s == z3.StringVal("true"), s == z3.StringVal("false")))
    if kv.kind is Kind.IP:
        for ok, num, ver in zip(kv.valid, kv.numbers, kv.versions, strict=True):
            out.append(
                z3.Implies(ok, z3.Or(z3.And(ver == 4, num >= 0, num < 2**32), z3.And(ver == 6, num >= 0, num < 2**128)))
            )
    if kv.kind is Kind.DATE:
        # Epoch seconds with at most 15 digits: the form counterexamples are written in (operators._instant).
        out += [z3.And(num > -(10**21), num < 10**21) for num in kv.numbers]
    return out


# Keys the engine derives from the caller and the resource (evaluate.build_context, Principal.context); the
# symbolic request sets them itself (as a request context may), but never leaves out one the engine adds.
def _derived_presence(r: SymbolicRequest) -> list[z3.BoolRef]:
    t = r.ptype
    iam = r.has_account
    rules = {
        "aws:principalisawsservice": z3.BoolVal(True),
        "aws:principalservicename": t == PType.SERVICE,
        "aws:principaltype": t != PType.SERVICE,
        "aws:principalarn": iam,
        "aws:principalaccount": iam,
        "aws:username": t == PType.USER,
        "aws:userid": t == PType.ACCOUNT,
        "aws:resourceaccount": z3.InRe(r.resource, _WITH_ACCOUNT),
        "kms:calleraccount": z3.And(iam, z3.PrefixOf(z3.StringVal("kms:"), r.action)),
    }
    out = [z3.Implies(cond, r.keys[k].present) for k, cond in rules.items() if k in r.keys]
    # and with the values AWS gives them: a caller cannot send its own aws:PrincipalArn (assumption
    # prove-request-space; the engine lets a test's context override them, the proof does not).
    type_names = {
        PType.ACCOUNT: "Account",
        PType.USER: "User",
        PType.ASSUMED_ROLE: "AssumedRole",
        PType.FEDERATED_USER: "FederatedUser",
        PType.ANONYMOUS: "Anonymous",
    }
    values: dict[str, tuple[z3.BoolRef, z3.SeqRef]] = {
        "aws:principalaccount": (iam, r.account),
        "kms:calleraccount": (iam, r.account),
        "aws:username": (t == PType.USER, r.name),
        "aws:principalservicename": (t == PType.SERVICE, r.service),
        "aws:userid": (t == PType.ACCOUNT, r.account),
    }
    kv = r.keys.get("aws:principalarn")
    if kv is not None and kv.kind is Kind.STRING:
        # One implication per kind of caller: an If inside a string equation is far slower for z3.
        for cond, v in _principal_arn_cases(r):
            out.append(z3.Implies(cond, z3.And(kv.count == 1, kv.strings[0] == v)))
    for k, (cond, v) in values.items():
        kv = r.keys.get(k)
        if kv is not None and kv.kind is Kind.STRING:
            out.append(z3.Implies(cond, z3.And(kv.count == 1, kv.strings[0] == v)))
    kv = r.keys.get("aws:principaltype")
    if kv is not None and kv.kind is Kind.STRING:
        out += [
            z3.Implies(t == int(pt), z3.And(kv.count == 1, kv.strings[0] == z3.StringVal(n)))
            for pt, n in type_names.items()
        ]
    kv = r.keys.get("aws:principalisawsservice")
    if kv is not None and kv.kind is Kind.STRING:
        out.append(
            z3.And(
                kv.count == 1, kv.strings[0] == z3.If(t == PType.SERVICE, z3.StringVal("true"), z3.StringVal("false"))
            )
        )
    return out


def _principal_arn_cases(r: SymbolicRequest) -> list[tuple[z3.BoolRef, z3.SeqRef]]:
    s = z3.StringVal
    head = z3.Concat(s("arn:"), r.partition)
    return [
        (r.ptype == PType.ACCOUNT, z3.Concat(head, s(":iam::"), r.account, s(":root"))),
        (r.ptype == PType.USER, z3.Concat(head, s(":iam::"), r.account, s(":user"), r.path, r.name)),
        (r.ptype == PType.ASSUMED_ROLE, z3.Concat(head, s(":iam::"), r.account, s(":role"), r.path, r.name)),
        (r.ptype == PType.FEDERATED_USER, z3.Concat(head, s(":sts::"), r.account, s(":federated-user/"), r.name)),
    ]


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


_USER_ARN = re.compile(r"arn:([^:]+):iam::(\d{12}):user(/(?:[^/]+/)*)([^/]+)")
_ROLE_ARN = re.compile(r"arn:([^:]+):iam::(\d{12}):role(/(?:[^/]+/)*)([^/]+)")
_SESSION_ARN = re.compile(r"arn:([^:]+):sts::(\d{12}):assumed-role/(.+)/([^/]+)")
_FEDERATED_ARN = re.compile(r"arn:([^:]+):sts::(\d{12}):federated-user/(.+)")


def arn_is(text: str, r: SymbolicRequest, session: z3.ReRef | None = None) -> z3.BoolRef:
    """``r.arn == text``, component by component (which z3 decides far faster than the concatenation).
    ``session``: the set of session names allowed instead of the text's own."""
    s = z3.StringVal
    m = _USER_ARN.fullmatch(text)
    if m:
        return z3.And(
            r.ptype == PType.USER,
            r.partition == s(m.group(1)),
            r.account == s(m.group(2)),
            r.path == s(m.group(3)),
            r.name == s(m.group(4)),
        )
    m = _SESSION_ARN.fullmatch(text)
    if m:
        return z3.And(
            r.ptype == PType.ASSUMED_ROLE,
            r.partition == s(m.group(1)),
            r.account == s(m.group(2)),
            r.name == s(m.group(3)),
            z3.InRe(r.session, session) if session is not None else r.session == s(m.group(4)),
        )
    m = _FEDERATED_ARN.fullmatch(text)
    if m:
        return z3.And(
            r.ptype == PType.FEDERATED_USER,
            r.partition == s(m.group(1)),
            r.account == s(m.group(2)),
            r.name == s(m.group(3)),
        )
    m = re.fullmatch(r"arn:([^:]+):iam::(\d{12}):root", text)
    if m:
        return z3.And(r.ptype == PType.ACCOUNT, r.partition == s(m.group(1)), r.account == s(m.group(2)))
    if text == "anonymous":
        return r.ptype == PType.ANONYMOUS
    return z3.And(r.ptype == PType.SERVICE, r.service == s(text))


def role_is(text: str, r: SymbolicRequest) -> z3.BoolRef:
    """``r.principal_arn == text`` for a session of a role."""
    m = _ROLE_ARN.fullmatch(text)
    if not m:
        return z3.BoolVal(False)
    s = z3.StringVal
    return z3.And(
        r.ptype == PType.ASSUMED_ROLE,
        r.partition == s(m.group(1)),
        r.account == s(m.group(2)),
        r.path == s(m.group(3)),
        r.name == s(m.group(4)),
    )


def unique_names(arns: Iterable[str], r: SymbolicRequest) -> list[z3.BoolRef]:
    """IAM names are unique in an account whatever the path
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html#identifiers-friendly-names): a
    user or role ARN known to the proof fixes the path of every caller with that account and name."""
    out: list[z3.BoolRef] = []
    s = z3.StringVal
    for text in set(arns):
        for pattern, ptype in ((_USER_ARN, PType.USER), (_ROLE_ARN, PType.ASSUMED_ROLE)):
            m = pattern.fullmatch(text)
            if m:
                same = z3.And(r.ptype == ptype, r.account == s(m.group(2)), r.name == s(m.group(4)))
                known = r.role_path_known if ptype is PType.ASSUMED_ROLE else z3.BoolVal(True)
                out.append(z3.Implies(z3.And(same, known), r.path == s(m.group(3))))
    return out
