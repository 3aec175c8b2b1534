"""Every launch path ``audit`` finds, simulated before and after the changes, and the paths whose verdict moves.

``impact(world, changes)`` is the API: ``world`` is not changed. Every path is enumerated; those the changes can
reach are simulated once before the changes (without the doctor: a verdict and the refused call are all a
comparison needs); the changes are made on the same copy; then only the launches whose trace met what changed
(``apply.Reach``, whose docstring says why the rest cannot move) are simulated again, and the (account, region)
pairs whose paths may differ are enumerated again.
A path enumerated before and not after (a key disabled, a principal no longer allowed ec2:RunInstances) is
simulated after with its launch as before; one enumerated only after had no launch before (``absent``).

Moves: ``breaks`` (ran before, refused after), ``starts-working`` (refused before, runs after), ``to-unknown``
(a definite answer becomes one a missing fact could turn: runs → runs-unless, fails → fails-unless, or no longer
simulated) and ``from-unknown`` (the reverse). Each carries the refused call and what decided it: the deciding
statement of the after-decision (for a path that starts working, the statement that now allows the call that was
refused), attributed to the change whose document holds it, else to the change that made the launch meet it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from kmslaunch.audit.engine import DEFAULT_KEY, FAILED_STATES, PathResult, Sandbox, launch_cases
from kmslaunch.batch import collector_paused
from kmslaunch.launch.errors import Ec2Error, NotInWorld
from kmslaunch.launch.request import LaunchRequest
from kmslaunch.launch.result import CallResult, CallVerdict
from kmslaunch.policy.decision import Decision, StatementRef, Verdict
from kmslaunch.policy.errors import KmslaunchError
from kmslaunch.policy.model import PolicyType
from kmslaunch.world.authz import authorize_in_world, principal_in_world
from kmslaunch.world.fork import fork
from kmslaunch.world.world import World

from .apply import Reach, Trace, apply_changes, reach
from .changes import (
    Change,
    DefaultKeyChange,
    DisableKey,
    IdentityPolicyChange,
    KeyPolicyChange,
    OrgPolicyChange,
    RevokeGrant,
)

WORKS = frozenset({"runs", "runs-unless"})
REFUSED = frozenset({"fails", "fails-unless", "rejected"})
UNSURE = frozenset({"runs-unless", "fails-unless", "unknown"})
MOVES = ("breaks", "starts-working", "to-unknown", "from-unknown")


@dataclass(frozen=True)
class Run:
    """One simulation of a path: ``verdict`` runs, runs-unless, fails, fails-unless, rejected (EC2 refused the
    request itself), unknown (not simulated: ``note`` says why) or absent (not a launch path then)."""

    verdict: str
    state: str
    note: str | None = None
    unless: tuple[str, ...] = ()
    error: tuple[str, str] | None = None  # EC2's (Code, Message) for a rejected request
    refused: CallResult | None = field(default=None, compare=False, repr=False)
    calls: tuple[CallResult, ...] = field(default=(), compare=False, repr=False)
    caller: str | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Path:
    """A launch path as audit names it."""

    kind: str
    account: str
    region: str
    target: str
    principal: str | None
    key: str | None

    @property
    def ident(self) -> tuple[str, str, str, str, str]:
        # The default-key path's target is the default key, which a --default-key change changes.
        target = "" if self.kind == DEFAULT_KEY else self.target
        return (self.account, self.region, self.kind, target, self.principal or "")


@dataclass(frozen=True)
class Cause:
    """The call a move turns on and what decided it after the changes. ``statement`` is the deciding statement
    (an explicit Deny, or the Allow that now lets a formerly refused call through; for an implicit deny the
    statement of a changed document that came closest, if any); ``change`` the change it is attributed to, and
    ``in_change`` whether the statement is in that change's document."""

    action: str
    resource: str
    principal: str
    decision: str  # allowed, explicitDeny, implicitDeny, keyState, unknown, UnauthorizedOperation...
    layer: str | None
    message: str
    statement: StatementRef | None = None
    change: Change | None = None
    in_change: bool = False
    call: CallResult | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Move:
    path: Path
    move: str  # one of MOVES
    before: Run
    after: Run
    cause: Cause | None = None


@dataclass
class ImpactReport:
    snapshot: str
    changes: tuple[Change, ...]
    moves: list[Move]
    paths: int  # every launch path, before or after
    reached: int  # the paths the changes can reach (simulated); the rest decide as before
    failing_before: int  # of ``reached``
    failing_after: int
    simulated_before: int  # distinct launches simulated before the changes
    left_alone: int  # distinct launches the changes cannot reach: not simulated
    simulated_after: int  # simulated again after the changes
    reused: int  # simulated before, and left as they were after (their trace shows the changes cannot reach them)
    unknown: tuple[str, ...] = ()
    # Changes a plan makes that cannot be evaluated (a value known only after apply), as the facts unknown.
    unevaluated: tuple[str, ...] = ()
    # Lines about what the changes do not cover (a plan's new resources: kmslaunch check's part).
    notes: tuple[str, ...] = ()

    def of(self, move: str) -> list[Move]:
        return [m for m in self.moves if m.move == move]

    @property
    def exit_code(self) -> int:
        """1 a path breaks; 3 none breaks but some path becomes runs-unless or a change cannot be evaluated;
        else 0."""
        if self.of("breaks"):
            return 1
        if self.unevaluated:
            return 3
        if any(m.after.verdict == "runs-unless" and m.before.verdict != "runs-unless" for m in self.moves):
            return 3
        return 0


def _trace(req: LaunchRequest, calls: Sequence[CallResult], keys: set[str], complete: bool) -> Trace:
    accounts = {c.call.principal.account for c in calls if c.call.principal.account}
    return Trace(req.account, req.region, frozenset(keys), frozenset(accounts), complete)


def run_once(sandbox: Sandbox, req: LaunchRequest) -> tuple[Run, Trace]:
    """Simulate one launch on the sandbox (rolled back after): its run and what it touched."""
    try:
        result = sandbox.run(req)
    except NotInWorld as exc:
        return Run("unknown", "unknown", note=str(exc)), _trace(req, (), set(), False)
    except Ec2Error as exc:
        run = Run("rejected", "rejected", note=exc.message, error=(exc.code, exc.message), caller=req.caller)
        return run, _trace(req, (), set(), False)
    except KmslaunchError as exc:
        return Run("unknown", "unknown", note=str(exc)), _trace(req, (), set(), False)
    keys = {c.resource for c in result.calls} | {v.key.arn for v in result.volumes if v.key is not None}
    state = result.outcome.state
    complete = state != "rejected"
    trace = _trace(req, result.calls, keys, complete)
    refused = result.refused_calls[0] if result.refused_calls else None
    unless = tuple(u.fact for u in result.deciding_unknowns)
    common = {"refused": refused, "calls": result.calls, "caller": result.principal}
    if result.succeeded:
        return Run(result.verdict.value, state, unless=unless, **common), trace  # type: ignore[arg-type]
    if state == "rejected" or state not in FAILED_STATES:
        err = result.outcome.error or {}
        code, message = err.get("Code", state), err.get("Message", "")
        return Run("rejected", state, note=message, error=(code, message), **common), trace  # type: ignore[arg-type]
    return Run(result.verdict.value, state, unless=unless, **common), trace  # type: ignore[arg-type]


def _path(t: tuple[str, str, str, str, str | None, str | None]) -> Path:
    return Path(*t)


def _unsimulated(p: PathResult) -> tuple[Path, Run]:
    o = p.outcome
    return Path(p.kind, p.account, p.region, p.target, p.principal, p.key), Run("unknown", o.state, note=o.note)


# Batch work: the collector's passes over the loaded snapshot would cost more than the simulations (kmslaunch.batch).
@collector_paused()
def impact(
    world: World,
    changes: Sequence[Change],
    *,
    snapshot: str = "",
    unknown: tuple[str, ...] = (),
    exhaustive: bool = False,
) -> ImpactReport:
    """Every launch path of ``world`` before and after ``changes`` (``world`` itself is not changed).
    ``exhaustive``: simulate every path again and enumerate every region again, whatever the changes reach (the
    reference the filtered run is tested against)."""
    work = fork(world)
    scope: Reach = reach(work, changes)
    if exhaustive:
        scope = Reach(regions=frozenset((a, r) for a, acct in work.accounts.items() for r in acct.regions))
    cases, fixed = launch_cases(work)
    sandbox = Sandbox(work)
    before: dict[tuple[str, ...], tuple[Path, Run]] = {}
    requests: dict[tuple[str, ...], LaunchRequest] = {}
    traced: list[tuple[Run, Trace]] = []
    texts: dict[str, str] = {}
    # Launches the changes cannot reach (Reach.may_reach says why) decide the same before and after: they are
    # enumerated and counted, not simulated.
    every = {_path(t).ident for c in cases for t in c.paths} | {_unsimulated(pr)[0].ident for pr in fixed}
    enumerated = len(cases)
    cases = [c for c in cases if scope.may_reach(work, c.request.account, c.request.region, c.request.params, texts)]
    fixed = [pr for pr in fixed if scope.may_reach(work, pr.account, pr.region, pr.target, texts)]
    for case in cases:
        run, trace = run_once(sandbox, case.request)
        traced.append((run, trace))
        for t in case.paths:
            p = _path(t)
            before[p.ident] = (p, run)
            requests[p.ident] = case.request
    for pr in fixed:
        p, run = _unsimulated(pr)
        before[p.ident] = (p, run)

    apply_changes(work, changes)
    again = scope.enumerate_again(work)
    sandbox = Sandbox(work)
    after: dict[tuple[str, ...], tuple[Path, Run]] = {}
    simulated = reused = 0
    for case, (was, trace) in zip(cases, traced, strict=True):
        if (case.paths[0][1], case.paths[0][2]) in again:
            continue  # enumerated again below
        run = was
        if scope.touches(trace):
            run, _ = run_once(sandbox, case.request)
            simulated += 1
        else:
            reused += 1
        for t in case.paths:
            after[_path(t).ident] = (_path(t), run)
    for pr in fixed:
        if (pr.account, pr.region) not in again:
            p, run = _unsimulated(pr)
            after[p.ident] = (p, run)
    new_cases, new_fixed = launch_cases(work, again)
    for case in new_cases:
        run, _ = run_once(sandbox, case.request)
        simulated += 1
        for t in case.paths:
            after[_path(t).ident] = (_path(t), run)
    for pr in new_fixed:
        p, run = _unsimulated(pr)
        after[p.ident] = (p, run)
    # A path the changes took away: its launch, as before, in the changed world.
    for ident in [i for i in before if i not in after]:
        p, _ = before[ident]
        req = requests.get(ident)
        if req is None:
            after[ident] = (p, Run("unknown", "unknown", note="not a launch path after the changes"))
            continue
        run, _ = run_once(sandbox, req)
        simulated += 1
        after[ident] = (p, run)
    absent = Run("absent", "absent", note="not a launch path before the changes")
    moves: list[Move] = []
    for ident in sorted(set(before) | set(after)):
        p, b = before.get(ident, (after[ident][0], absent))
        a = after[ident][1]
        move = _move(b, a)
        if move is not None:
            moves.append(Move(after[ident][0], move, b, a, _cause(work, changes, move, p, b, a)))
    return ImpactReport(
        snapshot,
        tuple(changes),
        moves,
        len(every | set(after)),
        len(set(before) | set(after)),
        sum(r.verdict in REFUSED for _, r in before.values()),
        sum(r.verdict in REFUSED for _, r in after.values()),
        len(cases),
        enumerated - len(cases),
        simulated,
        reused,
        unknown,
    )


def _move(b: Run, a: Run) -> str | None:
    if b.verdict in WORKS and a.verdict in REFUSED:
        return "breaks"
    if b.verdict in REFUSED | {"absent"} and a.verdict in WORKS:
        return "starts-working"
    if b.verdict == a.verdict or (b.verdict == "absent" and a.verdict in REFUSED):
        return None
    if a.verdict in UNSURE and b.verdict not in UNSURE:
        return "to-unknown"
    if b.verdict in UNSURE and a.verdict not in UNSURE:
        return "from-unknown"
    return None


def _layer(ref: StatementRef) -> str:
    return ref.layer.value if isinstance(ref.layer, PolicyType) else ref.layer


def _holds(change: Change, ref: StatementRef, resource: str, principal_account: str | None) -> bool:
    """Whether ``ref`` is a statement of ``change``'s document, as it sits in the changed world."""
    layer = _layer(ref)
    if isinstance(change, KeyPolicyChange):
        return layer in ("key-policy", "resource-policy") and change.key_arn in (ref.policy, resource)
    if isinstance(change, IdentityPolicyChange):
        return (
            layer in ("identity-policy", "permissions-boundary")
            and ref.policy == change.document.policy.name
            and principal_account == change.account
        )
    if isinstance(change, OrgPolicyChange):
        return layer == change.kind and ref.policy == change.document.policy.name
    return False


def _reaches(change: Change, layer: str | None, resource: str, principal_account: str | None) -> bool:
    """Whether ``change`` is of the layer that refused this call, on this call's key or principal."""
    if isinstance(change, DisableKey):
        return layer == "key-state" and change.key_arn == resource
    if isinstance(change, KeyPolicyChange | RevokeGrant):
        return layer in ("key-policy", "grant") and change.key_arn == resource
    if isinstance(change, IdentityPolicyChange):
        return layer in ("identity-policy", "permissions-boundary") and change.account == principal_account
    if isinstance(change, OrgPolicyChange):
        return layer == change.kind
    return False


def _decision_cause(
    changes: Sequence[Change],
    action: str,
    resource: str,
    principal: str,
    principal_account: str | None,
    d: Decision,
    message: str,
    call: CallResult | None,
    launch: tuple[str, str],
) -> Cause:
    layer = d.denied_by[0].value if d.denied_by else None
    verdict = d.verdict.value
    refs: tuple[StatementRef, ...] = ()
    if d.verdict in (Verdict.EXPLICIT_DENY, Verdict.ALLOWED):
        refs = d.decided_by
    else:
        refs = (*(n.statement for n in d.near_misses), *d.partial)
    for ref in refs:
        for c in changes:
            if _holds(c, ref, resource, principal_account):
                return Cause(action, resource, principal, verdict, layer or _layer(ref), message, ref, c, True, call)
    statement = d.decided_by[0] if d.decided_by and d.verdict is not Verdict.IMPLICIT_DENY else None
    return Cause(
        action,
        resource,
        principal,
        verdict,
        layer,
        message,
        statement,
        _blame(changes, layer, resource, principal_account, launch),
        False,
        call,
    )


def _blame(
    changes: Sequence[Change], layer: str | None, resource: str, principal_account: str | None, launch: tuple[str, str]
) -> Change | None:
    """The change that made the launch meet this decision when the deciding statement is in none of theirs."""
    for c in changes:
        if _reaches(c, layer, resource, principal_account):
            return c
    for c in changes:
        if isinstance(c, DefaultKeyChange) and (c.key_arn == resource or (c.account, c.region) == launch):
            return c
    return changes[0] if len(changes) == 1 else None


def _call_cause(changes: Sequence[Change], c: CallResult, launch: tuple[str, str]) -> Cause:
    p = c.call.principal
    if c.verdict is CallVerdict.KEY_STATE:
        return Cause(
            c.action,
            c.resource,
            p.arn,
            c.verdict.value,
            "key-state",
            f"{c.error_code}: {c.error_message}",
            change=_blame(changes, "key-state", c.resource, p.account, launch),
            call=c,
        )
    d = c.authorized.decision
    message = c.error_message or c.explanation().splitlines()[0]
    return _decision_cause(changes, c.action, c.resource, p.arn, p.account, d, message, c, launch)


def _ec2_cause(work: World, changes: Sequence[Change], path: Path, run: Run) -> Cause | None:
    """EC2's own refusal of RunInstances: decided again, for the statement that refused it."""
    code, message = run.error or ("", "")
    if code != "UnauthorizedOperation" or not run.caller:
        return Cause(
            "ec2:RunInstances",
            "",
            run.caller or "",
            code,
            None,
            message,
            change=_blame(changes, None, "", None, (path.account, path.region)),
        )
    who = principal_in_world(work, run.caller)
    resource = f"arn:{work.partition}:ec2:{path.region}:{path.account}:instance/*"
    ctx = {"aws:requestedregion": (path.region,), "ec2:region": (path.region,)}
    d = authorize_in_world(work, who, "ec2:RunInstances", resource, context=ctx).decision
    return _decision_cause(
        changes, "ec2:RunInstances", resource, who.arn, who.account, d, message, None, (path.account, path.region)
    )


def _cause(work: World, changes: Sequence[Change], move: str, path: Path, b: Run, a: Run) -> Cause | None:
    launch = (path.account, path.region)
    if move == "starts-working" and b.refused is not None:
        # What now allows the call that was refused: the same call in the run after the changes.
        was = b.refused
        same = next(
            (
                c
                for c in a.calls
                if c.action == was.action and c.resource == was.resource and c.call.operation == was.call.operation
            ),
            None,
        )
        if same is not None:
            cause = _call_cause(changes, same, launch)
            # No statement of a changed document allows it (a Deny removed): the layer that refused it before.
            layer = cause.layer if cause.in_change else (was.denied_by[0] if was.denied_by else cause.layer)
            return Cause(
                was.action,
                was.resource,
                was.call.principal.arn,
                cause.decision,
                layer,
                f"was refused: {was.error_message or was.verdict.value}",
                cause.statement if cause.in_change else None,
                cause.change,
                cause.in_change,
                same,
            )
        # The launch no longer makes the refused call (it uses another key now).
        layer = was.denied_by[0] if was.denied_by else None
        return Cause(
            was.action,
            was.resource,
            was.call.principal.arn,
            "not made",
            layer,
            f"was refused: {was.error_message or was.verdict.value}; after the changes the launch does not make "
            "this call",
            change=_blame(changes, layer, was.resource, was.call.principal.account, launch),
            call=was,
        )
    if move == "starts-working" and b.verdict == "rejected":
        return _ec2_cause(work, changes, path, b)
    run = a if move in ("breaks", "to-unknown") else b
    if run.refused is not None:
        return _call_cause(changes, run.refused, launch)
    if run.verdict == "rejected":
        return _ec2_cause(work, changes, path, run)
    return None
