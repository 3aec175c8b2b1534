"""The explained decision by a scan of every statement: the reference for the compiled path, and the source of
near misses.

Each statement is matched on each element (action, resource, principal, every condition) and the ones that
fail on exactly one element are the near misses. This costs ten times a compiled decision, so ``authorize``
uses it only when a decision's near misses are read (``Decision.near_misses``); its verdict and deciding
statements must equal the compiled path's, which the property tests check on generated policy sets.
"""

from __future__ import annotations

from kmslaunch.policy.conclude import (
    NO_PERMISSION,
    NO_PERMISSION_ACTIONS,
    RULE_ROOT_USER,
    Refs,
    conclude,
    order_near_misses,
)
from kmslaunch.policy.decision import Decision, Layer, NearMiss, NearMisses, StatementRef, Verdict
from kmslaunch.policy.match import BIT, Scan, denies_by_assumption, grants_for, scan_explain
from kmslaunch.policy.model import Effect, Policy
from kmslaunch.policy.principals import PrincipalType
from kmslaunch.policy.request import (
    LAYER_OF,
    PolicySet,
    Request,
    build_context,
    is_kms_key,
    is_same_account,
    rcps_apply,
    scps_apply,
)


def authorize_by_scan(req: Request, ps: PolicySet, ctx: dict[str, tuple[str, ...]] | None = None) -> Decision:
    """The explained decision, found by looking at every statement of every policy on its own elements.

    The reference the compiled path (``plan``) is tested against, and where near misses come from: a
    decision's ``near_misses`` are this scan's, computed when first read.
    """
    if req.action.lower() in NO_PERMISSION_ACTIONS:
        return NO_PERMISSION
    if ctx is None:
        ctx = build_context(req, ps)
    action_l = req.action.lower()
    who = req.principal
    hb = ps.boundary is not None
    near: list[NearMiss] = []
    refs = Refs()
    deny_layers: list[Layer] = []

    def scan(policy: Policy, layer: Layer, resource_side: bool = False) -> tuple[int, list[StatementRef]]:
        out = Scan()
        scan_explain(policy, action_l, req.action, req.resource, who, ctx, out, near, hb)
        for d, dref in out.denies:
            if layer not in deny_layers:
                deny_layers.append(layer)
            refs.deny.append(dref)
            if not denies_by_assumption(d, who, hb):
                refs.denies_documented += 1
        bits = 0
        allowed: list[StatementRef] = []
        for st, bit, statement in out.allows:
            bits |= bit
            allowed.append(statement)
            if resource_side:
                refs.resource.setdefault(bit, []).append(statement)
                if st.principal is not None and (st.principal.wildcard or st.not_principal):
                    refs.star.append(statement)
        return bits, allowed

    missing: list[Layer] = []
    for levels, applies, layer in (
        (ps.scps, scps_apply(who, ps), Layer.SCP),
        (ps.rcps, rcps_apply(req, ps, action_l), Layer.RCP),
    ):
        if not applies:
            continue
        for level in levels:
            here = 0
            for pol in level:
                bits, _ = scan(pol, layer)
                here |= bits
            if not here and layer not in missing:
                missing.append(layer)
    if ps.vpc_endpoint is not None:
        bits, _ = scan(ps.vpc_endpoint, Layer.VPC_ENDPOINT_POLICY)
        if not bits:
            missing.append(Layer.VPC_ENDPOINT_POLICY)
    res = 0
    if ps.resource is not None:
        res, _ = scan(ps.resource, LAYER_OF[ps.resource.type], resource_side=True)
    identity_ok = False
    for pol in ps.identity:
        bits, allowed = scan(pol, Layer.IDENTITY_POLICY)
        identity_ok = identity_ok or bool(bits)
        refs.identity.extend(allowed)
    if who.type is PrincipalType.ACCOUNT:
        identity_ok = True
        refs.identity.append(RULE_ROOT_USER)
    boundary_ok = True
    if ps.boundary is not None:
        bits, allowed = scan(ps.boundary, Layer.PERMISSIONS_BOUNDARY)
        boundary_ok = bool(bits)
        refs.guards.extend(allowed)
    session_ok = True
    if ps.session:
        session_ok = False
        for pol in ps.session:
            bits, allowed = scan(pol, Layer.SESSION_POLICY)
            session_ok = session_ok or bool(bits)
            refs.guards.extend(allowed)
    if deny_layers:
        return Decision(
            Verdict.EXPLICIT_DENY,
            denied_by=tuple(deny_layers),
            decided_by=tuple(refs.deny),
            near=NearMisses(order_near_misses(near)),
            explained=True,
            # Denied only by a NotPrincipal that listed the caller without its account: that is the choice.
            assumptions=() if refs.denies_documented else ("notprincipal-without-account",),
        )
    key = is_kms_key(req.action, req.resource)
    grants = 0
    if key:
        for g, pm in grants_for(
            ps.grants, who, req.encryption_context, action_l, near, ctx.get("kms:grantoperations", ())
        ):
            grants |= BIT[pm]
            grant_ref = StatementRef("grant", g.grant_id, g.grant_id, 0, Effect.ALLOW)
            refs.grants.setdefault(BIT[pm], []).append(grant_ref)
            if who.account and g.grantee in (who.account, f"arn:{who.partition}:iam::{who.account}:root"):
                refs.account_grants.append(grant_ref)
    same_account = is_same_account(who, req, ps)
    return conclude(
        res,
        grants,
        identity_ok,
        boundary_ok,
        session_ok,
        missing,
        key,
        same_account,
        action_l,
        refs,
        NearMisses(order_near_misses(near)),
        needs_resource=ps.resource_policy_required,
        no_identity=who.type is PrincipalType.SERVICE or who.type is PrincipalType.ANONYMOUS,
    )
