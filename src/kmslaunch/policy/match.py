"""Matching statements and grants to one request: Action, Resource, Principal, Condition, grantees and
grant constraints. The evaluator (``evaluate``) combines what matches here into AWS's decision.

Two ways in: ``scan_explain`` looks at every statement and records near misses; ``candidates`` gives the
statements that pass the static elements for one (action, principal, resource), cached on the policy, for the
compiled plan (``plan``) to test their conditions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kmslaunch.policy.decision import Element, Mismatch, NearMiss, StatementRef
from kmslaunch.policy.grants import GRANT_OPERATIONS, Grant
from kmslaunch.policy.model import Effect, Policy, PolicyType, PrincipalSpec, Statement
from kmslaunch.policy.principals import Principal, PrincipalMatch, PrincipalType, match_principal, parse_principal
from kmslaunch.policy.wildcard import compile_glob

Context = Mapping[str, tuple[str, ...]]

# ---------------------------------------------------------------------------------------------------------
# Statement matching


def _statements_for(policy: Policy, action_l: str) -> tuple[Statement, ...]:
    """The statements whose Action/NotAction covers the action; indexed per policy on first use."""
    got = policy._action_index.get(action_l)
    if got is None:
        got = tuple(st for st in policy.statements if _action_matches(st, action_l))
        policy._action_index[action_l] = got
    return got


def _action_matches(st: Statement, action_l: str) -> bool:
    hit = any(compile_glob(a, True)(action_l) for a in st.actions)
    return hit != st.not_action


def _resource_matches(st: Statement, resource: str, ctx: Context) -> bool:
    if not st.has_resource:
        return True
    hit = False
    for p in st.resources:
        if p.template is None:
            if compile_glob(p.text)(resource):
                hit = True
                break
        else:
            m = p.template.resolve_glob(ctx)
            if m is not None and m(resource):
                hit = True
                break
    return hit != st.not_resource


def _principal_match(st: Statement, who: Principal, has_boundary: bool) -> PrincipalMatch:
    if st.principal is None:
        return PrincipalMatch.PRINCIPAL
    m = match_principal(st.principal, who)
    if st.not_principal:
        # NotPrincipal applies to everyone it does not name by ARN: listing an account exempts the account
        # itself, not its users ("all principals except the user named Bob in account 444455556666")
        # (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notprincipal.html).
        # With Deny it "will always deny any IAM principal that has a permissions boundary policy attached"
        # (https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_boundaries.html).
        if st.effect is Effect.DENY and has_boundary:
            return PrincipalMatch.PRINCIPAL
        exempt = m in (PrincipalMatch.PRINCIPAL, PrincipalMatch.ROLE)
        if exempt and st.effect is Effect.DENY and notprincipal_lacks_account(st.principal, who):
            # assumption notprincipal-without-account: AWS says a NotPrincipal that names a user or role but not
            # its account "might deny access to the entire account"; kmslaunch takes it that it does.
            return PrincipalMatch.PRINCIPAL
        return PrincipalMatch.NONE if exempt else PrincipalMatch.PRINCIPAL
    return m


def denies_by_assumption(st: Statement, who: Principal, has_boundary: bool) -> bool:
    """A NotPrincipal Deny that applies to the caller only by assumption notprincipal-without-account."""
    if not st.not_principal or st.principal is None or st.effect is not Effect.DENY or has_boundary:
        return False
    listed = match_principal(st.principal, who) in (PrincipalMatch.PRINCIPAL, PrincipalMatch.ROLE)
    return listed and notprincipal_lacks_account(st.principal, who)


def notprincipal_lacks_account(spec: PrincipalSpec, who: Principal) -> bool:
    """A NotPrincipal that lists this IAM caller (its user, role or session ARN) without listing its account
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notprincipal.html: "you must
    also specify the account ARN of the not-denied principal")."""
    if who.account is None or who.type is PrincipalType.ACCOUNT or who.type is PrincipalType.SERVICE:
        return False
    return not any(e in (who.account, f"arn:{who.partition}:iam::{who.account}:root") for e in spec.aws)


@dataclass(slots=True)
class Scan:
    """What one policy contributed: matching Allow statements (with how the principal matched, as a bit) and
    Denies, each with how reasons name it."""

    allows: list[tuple[Statement, int, StatementRef]] = field(default_factory=list)
    denies: list[tuple[Statement, StatementRef]] = field(default_factory=list)


def scan_explain(
    policy: Policy,
    action_l: str,
    action: str,
    resource: str,
    who: Principal,
    ctx: Context,
    out: Scan,
    near: list[NearMiss],
    has_boundary: bool,
) -> None:
    """Every statement of ``policy`` against the request: those that apply go to ``out``, those that fail on
    exactly one element to ``near``. The static elements are matched once per (action, principal, resource)."""
    for st, bit, static, dynamic, sref in _static_scan(policy, action, action_l, resource, who, has_boundary):
        misses = list(static)
        if dynamic and not _resource_matches(st, resource, ctx):
            misses.append(Mismatch(Element.RESOURCE, tuple(p.text for p in st.resources), (resource,)))
        if len(misses) > 1:
            continue
        for c in st.conditions:
            if not c.holds(ctx):
                misses.append(
                    Mismatch(Element.CONDITION, c.values, c.actual(ctx), key=c.key, operator=c.operator, path=c.path)
                )
                if len(misses) > 1:
                    break
        if not misses:
            if st.effect is Effect.DENY:
                out.denies.append((st, sref))
            else:
                out.allows.append((st, bit, sref))
        elif len(misses) == 1:
            near.append(NearMiss(sref, misses[0]))


# A statement that may apply or be a near miss: how the principal matched (as a bit), the static elements it
# fails (at most one), whether its resource must still be matched per request (policy variables), and how
# reasons name it.
_Static = tuple[Statement, int, tuple[Mismatch, ...], bool, StatementRef]


def _static_scan(
    policy: Policy, action: str, action_l: str, resource: str, who: Principal, has_boundary: bool
) -> tuple[_Static, ...]:
    """The statements that can still apply or be a near miss once action, principal and (variable-free) resource
    are matched: those failing on at most one of them, and an action only where the statement was written for
    the action's service. Cached on the policy per (action, principal, resource)."""
    key = (action, who.arn, who.principal_arn, has_boundary, resource)
    got = policy._static_scans.get(key)
    if got is not None:
        return got
    needs_principal = policy.type in _PRINCIPAL_TYPES
    out: list[_Static] = []
    for st in policy.statements:
        misses: list[Mismatch] = []
        if not _action_matches(st, action_l):
            if not _same_service(st, action_l):
                continue  # an action another service's statement was written for is no near miss
            misses.append(Mismatch(Element.ACTION, st.actions, (action,)))
        dynamic = any(p.template is not None for p in st.resources)
        if not dynamic and not _resource_matches(st, resource, _EMPTY):
            misses.append(Mismatch(Element.RESOURCE, tuple(p.text for p in st.resources), (resource,)))
        pm = PrincipalMatch.PRINCIPAL
        if needs_principal:
            pm = _principal_match(st, who, has_boundary)
            if pm is PrincipalMatch.NONE and st.principal is not None:
                p = st.principal
                listed = ("*",) if p.wildcard else p.aws + p.service + p.federated
                misses.append(Mismatch(Element.PRINCIPAL, listed, (who.arn,)))
        if len(misses) <= 1:
            out.append((st, BIT.get(pm, 0), tuple(misses), dynamic, ref(policy, st)))
    cache = policy._static_scans
    if len(cache) > _CANDIDATE_CACHE_LIMIT:
        cache.clear()
    got = cache[key] = tuple(out)
    return got


def _same_service(st: Statement, action_l: str) -> bool:
    """A statement written for another service (``ec2:*`` against ``kms:CreateGrant``) is no near miss."""
    prefix = action_l.split(":", 1)[0] + ":"
    return st.not_action or any(a.lower().startswith(prefix) for a in st.actions)


def ref(policy: Policy, st: Statement) -> StatementRef:
    return StatementRef(policy.type, policy.name, st.label, st.index, st.effect)


# ---------------------------------------------------------------------------------------------------------
# Grants


def _grant_operation(action_l: str) -> str | None:
    if not action_l.startswith("kms:"):
        return None
    return _GRANT_OPS_LOWER.get(action_l[4:])


_GRANT_OPS_LOWER = {op.lower(): op for op in GRANT_OPERATIONS}


def _grantee_match(grant: Grant, who: Principal) -> PrincipalMatch:
    """A grant to a role covers its sessions; to an account, the account's principals through IAM.

    assumption grant-to-account (docs/assumptions.md): KMS documents accounts as valid grantees
    without saying how they are evaluated; kmslaunch treats them like an account in a key policy.
    """
    g = grant.grantee
    if g == who.arn:
        return PrincipalMatch.PRINCIPAL
    if who.type is PrincipalType.SERVICE:
        return PrincipalMatch.NONE
    if who.type is PrincipalType.ASSUMED_ROLE and g == who.principal_arn:
        return PrincipalMatch.ROLE
    if who.account and g in (who.account, f"arn:{who.partition}:iam::{who.account}:root"):
        return PrincipalMatch.PRINCIPAL if who.type is PrincipalType.ACCOUNT else PrincipalMatch.ACCOUNT
    if who.type is PrincipalType.ASSUMED_ROLE and not who.role_path_known:
        try:
            gp = parse_principal(g)
        except ValueError:
            return PrincipalMatch.NONE
        if gp.type is PrincipalType.ASSUMED_ROLE and gp.account == who.account and gp.name == who.name:
            return PrincipalMatch.ROLE
    return PrincipalMatch.NONE


def grants_for(
    grants: tuple[Grant, ...],
    who: Principal,
    encryption_context: Mapping[str, str] | None,
    action_l: str,
    near: list[NearMiss] | None,
    requested_operations: tuple[str, ...] = (),
) -> list[tuple[Grant, PrincipalMatch]]:
    """The grants that allow this request, with how each names the caller; near misses when explaining."""
    op = _grant_operation(action_l)
    out: list[tuple[Grant, PrincipalMatch]] = []
    if op is None or not grants:
        return out
    for g in grants:
        gm = _grantee_match(g, who)
        # A grant that allows CreateGrant allows only grants of operations it has itself
        # (https://docs.aws.amazon.com/kms/latest/developerguide/grants.html).
        op_ok = op in g.operations and (op != "CreateGrant" or set(requested_operations) <= g.operations)
        cons_ok = g.constraints_hold(op, encryption_context)
        if gm is not PrincipalMatch.NONE and op_ok and cons_ok:
            out.append((g, gm))
        elif near is not None:
            ref = StatementRef("grant", g.grant_id, g.grant_id, 0, Effect.ALLOW)
            misses = []
            if gm is PrincipalMatch.NONE:
                misses.append(Mismatch(Element.GRANTEE, (g.grantee,), (who.arn,)))
            if not op_ok:
                misses.append(Mismatch(Element.OPERATION, tuple(sorted(g.operations)), (op,)))
            if not cons_ok:
                expected = dict(g.context_equals or g.context_subset or {})
                misses.append(
                    Mismatch(
                        Element.CONSTRAINT,
                        tuple(f"{k}={v}" for k, v in expected.items()),
                        tuple(f"{k}={v}" for k, v in (encryption_context or {}).items()),
                    )
                )
            if len(misses) == 1:
                near.append(NearMiss(ref, misses[0]))
    return out


# ---------------------------------------------------------------------------------------------------------

ACCOUNT, ROLE, PRINCIPAL = 1, 2, 4  # PrincipalMatch kinds as bits of the fast path's masks
BIT = {PrincipalMatch.ACCOUNT: ACCOUNT, PrincipalMatch.ROLE: ROLE, PrincipalMatch.PRINCIPAL: PRINCIPAL}
_CANDIDATE_CACHE_LIMIT = 4096

# A statement that passed the static elements for one (action, principal, resource): how the principal matched
# (as a bit), whether it is a Deny, the statement again when its resource must still be matched per request
# (policy variables) else None, its conditions' compiled tests, and how reasons name it.
Candidate = tuple[int, bool, Statement | None, tuple[Any, ...], StatementRef, Statement]


def candidates(
    policy: Policy, action_l: str, resource: str, who: Principal, has_boundary: bool
) -> tuple[Candidate, ...]:
    """The statements of ``policy`` whose Action, Principal and (variable-free) Resource match this request,
    computed once per (action, principal, resource) and cached on the policy."""
    key = (action_l, who.arn, who.principal_arn, has_boundary, resource)
    got = policy._candidates.get(key)
    if got is not None:
        return got
    needs_principal = policy.type in _PRINCIPAL_TYPES
    out: list[Candidate] = []
    for st in _statements_for(policy, action_l):
        if needs_principal:
            pm = _principal_match(st, who, has_boundary)
            if pm is PrincipalMatch.NONE:
                continue
            bit = BIT[pm]
        else:
            bit = PRINCIPAL
        dynamic = any(p.template is not None for p in st.resources)
        if not dynamic and not _resource_matches(st, resource, _EMPTY):
            continue
        # The conditions' compiled tests, called directly: one call per condition on the hot path.
        tests = tuple(c._test for c in st.conditions)
        out.append((bit, st.effect is Effect.DENY, st if dynamic else None, tests, ref(policy, st), st))
    cache = policy._candidates
    if len(cache) > _CANDIDATE_CACHE_LIMIT:
        cache.clear()
    got = cache[key] = tuple(out)
    return got


def resource_matches(st: Statement, resource: str, ctx: Context) -> bool:
    """Whether the statement's Resource/NotResource covers the resource, policy variables resolved in ``ctx``."""
    return _resource_matches(st, resource, ctx)


def eval_fast(
    policy: Policy, action_l: str, resource: str, who: Principal, ctx: Context, has_boundary: bool
) -> tuple[int, bool]:
    """(bits of the Allow statements that apply, whether a Deny applies) for one policy on its own: the
    per-document step the decision plans compile, kept as a function for the proofs' counterexamples."""
    allow = 0
    for bit, deny, dynamic, tests, _ref, _st in candidates(policy, action_l, resource, who, has_boundary):
        if dynamic is not None and not _resource_matches(dynamic, resource, ctx):
            continue
        if all(test(ctx) for test in tests):
            if deny:
                return allow, True
            allow |= bit
    return allow, False


_EMPTY: dict[str, tuple[str, ...]] = {}
_PRINCIPAL_TYPES = frozenset(
    {PolicyType.KEY, PolicyType.RESOURCE, PolicyType.RCP, PolicyType.TRUST, PolicyType.VPC_ENDPOINT}
)
