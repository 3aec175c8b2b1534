"""A decision compiled once per (policy set, caller, action, resource): the statements that can apply, layer by
layer, and the conclusions already reached from each outcome of their conditions.

Everything about a request but its condition keys is the same every time a caller repeats a call: which
statements name the action, the caller and the resource, whether SCPs and RCPs govern it, whether the key is in
the caller's account. A ``Plan`` holds that, so a decision is the condition tests of those few statements, a
bit per statement that held, and a look-up of the decision those bits lead to (``conclude`` runs once per
outcome). The explained path tests the same statements, so its verdict and deciding statements cost about what
the plain path does; its near misses, which need every statement, are found when first read
(``Decision.near_misses``, by ``scan.authorize_by_scan``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kmslaunch.policy.conclude import RULE_ROOT_USER, Refs, conclude
from kmslaunch.policy.decision import Decision, Layer, NearMiss, NearMisses, StatementRef, Verdict
from kmslaunch.policy.match import BIT, Candidate, candidates, denies_by_assumption, grants_for, resource_matches
from kmslaunch.policy.model import Effect, Policy
from kmslaunch.policy.principals import Principal, PrincipalType
from kmslaunch.policy.request import (
    LAYER_OF,
    Context,
    PolicySet,
    Request,
    is_kms_key,
    owner_account,
    principal_context,
    rcps_apply,
    resource_account,
    scps_apply,
)
from kmslaunch.policy.scan import authorize_by_scan

# What a group of statements is, for the conclusion: one level of SCPs or RCPs (each level must allow), the
# VPC endpoint policy, the resource policy, the identity policies, the boundary, the session policies.
LEVEL, VPC, RESOURCE, IDENTITY, BOUNDARY, SESSION = range(6)
DENIED = 8  # added to a group's allow bits when one of its Deny statements applies

# A candidate with its place in the plan: (bit, deny, statement with variables in its resource or None,
# condition tests, 1 << position, how reasons name it, the statement).
_Step = tuple[int, bool, Any, tuple[Any, ...], int, StatementRef, Any]
_Group = tuple[int, Layer, tuple[_Step, ...]]
_PLAN_LIMIT = 1024
_MEMO_LIMIT = 256


@dataclass(slots=True)
class Plan:
    """The static part of one decision, and the decisions reached so far by outcome (not frozen: the memos)."""

    groups: tuple[_Group, ...]
    # Every group's steps in one sequence, for the loops that run per request: (mark, deny, statement with
    # variables in its resource or None, tests). For the plain path ``mark`` is the step's allow bit (or DENIED)
    # shifted to its group's four bits of the outcome; for the explained path, 1 << its position.
    fast_steps: tuple[tuple[int, bool, Any, tuple[Any, ...]], ...]
    explain_steps: tuple[tuple[int, bool, Any, tuple[Any, ...]], ...]
    base: dict[str, tuple[str, ...]]  # the context keys derived from the caller and the resource
    key: bool  # a request on a KMS key
    same_account: bool
    root: bool
    no_identity: bool
    needs_resource: bool
    has_boundary: bool
    fast: dict[tuple[int, int], Decision] = field(default_factory=dict)
    explained: dict[int, Decision] = field(default_factory=dict)


def plan_for(req: Request, ps: PolicySet, action_l: str) -> Plan:
    """The plan of this request against this policy set, built on first use and cached on the set (and for
    sets made anew from the same policies, in ``_SHARED``)."""
    who = req.principal
    acct = ps.resource_account or resource_account(req.resource)
    if acct is None and req.context:
        acct = owner_account(req, ps)
    # The caller by identity: hashing a Principal costs more than the rest of the decision's look-ups. Safe
    # because the entry holds the caller, so its id cannot be reused while the entry lives. Its tags (which
    # Principal's equality leaves out, and which give aws:PrincipalTag/*) are compared, not hashed.
    key = (action_l, req.resource, id(who), acct)
    plans = ps._plans
    entry = plans.get(key)
    if entry is not None and entry[0] is who and entry[1] == who.tags:
        plan: Plan = entry[2]
        return plan
    tags = tuple(who.tags.items()) if who.tags else ()
    plan = _shared_plan(req, ps, action_l, tags, acct)
    if len(plans) > _PLAN_LIMIT:
        plans.clear()
    plans[key] = (who, dict(who.tags), plan)
    return plan


# Plans by the identity of the policies and grants they were compiled from. The world makes a new PolicySet for
# every request, from the same Policy objects until a document changes; without this, each such request would
# compile its plan again, which costs several decisions. Each entry holds the set it was built from, so the
# objects whose ids make its key stay alive and no other object can take their ids: a key that matches names
# the same policies. Bounded; a cache only, never consulted for anything but a plan.
_SHARED: dict[tuple[object, ...], tuple[PolicySet, Plan]] = {}
_SHARED_LIMIT = 4096


def _shared_plan(req: Request, ps: PolicySet, action_l: str, tags: tuple[object, ...], acct: str | None) -> Plan:
    parts = (
        tuple(map(id, ps.identity)),
        id(ps.resource),
        id(ps.boundary),
        tuple(map(id, ps.session)),
        tuple(tuple(map(id, level)) for level in ps.scps),
        tuple(tuple(map(id, level)) for level in ps.rcps),
        tuple(map(id, ps.grants)),
        id(ps.vpc_endpoint),
        ps.resource_account,
        ps.key_managed_by_aws,
        ps.organization,
        ps.resource_policy_required,
    )
    key = (parts, action_l, req.resource, req.principal, tags, acct)
    entry = _SHARED.get(key)
    if entry is not None:
        return entry[1]
    plan = _build(req, ps, action_l, acct)
    if len(_SHARED) > _SHARED_LIMIT:
        _SHARED.clear()
    _SHARED[key] = (ps, plan)
    return plan


def _build(req: Request, ps: PolicySet, action_l: str, acct: str | None) -> Plan:
    who = req.principal
    hb = ps.boundary is not None
    resource = req.resource
    groups: list[tuple[int, Layer, list[Candidate]]] = []

    def group(kind: int, layer: Layer, policies: tuple[Policy, ...]) -> None:
        cands: list[Candidate] = []
        for pol in policies:
            cands.extend(candidates(pol, action_l, resource, who, hb))
        groups.append((kind, layer, cands))

    if scps_apply(who, ps):
        for level in ps.scps:
            group(LEVEL, Layer.SCP, level)
    if rcps_apply(req, ps, action_l):
        for level in ps.rcps:
            group(LEVEL, Layer.RCP, level)
    if ps.vpc_endpoint is not None:
        group(VPC, Layer.VPC_ENDPOINT_POLICY, (ps.vpc_endpoint,))
    if ps.resource is not None:
        group(RESOURCE, LAYER_OF[ps.resource.type], (ps.resource,))
    group(IDENTITY, Layer.IDENTITY_POLICY, ps.identity)
    if ps.boundary is not None:
        group(BOUNDARY, Layer.PERMISSIONS_BOUNDARY, (ps.boundary,))
    if ps.session:
        group(SESSION, Layer.SESSION_POLICY, ps.session)
    steps: list[_Group] = []
    fast_steps: list[tuple[int, bool, Any, tuple[Any, ...]]] = []
    explain_steps: list[tuple[int, bool, Any, tuple[Any, ...]]] = []
    position = 0
    for g, (kind, layer, cands) in enumerate(groups):
        out: list[_Step] = []
        for bit, deny, dyn, tests, ref, st in cands:
            out.append((bit, deny, dyn, tests, 1 << position, ref, st))
            fast_steps.append(((DENIED if deny else bit) << (4 * g), deny, dyn, tests))
            explain_steps.append((1 << position, deny, dyn, tests))
            position += 1
        steps.append((kind, layer, tuple(out)))
    base = dict(principal_context(who, tuple(who.tags.items()) if who.tags else ()))
    if acct:
        base["aws:resourceaccount"] = (acct,)
    if action_l[:4] == "kms:" and who.account:
        # kms:CallerAccount: "the AWS account of the principal that made the request"
        # (https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-caller-account)
        base["kms:calleraccount"] = (who.account,)
    return Plan(
        groups=tuple(steps),
        fast_steps=tuple(fast_steps),
        explain_steps=tuple(explain_steps),
        base=base,
        key=is_kms_key(req.action, resource),
        # A resource whose owner is unknown is decided as the caller's own account (request.is_same_account).
        same_account=acct is None or who.account == acct,
        root=who.type is PrincipalType.ACCOUNT,
        no_identity=who.type is PrincipalType.SERVICE or who.type is PrincipalType.ANONYMOUS,
        needs_resource=ps.resource_policy_required,
        has_boundary=hb,
    )


def context_of(plan: Plan, req: Request) -> dict[str, tuple[str, ...]]:
    """The request context: the plan's derived keys, the encryption context's, then the request's own on top
    (as ``request.build_context``)."""
    ctx = plan.base.copy()
    enc = req.encryption_context
    if enc:
        for k, v in enc.items():
            ctx["kms:encryptioncontext:" + k.lower()] = (v,)
        ctx["kms:encryptioncontextkeys"] = tuple(enc)
    if req.context:
        ctx.update(req.context)
    return ctx


def _prepare(req: Request, ps: PolicySet, action_l: str) -> tuple[Plan, dict[str, tuple[str, ...]]]:
    """The plan and the context, in one call on the hot path (``plan_for`` and ``context_of``)."""
    plan = plan_for(req, ps, action_l)
    ctx = plan.base.copy()
    if req.encryption_context:
        return plan, context_of(plan, req)
    if req.context:
        ctx.update(req.context)
    return plan, ctx


def _grant_bits(plan: Plan, req: Request, ps: PolicySet, action_l: str, ctx: Context) -> int:
    bits = 0
    for _, pm in grants_for(
        ps.grants, req.principal, req.encryption_context, action_l, None, ctx.get("kms:grantoperations", ())
    ):
        bits |= BIT[pm]
    return bits


def decide_fast(req: Request, ps: PolicySet, action_l: str) -> Decision:
    """The decision without reasons: skips a statement once it cannot change the outcome (an allow of the same
    kind already applies in its group, or a Deny applies anywhere)."""
    plan, ctx = _prepare(req, ps, action_l)
    resource = req.resource
    outcome = 0  # four bits a group: its allow bits and DENIED
    denied = False
    for mark, deny, dyn, tests in plan.fast_steps:
        if outcome & mark or (denied and not deny):
            continue
        if dyn is not None and not resource_matches(dyn, resource, ctx):
            continue
        for test in tests:
            if not test(ctx):
                break
        else:
            outcome |= mark
            denied = denied or deny
    grants = 0
    if plan.key and ps.grants and not denied:
        grants = _grant_bits(plan, req, ps, action_l, ctx)
    memo_key = (outcome, grants)
    got = plan.fast.get(memo_key)
    if got is None:
        groups = tuple((outcome >> (4 * g)) & 15 for g in range(len(plan.groups)))
        got = _conclude_outcome(plan, (*groups, grants), action_l, None)
        if len(plan.fast) > _MEMO_LIMIT:
            plan.fast.clear()
        plan.fast[memo_key] = got
    return got


def _conclude_outcome(plan: Plan, outcome: tuple[int, ...], action_l: str, refs: Refs | None) -> Decision:
    deny_layers: list[Layer] = []
    missing: list[Layer] = []
    res = 0
    identity_ok = plan.root
    boundary_ok = session_ok = True
    for (kind, layer, _), got in zip(plan.groups, outcome, strict=False):
        bits = got & 7
        if got & DENIED and layer not in deny_layers:
            deny_layers.append(layer)
        if kind in (LEVEL, VPC):
            # Every level of the organization path must allow, and so must the endpoint policy
            # (assumption vpc-endpoint-policy-evaluation).
            if not bits and layer not in missing:
                missing.append(layer)
        elif kind == RESOURCE:
            res = bits
        elif kind == IDENTITY:
            identity_ok = identity_ok or bool(bits)
        elif kind == BOUNDARY:
            boundary_ok = bool(bits)
        else:
            session_ok = bool(bits)
    if deny_layers:
        if refs is None:
            return Decision(Verdict.EXPLICIT_DENY, denied_by=tuple(deny_layers))
        return Decision(
            Verdict.EXPLICIT_DENY,
            denied_by=tuple(deny_layers),
            decided_by=tuple(refs.deny),
            explained=True,
            # Denied only by a NotPrincipal that listed the caller without its account: that is the choice.
            assumptions=() if refs.denies_documented else ("notprincipal-without-account",),
        )
    return conclude(
        res,
        outcome[-1],
        identity_ok,
        boundary_ok,
        session_ok,
        missing,
        plan.key,
        plan.same_account,
        action_l,
        refs,
        NearMisses(),
        needs_resource=plan.needs_resource,
        no_identity=plan.no_identity,
    )


def decide_explained(req: Request, ps: PolicySet, action_l: str) -> Decision:
    """The decision with the statements that decided it; near misses are found when first read."""
    plan, ctx = _prepare(req, ps, action_l)
    resource = req.resource
    held = 0
    denied = False
    for flag, deny, dyn, tests in plan.explain_steps:
        if dyn is not None and not resource_matches(dyn, resource, ctx):
            continue
        for test in tests:
            if not test(ctx):
                break
        else:
            held |= flag
            denied = denied or deny
    matched: list[tuple[Any, Any]] = []
    if plan.key and ps.grants and not denied:
        matched = grants_for(
            ps.grants, req.principal, req.encryption_context, action_l, None, ctx.get("kms:grantoperations", ())
        )
    got = plan.explained.get(held) if not matched else None
    if got is None:
        got = _explain_outcome(plan, held, matched, req.principal, action_l)
        if not matched:
            if len(plan.explained) > _MEMO_LIMIT:
                plan.explained.clear()
            plan.explained[held] = got
    return Decision(
        got.verdict,
        got.denied_by,
        got.decided_by,
        True,
        got.partial,
        got.assumptions,
        NearMisses(lambda: _near_misses(req, ps, ctx)),
    )


def _near_misses(req: Request, ps: PolicySet, ctx: dict[str, tuple[str, ...]]) -> tuple[NearMiss, ...]:
    return authorize_by_scan(req, ps, ctx).near_misses


def _explain_outcome(plan: Plan, held: int, matched: list[tuple[Any, Any]], who: Principal, action_l: str) -> Decision:
    """The statements behind an outcome, gathered as ``scan.authorize_by_scan`` gathers them."""
    refs = Refs()
    outcome: list[int] = []
    for kind, _, steps in plan.groups:
        allow = 0
        denied = False
        allowed: list[StatementRef] = []
        for bit, deny, _, _, flag, ref, st in steps:
            if not held & flag:
                continue
            if deny:
                denied = True
                refs.deny.append(ref)
                if not denies_by_assumption(st, who, plan.has_boundary):
                    refs.denies_documented += 1
                continue
            allow |= bit
            allowed.append(ref)
            if kind == RESOURCE:
                refs.resource.setdefault(bit, []).append(ref)
                if st.principal is not None and (st.principal.wildcard or st.not_principal):
                    refs.star.append(ref)
        if kind == IDENTITY:
            refs.identity.extend(allowed)
            if plan.root:
                refs.identity.append(RULE_ROOT_USER)
        elif kind in (BOUNDARY, SESSION):
            refs.guards.extend(allowed)
        outcome.append(allow | DENIED if denied else allow)
    grants = 0
    for g, pm in matched:
        grants |= BIT[pm]
        grant_ref = StatementRef("grant", g.grant_id, g.grant_id, 0, Effect.ALLOW)
        refs.grants.setdefault(BIT[pm], []).append(grant_ref)
        if who.account and g.grantee in (who.account, f"arn:{who.partition}:iam::{who.account}:root"):
            refs.account_grants.append(grant_ref)
    outcome.append(grants)
    return _conclude_outcome(plan, tuple(outcome), action_l, refs)
