"""The symbolic request every proof is about: caller, action, resource, and the condition keys the documents read,
as z3 variables, with what makes it a request the engine can be given (well-formed ARNs and names, the keys AWS
derives from the caller with the caller's values). Sources are cited where each rule is encoded."""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import z3

from kmslaunch.policy.catalog import lookup_condition_key

from .regex import _DIGIT, _PRINTABLE, _WITH_ACCOUNT, ACCOUNT_ID, ACTION, NAME, RESOURCE, _chars

# How many values a multivalued key carries in the symbolic request (assumption prove-set-bound).
SET_BOUND = 3


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
