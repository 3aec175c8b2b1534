"""Who may launch: the users and roles of an account that may call ``ec2:RunInstances`` in a region, grouped by
the policies that decide for them.

Two principals with the same identity policies, boundary and tags are decided alike by every policy that does
not name one of them; ``distinguished`` says when a key policy, a grant or an SCP does (by ARN, name, unique id
or a wildcard that matches one), and then the principal is simulated on its own.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from kmslaunch.policy.evaluate import Request, authorize
from kmslaunch.world.authz import identity_policies, policy_set, principal_in_world
from kmslaunch.world.documents import Document
from kmslaunch.world.iam import Iam
from kmslaunch.world.kms import Key
from kmslaunch.world.world import World

AUDIT_SESSION = "kmslaunch-audit"


@dataclass(frozen=True, slots=True)
class Launcher:
    """A principal that may call ec2:RunInstances: ``arn`` as it calls (a role's session ARN), ``names`` every
    identifier a policy could name it by, ``group`` the signature of the policies that decide for it."""

    arn: str
    account: str
    kind: str  # "user" | "role"
    names: frozenset[str]
    group: tuple[Any, ...]


def _documents(iam: Iam) -> Iterator[Document]:
    for u in iam.users.values():
        yield from u.inline.values()
    for g in iam.groups.values():
        yield from g.inline.values()
    for r in iam.roles.values():
        yield from r.inline.values()
    for p in iam.policies.values():
        yield p.document


def candidates(world: World, account: str) -> Iterator[tuple[str, str, frozenset[str], tuple[Any, ...]]]:
    """(caller ARN, kind, names, policy signature) for every user and every role that is not service-linked."""
    iam = world.accounts[account].iam
    p = world.partition
    for u in iam.users.values():
        yield u.arn, "user", frozenset({u.arn, u.name, u.user_id}), ("user", tuple(sorted(u.tags.items())))
    for r in iam.roles.values():
        if r.service_linked:
            continue
        session = f"arn:{p}:sts::{account}:assumed-role/{r.name}/{AUDIT_SESSION}"
        names = frozenset({session, r.arn, r.name, r.role_id, f"{r.role_id}:{AUDIT_SESSION}"})
        yield session, "role", names, ("role", tuple(sorted(r.tags.items())))


def launchers(world: World, account: str, region: str) -> list[Launcher]:
    """The account's principals allowed ``ec2:RunInstances`` in ``region``, decided as EC2 decides it (the
    same resource and context as the launch simulation's own check)."""
    acct = world.accounts.get(account)
    if acct is None or not acct.iam.known:
        return []
    iam = acct.iam
    texts: dict[int, str] = {id(d.policy): json.dumps(d.raw, sort_keys=True) for d in _documents(iam)}
    resource = f"arn:{world.partition}:ec2:{region}:{account}:instance/*"
    ctx = {"aws:requestedregion": (region,), "ec2:region": (region,)}
    out: list[Launcher] = []
    for arn, kind, names, base in candidates(world, account):
        who = principal_in_world(world, arn)
        ps = policy_set(world, who, resource, None)
        if not authorize(Request(who, "ec2:RunInstances", resource, ctx), ps).allowed:
            continue
        docs, boundary = identity_policies(iam, who)
        signature = (
            *base,
            tuple(sorted(texts.get(id(d), d.name) for d in docs)),
            texts.get(id(boundary), boundary.name) if boundary is not None else None,
        )
        out.append(Launcher(arn, account, kind, names, signature))
    return out


def strings(value: Any) -> Iterator[str]:
    """Every string inside a JSON value."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from strings(v)


@dataclass(frozen=True, slots=True)
class Tokens:
    """The strings of some policies that could name a principal: exact ones, and wildcard patterns."""

    exact: frozenset[str]
    patterns: tuple[str, ...]

    @classmethod
    def of(cls, values: Iterable[str]) -> Tokens:
        exact, patterns = set(), set()
        for v in values:
            if v == "*" or not v:
                continue
            if "*" in v or "?" in v:
                patterns.add(v)
            else:
                exact.add(v)
        return cls(frozenset(exact), tuple(sorted(patterns)))

    def __or__(self, other: Tokens) -> Tokens:
        return Tokens(self.exact | other.exact, tuple(sorted(set(self.patterns) | set(other.patterns))))

    def names(self, launcher: Launcher) -> bool:
        if not self.exact.isdisjoint(launcher.names):
            return True
        return any(fnmatchcase(n, pat) for pat in self.patterns for n in launcher.names)


def key_tokens(key: Key) -> Tokens:
    values = list(strings(key.policy.raw)) if key.policy_known else []
    for g in key.grants:
        values.append(g.grantee)
        if g.retiring:
            values.append(g.retiring)
    return Tokens.of(values)


def org_tokens(world: World) -> Tokens:
    return Tokens.of(s for pol in world.organization.policies.values() for s in strings(pol.document.raw))
