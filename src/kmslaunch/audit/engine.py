"""Every launch path of a snapshot, simulated once per distinct case, the failures diagnosed by the doctor.

Launch paths:

- each Auto Scaling group, launching one instance as its service-linked role;
- each launch template's default version, launched by each principal allowed ``ec2:RunInstances``;
- each principal allowed ``ec2:RunInstances`` with each enabled key of its account and region usable for EBS
  (symmetric customer keys and ``aws/ebs``): a RunInstances of an image whose root snapshot is unencrypted, with
  ``Encrypted`` and ``KmsKeyId`` set to the key;
- each region's default EBS key, when encryption by default is on, by each of those principals;
- each instance EC2 already terminated for a KMS reason (StateReason ``Client.InternalError`` or
  ``Client.InvalidKMSKey.InvalidState``), its launch replayed as ``kmslaunch doctor --instance`` replays it.

What is indexed rather than evaluated pair by pair: ``ec2:RunInstances`` is decided once per principal and
region; principals with the same identity policies, boundary and tags form a group, simulated once per key (or
template, or region) unless the key's policy, its grants or an SCP names the principal; a launch that fails is
diagnosed (and its fix verified) once, on a slice of the world holding only the accounts the launch touches.
Simulations run on one deep copy of the world; what a launch leaves behind (instances, volumes, grants,
CloudTrail records, scaling activities) is rolled back after each, so that no launch sees another's grants.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from kmslaunch.batch import collector_paused
from kmslaunch.doctor.artifacts import Place
from kmslaunch.doctor.diagnose import diagnose
from kmslaunch.doctor.fixes import shown
from kmslaunch.launch.errors import Ec2Error, NotInWorld
from kmslaunch.launch.plan import ensure_aws_ebs
from kmslaunch.launch.replay import replay_instance
from kmslaunch.launch.request import LaunchRequest, simulate
from kmslaunch.launch.result import CallResult, LaunchKind, LaunchResult
from kmslaunch.policy.errors import KmslaunchError
from kmslaunch.policy.principals import PrincipalType, parse_principal
from kmslaunch.world.autoscaling import AutoScaling
from kmslaunch.world.builder import add_image
from kmslaunch.world.clock import Clock, Ids
from kmslaunch.world.cloudtrail import Trail
from kmslaunch.world.ec2 import Ec2
from kmslaunch.world.fork import fork
from kmslaunch.world.iam import Iam
from kmslaunch.world.kms import AWS_EBS_ALIAS, Key, KeyManager, KeyState
from kmslaunch.world.organizations import Organization
from kmslaunch.world.world import Region, World

from .launchers import Launcher, Tokens, key_tokens, launchers, org_tokens
from .lint import LintFinding, Severity, lint_world

ASG = "auto-scaling-group"
TEMPLATE = "launch-template"
PRINCIPAL_KEY = "principal-key"
DEFAULT_KEY = "default-key"
TERMINATED = "terminated-instance"
# StateReason codes with which EC2 ends a launch for a KMS reason: a refused call (Client.InternalError, "Client
# error on launch") or a key in the wrong state (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/troubleshooting-launch.html).
KMS_STATE_REASONS = frozenset({"Client.InternalError", "Client.InvalidKMSKey.InvalidState"})
FAILED_STATES = frozenset({"terminated", "stopped", "failed"})


@dataclass(frozen=True, slots=True)
class Located:
    """Where in the snapshot a path's refusal is written (its SARIF location), and the refused action."""

    place: Place
    action: str


@dataclass(frozen=True)
class Outcome:
    """What one distinct simulation found: the launch's final state, and for a failure the first finding's
    headline, the layer that refused, and the doctor's fix (``FixPlan`` as JSON, ``verified`` when the launch
    succeeded with it)."""

    state: str
    fails: bool
    cause: str | None = None
    headline: str | None = None
    fix: dict[str, Any] | None = None
    note: str | None = None
    # The launch's verdict (launch.result.LaunchVerdict) and, where it is runs-unless or fails-unless, the facts
    # the snapshot lacks that could turn it.
    verdict: str | None = None
    unless: tuple[str, ...] = ()
    # The refused call the finding is about (not in the JSON: SARIF reads from it where the deciding statement is).
    refused: CallResult | None = field(default=None, compare=False, repr=False)
    # Where the refused call's refusal is written in the snapshot, and its action, found while the call was at
    # hand (units.AuditOptions.locations), for results that cross a process without ``refused``.
    located: Located | None = field(default=None, compare=False, repr=False)

    @property
    def unsure(self) -> bool:
        """The path runs only if what the snapshot does not hold allows it."""
        return self.verdict == "runs-unless"

    def to_json(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "verdict": self.verdict,
            "unless": list(self.unless),
            "fails": self.fails,
            "cause": self.cause,
            "headline": self.headline,
            "fix": self.fix,
            "note": self.note,
        }


@dataclass(frozen=True)
class PathResult:
    """One launch path and what it gives; ``representative`` is the principal actually simulated when this
    path shares its result with a group of principals with the same policies."""

    kind: str
    account: str
    region: str
    target: str
    principal: str | None
    key: str | None
    outcome: Outcome
    representative: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "account": self.account,
            "region": self.region,
            "target": self.target,
            "principal": self.principal,
            "key": self.key,
            **self.outcome.to_json(),
            "representative": self.representative,
        }


@dataclass
class AuditReport:
    snapshot: str
    paths: list[PathResult]
    lint: list[LintFinding]
    unknown: tuple[str, ...] = ()
    simulations: int = 0
    diagnoses: int = 0

    @property
    def failing(self) -> list[PathResult]:
        return [p for p in self.paths if p.outcome.fails]

    @property
    def unsure(self) -> list[PathResult]:
        """Paths that run with what the snapshot holds, and that a fact it lacks could refuse."""
        return [p for p in self.paths if p.outcome.unsure]

    def by_cause(self) -> dict[str, int]:
        counts = Counter(p.outcome.cause or "unknown" for p in self.failing)
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))

    def by_kind(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for p in self.paths:
            row = out.setdefault(p.kind, {"paths": 0, "failing": 0, "unless": 0, "not_simulated": 0})
            row["paths"] += 1
            row["failing"] += p.outcome.fails
            row["unless"] += p.outcome.unsure
            row["not_simulated"] += p.outcome.state in ("rejected", "unknown")
        return out

    @property
    def lint_errors(self) -> int:
        return sum(f.severity is Severity.ERROR for f in self.lint)

    @property
    def exit_code(self) -> int:
        """1 something fails (or a lint error), 3 something runs only unless a missing fact refuses it, else 0."""
        if self.failing or self.lint_errors:
            return 1
        return 3 if self.unsure else 0


@dataclass
class Case:
    """One distinct simulation and the paths that share its result."""

    request: LaunchRequest
    paths: list[tuple[str, str, str, str, str | None, str | None]] = field(default_factory=list)
    representative: str | None = None


class Sandbox:
    """Simulates on one world and rolls back what each launch leaves behind.

    The trails' and keys' grants' lengths are taken once; a launch writes only to the accounts its calls and
    volumes name (its own, the owners of its keys and snapshots), and only those are rolled back after it, so a
    simulation costs the same in an organization of 5 accounts as in one of 500. Should a launch raise, every
    trail and key is rolled back."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.trails: dict[str, list[tuple[list[dict[str, Any]], int]]] = {}
        self.grants: dict[str, list[tuple[Key, int]]] = {}
        for a, acct in world.accounts.items():
            self.trails[a] = [(r.trail.events, len(r.trail.events)) for r in acct.regions.values()]
            self.grants[a] = [(k, len(k.grants)) for r in acct.regions.values() for k in r.kms.keys.values()]

    def run(self, req: LaunchRequest) -> LaunchResult:
        region = self.world.account(req.account).region(req.region)
        ec2, groups = region.ec2, region.autoscaling.groups
        instances, volumes = dict(ec2.instances), dict(ec2.volumes)
        asg = {n: (len(g.activities), list(g.instances)) for n, g in groups.items()}
        touched: Iterable[str] = self.trails
        try:
            result = simulate(self.world, req)
            named = {c.resource.split(":")[4] for c in result.calls if c.resource.count(":") >= 5}
            touched = {req.account} | named | {v.snapshot.owner for v in result.volumes if v.snapshot is not None}
            return result
        finally:
            ec2.instances, ec2.volumes = instances, volumes
            for a in touched:
                for events, n in self.trails.get(a, ()):
                    del events[n:]
                for key, n in self.grants.get(a, ()):
                    del key.grants[n:]
            for name, (n, members) in asg.items():
                del groups[name].activities[n:]
                groups[name].instances = members


def ebs_keys(world: World, account: str, region: str) -> list[Key]:
    """Enabled symmetric encryption keys EBS can use: the customer's and ``aws/ebs``."""
    kms = world.accounts[account].regions[region].kms
    ebs_id = kms.aliases.get(AWS_EBS_ALIAS)
    out = []
    for key in kms.keys.values():
        if key.state is not KeyState.ENABLED or key.key_usage != "ENCRYPT_DECRYPT":
            continue
        if key.key_spec != "SYMMETRIC_DEFAULT":
            continue
        if key.manager is KeyManager.AWS and key.key_id != ebs_id:
            continue  # aws/s3, aws/rds…: only their own service uses them
        out.append(key)
    return sorted(out, key=lambda k: k.arn)


@dataclass(frozen=True)
class AccountResult:
    """One account's launch paths (sorted), and the simulations and diagnoses it took; ``units.portable`` makes
    it plain data that pickles (the refused calls dropped), and ``to_json`` gives it as JSON."""

    account: str
    paths: tuple[PathResult, ...]
    simulations: int
    diagnoses: int

    def to_json(self) -> dict[str, Any]:
        return {
            "account": self.account,
            "paths": [p.to_json() for p in self.paths],
            "simulations": self.simulations,
            "diagnoses": self.diagnoses,
        }


def audit(
    world: World,
    *,
    snapshot: str = "",
    unknown: tuple[str, ...] = (),
    progress: Callable[[int], Any] | None = None,
) -> AuditReport:
    """Audit every launch path of ``world`` (which is not changed) and lint its key and KMS IAM policies.

    ``progress`` is called with the number of accounts before they start, then with 1 after each (``None``: no
    progress reported)."""
    work = fork(world)
    accounts = sorted(work.accounts)
    if progress is not None:
        progress(len(accounts))
    results = []
    for account in accounts:
        results.append(audit_account(work, account, world.clock, world.ids.seed))
        if progress is not None:
            progress(1)
    return assemble(world, results, snapshot=snapshot, unknown=unknown)


def assemble(
    world: World, results: Iterable[AccountResult], *, snapshot: str = "", unknown: tuple[str, ...] = ()
) -> AuditReport:
    """The report of the accounts' results (in any order) with the lint of ``world``."""
    ordered = sorted(results, key=lambda r: r.account)
    paths = [p for r in ordered for p in r.paths]
    return AuditReport(
        snapshot,
        paths,
        lint_world(world),
        unknown,
        sum(r.simulations for r in ordered),
        sum(r.diagnoses for r in ordered),
    )


def audit_account(work: World, account: str, clock: Clock, seed: str) -> AccountResult:
    """The launch paths of ``account``, simulated on ``work``, which is left as it was found.

    What the audit adds to the account (the unencrypted image it launches, ``aws/ebs`` where the snapshot has
    none) is removed afterwards, and ids and times are drawn from a generator seeded with the account and a copy
    of ``clock``: an account's result is the same whichever accounts were audited before it on this world, in
    this process or another (``audit.units``)."""
    acct = work.accounts[account]
    saved = {
        name: (dict(r.kms.keys), dict(r.kms.aliases), dict(r.ec2.images), dict(r.ec2.snapshots))
        for name, r in acct.regions.items()
    }
    work_clock, work_ids = work.clock, work.ids
    work.clock, work.ids = copy.copy(clock), Ids(seed=f"{seed}/audit/{account}")
    try:
        with collector_paused():
            return _audit_account(work, account)
    finally:
        work.clock, work.ids = work_clock, work_ids
        for name, (keys, aliases, images, snaps) in saved.items():
            r = acct.regions[name]
            r.kms.keys, r.kms.aliases, r.ec2.images, r.ec2.snapshots = keys, aliases, images, snaps


def _audit_account(work: World, account: str) -> AccountResult:
    cases, paths = launch_cases(work, {(account, region) for region in work.accounts[account].regions})
    sandbox = Sandbox(work)
    fresh = _Fresh()
    diagnoses = 0
    for case in cases:
        outcome, diagnosed = _simulate(work, sandbox, case.request, fresh)
        diagnoses += diagnosed
        for kind, acct, region, target, principal, key in case.paths:
            rep = case.representative if principal is not None and principal != case.representative else None
            shown_outcome = outcome
            if kind == TERMINATED and not outcome.fails and outcome.state not in ("unknown", "rejected"):
                shown_outcome = replace(
                    outcome,
                    note="EC2 terminated this instance for a KMS reason, but its launch runs when replayed now: "
                    "the account has changed since, or the cause is one kmslaunch does not model",
                )
            paths.append(PathResult(kind, acct, region, target, principal, key, shown_outcome, rep))
    paths.sort(key=lambda p: (p.account, p.region, p.kind, p.target, p.principal or ""))
    return AccountResult(account, tuple(paths), len(cases), diagnoses)


def launch_cases(work: World, where: Collection[tuple[str, str]] | None = None) -> tuple[list[Case], list[PathResult]]:
    """Every launch path of ``work`` (only of the (account, region) pairs in ``where`` when given), as the
    distinct simulations that decide them, and the paths that cannot be simulated with what they found instead.
    ``work`` gains what the simulations need: ``aws/ebs`` where it is missing, an image with an unencrypted root
    snapshot per region. Cases are in the order the accounts and regions sort."""
    cases: dict[tuple[Any, ...], Case] = {}
    paths: list[PathResult] = []
    org = org_tokens(work)
    for account in sorted(work.accounts):
        for region in sorted(work.accounts[account].regions):
            if where is None or (account, region) in where:
                _enumerate(work, account, region, org, cases, paths)
    return list(cases.values()), paths


def _enumerate(
    work: World, account: str, region: str, org: Tokens, cases: dict[tuple[Any, ...], Case], paths: list[PathResult]
) -> None:
    r = work.accounts[account].regions[region]
    for name in sorted(r.autoscaling.groups):
        req = LaunchRequest(LaunchKind.AUTO_SCALING, account, region, group=name)
        _add(cases, (ASG, account, region, name), req, None, (ASG, account, region, name, None, None))
    # What already failed: each instance EC2 terminated for a KMS reason, replayed as `doctor --instance` does.
    for iid in sorted(r.ec2.instances):
        inst = r.ec2.instances[iid]
        if inst.state.label != "terminated" or (inst.state_reason or {}).get("Code") not in KMS_STATE_REASONS:
            continue
        try:
            req = replay_instance(work, account, region, iid, None, None)
        except NotInWorld as exc:
            note = f"terminated with {(inst.state_reason or {}).get('Code')}; not replayed: {exc}"
            paths.append(PathResult(TERMINATED, account, region, iid, None, None, Outcome("unknown", False, note=note)))
            continue
        _add(
            cases,
            (TERMINATED, account, region, iid),
            req,
            req.caller,
            (TERMINATED, account, region, iid, req.caller, None),
        )
    if not r.kms.known:
        return
    who = launchers(work, account, region)
    if not who:
        return
    ensure_aws_ebs(work, account, region)
    keys = ebs_keys(work, account, region)
    # The strings of each key's policy and grants, read once per key rather than once per principal.
    per_key = {key.arn: org | key_tokens(key) for key in keys}
    region_tokens = org
    for key in keys:
        region_tokens = region_tokens | per_key[key.arn]
    image = add_image(work, account, region, name="kmslaunch-audit-unencrypted-root")
    base = {"ImageId": image.image_id, "MinCount": 1, "MaxCount": 1, "InstanceType": "t3.micro"}
    for launcher in who:
        for key in keys:
            if not key.policy_known:
                paths.append(
                    PathResult(
                        PRINCIPAL_KEY,
                        account,
                        region,
                        key.arn,
                        launcher.arn,
                        key.arn,
                        Outcome("unknown", False, note="the key policy was not collected"),
                    )
                )
                continue
            params = dict(base)
            params["BlockDeviceMappings"] = [
                {"DeviceName": "/dev/xvda", "Ebs": {"Encrypted": True, "KmsKeyId": key.arn}}
            ]
            _add_as(cases, region, launcher, per_key[key.arn], params, (PRINCIPAL_KEY, key.arn, key.arn))
        for lt in sorted(r.ec2.launch_templates.values(), key=lambda t: t.template_id):
            params = {"LaunchTemplate": {"LaunchTemplateId": lt.template_id, "Version": "$Default"}}
            params.update(MinCount=1, MaxCount=1)
            _add_as(cases, region, launcher, region_tokens, params, (TEMPLATE, lt.template_id, None))
        if r.ec2.defaults.known and r.ec2.defaults.encryption_by_default:
            target = r.ec2.defaults.default_kms_key_id
            _add_as(cases, region, launcher, region_tokens, dict(base), (DEFAULT_KEY, target, target))


def _add(
    cases: dict[tuple[Any, ...], Case],
    signature: tuple[Any, ...],
    req: LaunchRequest,
    representative: str | None,
    path: tuple[str, str, str, str, str | None, str | None],
) -> None:
    case = cases.get(signature)
    if case is None:
        case = cases[signature] = Case(req, representative=representative)
    case.paths.append(path)


def _add_as(
    cases: dict[tuple[Any, ...], Case],
    region: str,
    launcher: Launcher,
    tokens: Tokens,
    params: dict[str, Any],
    path: tuple[str, str, str | None],
) -> None:
    kind, target, key = path
    # Principals a policy names are simulated on their own; the others share their group's simulation.
    who: Any = launcher.arn if tokens.names(launcher) else launcher.group
    req = LaunchRequest(
        LaunchKind.RUN_INSTANCES, launcher.account, region, params, launcher.arn, source=f"audit {kind} {target}"
    )
    signature = (kind, target, launcher.account, region, who)
    _add(cases, signature, req, launcher.arn, (kind, launcher.account, region, target, launcher.arn, key))


def simulate_requests(world: World, requests: list[LaunchRequest]) -> list[tuple[LaunchResult | None, Outcome]]:
    """Each launch simulated on one copy of ``world`` (which is not changed) as ``audit`` simulates its paths,
    and a failure diagnosed, its fix verified; with the launch's result (None when it could not be simulated)."""
    work = fork(world)
    sandbox = Sandbox(work)
    fresh = _Fresh()
    out: list[tuple[LaunchResult | None, Outcome]] = []
    with collector_paused():
        for req in requests:
            ran = _run(sandbox, req)
            out.append((None, ran) if isinstance(ran, Outcome) else (ran, _judge(work, req, ran, fresh)[0]))
    return out


def _run(sandbox: Sandbox, req: LaunchRequest) -> LaunchResult | Outcome:
    try:
        return sandbox.run(req)
    except NotInWorld as exc:
        return Outcome("unknown", False, note=str(exc))
    except Ec2Error as exc:
        return Outcome("rejected", False, cause=f"ec2:{exc.code}", note=exc.message)
    except KmslaunchError as exc:
        return Outcome("unknown", False, note=str(exc))


def _simulate(work: World, sandbox: Sandbox, req: LaunchRequest, fresh: _Fresh) -> tuple[Outcome, int]:
    ran = _run(sandbox, req)
    if isinstance(ran, Outcome):
        return ran, 0
    return _judge(work, req, ran, fresh)


def _judge(work: World, req: LaunchRequest, result: LaunchResult, fresh: _Fresh) -> tuple[Outcome, int]:
    """The outcome of a launch that was simulated: diagnosed (once per distinct refusal) when it fails."""
    state = result.outcome.state
    verdict = result.verdict.value
    unless = tuple(u.fact for u in result.deciding_unknowns)
    if result.succeeded:
        return Outcome(state, False, verdict=verdict, unless=unless), 0
    if state == "rejected" or state not in FAILED_STATES:
        err = result.outcome.error or {}
        return Outcome(state, False, cause=f"ec2:{err.get('Code', state)}", note=err.get("Message")), 0
    first = result.refused_calls[0] if result.refused_calls else None
    # Launches by the same caller refused the same way on the same key get the same diagnosis (a template and
    # a direct RunInstances with that template's key): diagnose once.
    why: tuple[Any, ...] | None = None
    if first is not None:
        why = (req.account, req.region, result.principal, first.action, first.resource, first.call.principal.arn)
        why = (*why, first.verdict, first.denied_by, tuple(c.resource for c in result.calls))
        if why in fresh.outcomes:
            return fresh.outcomes[why], 0
    try:
        diag = diagnose(_slice(work, req, result), req)
    except KmslaunchError as exc:
        cause = first.denied_by[0] if first and first.denied_by else "unknown"
        return Outcome(state, True, cause=cause, note=f"no diagnosis: {exc}"), 1
    finding = diag.findings[0] if diag.findings else None
    # The doctor's choice, in the doctor's words: the fix that keeps the launch as it is, else the alternative
    # that changes the launch (labelled so), else the unverified plan with why.
    plan = diag.fix or diag.launch_change_only or shown(diag.plans)
    fix = plan.summary() if plan is not None else None
    outcome = Outcome(
        state,
        True,
        cause=finding.layer if finding else (first.denied_by[0] if first and first.denied_by else "unknown"),
        headline=finding.headline if finding else None,
        fix=fix,
        verdict=verdict,
        unless=unless,
        refused=finding.call if finding else first,
    )
    if why is not None:
        fresh.outcomes[why] = outcome
    return outcome, 1


class _Fresh:
    """Diagnoses already made, by how the launch was refused (see ``_simulate``)."""

    def __init__(self) -> None:
        self.outcomes: dict[tuple[Any, ...], Outcome] = {}


def _slice(world: World, req: LaunchRequest, result: LaunchResult) -> World:
    """The part of the world a launch touches, for the doctor, which copies its world once per fix round: the
    launching account with only the caller (or the group's service-linked role) in IAM and the launch region's
    keys, images, snapshots and templates; the accounts of the keys and snapshots the launch used; the
    organization. Instances, volumes and CloudTrail records are left out: a new launch reads none of them."""
    part = World(clock=world.clock, ids=world.ids, partition=world.partition)
    accounts = {req.account} | {c.resource.split(":")[4] for c in result.calls if c.resource.count(":") >= 5}
    accounts |= {v.snapshot.owner for v in result.volumes if v.snapshot is not None}
    part.organization = _trim_org(world.organization, accounts)
    for a in sorted(accounts):
        src = world.accounts.get(a)
        if src is None:
            continue
        acct = part.account(a)
        acct.iam = _trim_iam(src.iam, [result.principal] if a == req.account else [])
        r = src.regions.get(req.region)
        if r is None:
            continue
        ec2 = Ec2(
            images=r.ec2.images,
            snapshots=r.ec2.snapshots,
            launch_templates=r.ec2.launch_templates,
            defaults=r.ec2.defaults,
        )
        groups = {req.group: r.autoscaling.groups[req.group]} if req.group in r.autoscaling.groups else {}
        asg = AutoScaling(groups=groups, launch_configurations=r.autoscaling.launch_configurations)
        # Only the keys the launch used, and aws/ebs (the doctor may propose launching with it).
        used = {c.resource for c in result.calls} | {r.kms.aliases.get(AWS_EBS_ALIAS, "")}
        keys = {k: replace(v) for k, v in r.kms.keys.items() if {k, v.arn} & used}
        kms = replace(r.kms, keys=keys)
        acct.regions[req.region] = Region(req.region, kms, ec2, asg, Trail(known=r.trail.known))
    return part


def _trim_org(org: Organization, accounts: set[str]) -> Organization:
    """``org`` with the tree, attachments and listings of only the paths from the root to ``accounts``: the
    doctor copies its world once per fix round, and the whole tree of a large organization would be copied each
    time. A policy type that some listing names stays named (its being enabled is read from the listings)."""
    targets = {t for a in accounts for t in org.path(a)}
    listed = {(k, t) for k, t in org.listed if t in targets}
    for kind in {k for k, _ in org.listed} - {k for k, _ in listed}:
        listed.add(min((k, t) for k, t in org.listed if k == kind))
    attachments = {t: list(org.attachments[t]) for t in targets if t in org.attachments}
    attached = {p for pids in attachments.values() for p in pids}
    return replace(
        org,
        parents={t: org.parents[t] for t in targets if t in org.parents},
        # Documents are shared, not copied (Document.__deepcopy__): the doctor replaces a document it changes.
        policies=dict(org.policies),
        attachments=attachments,
        listed=listed,
        listed_type={p: k for p, k in org.listed_type.items() if p in attached},
    )


def _trim_iam(iam: Iam, callers: list[str]) -> Iam:
    """``iam`` with only the users and roles among ``callers`` (by name), their groups and policies."""
    out = Iam(known=iam.known)
    arns: list[str] = []
    for arn in callers:
        p = parse_principal(arn)
        if p.type is PrincipalType.USER and p.name in iam.users:
            user = out.users[p.name] = replace(iam.users[p.name], inline=dict(iam.users[p.name].inline))
            arns += user.attached + ([user.boundary_arn] if user.boundary_arn else [])
            for g in user.groups:
                if g in iam.groups:
                    out.groups[g] = replace(iam.groups[g], inline=dict(iam.groups[g].inline))
                    arns += iam.groups[g].attached
        elif p.type is PrincipalType.ASSUMED_ROLE and p.name in iam.roles:
            role = out.roles[p.name] = replace(iam.roles[p.name], inline=dict(iam.roles[p.name].inline))
            arns += role.attached + ([role.boundary_arn] if role.boundary_arn else [])
    out.policies = {a: replace(iam.policies[a]) for a in arns if a in iam.policies}
    return out
