"""Collection from live AWS into the snapshot layout: accounts (one session each), their regions, and the
organization as the management account sees it.

The work is a set of small tasks (one call or a few), run by a small thread pool per account so that calls stay
well inside AWS's request rates; a task may add tasks (listing the keys adds one per key). Files are kept in
memory and written at the end, every path checked to stay inside the output directory.
"""

from __future__ import annotations

import re
import sys
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import click
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError, ProfileNotFound

from kmslaunch import __version__
from kmslaunch.policy.errors import KmslaunchError
from kmslaunch.snapshot import layout as L
from kmslaunch.snapshot.jsonio import dumps
from kmslaunch.world.organizations import RCP, SCP

from .calls import Caller, CallFailed, Stats, client_config, count_calls

Task = Callable[[], "list[Task]"]
Files = dict[tuple[str, ...], Any]

ROLE_ARN_RE = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}):role/[\w+=,.@/-]+$")
# Collect CloudTrail events of these kinds: the KMS calls a launch makes, and who launched instances.
TRAIL_LOOKUPS = (("EventSource", "kms.amazonaws.com"), ("EventName", "RunInstances"))


class CollectError(KmslaunchError):
    """Bad input or credentials: nothing was collected."""


def new_session(**kwargs: Any) -> Any:
    """A boto3 session (the standard credential chain, or the keys given); tests replace this to add hooks."""
    # Imported here: only collect needs boto3, the other commands run without it.
    try:
        import boto3  # type: ignore[import-untyped]  # noqa: PLC0415 - boto3 ships no type information
    except ImportError as exc:
        raise KmslaunchError("kmslaunch collect needs boto3: pip install 'kmslaunch[collect]'") from exc
    return boto3.session.Session(**kwargs)


@dataclass(frozen=True)
class Target:
    """One account to collect, with the session that reads it."""

    account: str
    session: Any
    role_arn: str | None = None


@dataclass
class Result:
    out: Path
    written: list[Path]
    errors: list[dict[str, str]]
    stats: Stats
    accounts: list[str]


@dataclass
class _Run:
    """What the tasks share: the files so far, the errors, the clients."""

    caller: Caller
    endpoint_url: str | None
    max_attempts: int = 10
    files: Files = field(default_factory=dict)
    errors: list[dict[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    clients: dict[tuple[int, str, str], Any] = field(default_factory=dict)

    def client(self, target: Target, service: str, region: str) -> Any:
        # Sessions are not thread-safe; clients are: create them one at a time, then share them.
        with self.lock:
            k = (id(target.session), service, region)
            if k not in self.clients:
                c = target.session.client(
                    service, region_name=region, endpoint_url=self.endpoint_url, config=client_config(self.max_attempts)
                )
                self.clients[k] = count_calls(c, self.caller.stats)
            return self.clients[k]

    def put(self, parts: tuple[str, ...], data: Any) -> None:
        with self.lock:
            self.files[parts] = data

    def record(self, exc: CallFailed, target: str, parts: tuple[str, ...] | None) -> None:
        service, _, api = exc.call.partition(":")
        entry = {"call": exc.call, "target": target, "command": f"aws {service} {_kebab(api)}"}
        if parts:
            entry["file"] = "/".join(parts)
        entry.update({"code": exc.code, "message": exc.message})
        with self.lock:
            self.errors.append(entry)

    def fetch(
        self, parts: tuple[str, ...] | None, target: str, make: Callable[[], Any], *, write: bool = True
    ) -> Any | None:
        """Run one call; its result written at ``parts`` (unless not ``write``); a refusal recorded with the file
        it leaves out, None returned."""
        try:
            data = make()
        except CallFailed as exc:
            self.record(exc, target, parts)
            return None
        if parts is not None and write:
            self.put(parts, data)
        return data


def _kebab(api: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", api).lower()


def _safe(name: object) -> bool:
    return isinstance(name, str) and bool(L.SAFE_NAME_RE.match(name)) and name not in (".", "..")


def check_out(out: Path, force: bool) -> None:
    """OUT must be missing or an empty directory, unless ``force``: nothing the user had is overwritten."""
    if out.exists() and not out.is_dir():
        raise CollectError(f"{out}: exists and is not a directory")
    if out.is_dir() and not force and any(out.iterdir()):
        raise CollectError(f"{out}: is not empty: refusing to write over what is there (pass --force)")


def _session(profile: str | None) -> Any:
    try:
        return new_session(profile_name=profile) if profile else new_session()
    except ProfileNotFound as exc:
        raise CollectError(
            f"--profile {profile}: no such profile in the AWS CLI's config and credentials files"
        ) from exc


def open_targets(
    profile: str | None, regions: Sequence[str], role_arns: Sequence[str], endpoint_url: str | None
) -> tuple[list[Target], str]:
    """The sessions to collect with, and the partition; CollectError when credentials or roles do not work."""
    try:
        base = _session(profile)
        sts = base.client("sts", region_name=regions[0], endpoint_url=endpoint_url, config=client_config(3))
        me = sts.get_caller_identity()
    except EndpointConnectionError as exc:
        # Not the credentials' fault: nothing answered.
        raise CollectError(f"could not connect to {endpoint_url or exc.kwargs.get('endpoint_url')}") from exc
    except (BotoCoreError, ClientError) as exc:
        raise CollectError(f"cannot use the AWS credentials: {exc}") from exc
    partition = str(me["Arn"]).split(":")[1]
    if not role_arns:
        return [Target(str(me["Account"]), base)], partition
    targets: list[Target] = []
    for arn in role_arns:
        m = ROLE_ARN_RE.match(arn)
        if not m:
            raise CollectError(f"--role-arn {arn!r} is not a role ARN (arn:aws:iam::<account>:role/<name>)")
        if any(t.account == m.group(1) for t in targets):
            raise CollectError(f"--role-arn: two roles for account {m.group(1)}")
        try:
            creds = sts.assume_role(RoleArn=arn, RoleSessionName="kmslaunch-collect")["Credentials"]
        except (BotoCoreError, ClientError) as exc:
            raise CollectError(f"cannot assume {arn}: {exc}") from exc
        session = new_session(
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
            region_name=regions[0],
        )
        targets.append(Target(m.group(1), session, arn))
    return targets, partition


def collect(
    out: Path,
    *,
    profile: str | None = None,
    regions: Sequence[str] = (),
    role_arns: Sequence[str] = (),
    endpoint_url: str | None = None,
    force: bool = False,
    workers: int = 4,
    page_size: int | None = None,
    max_events: int = 1000,
    max_attempts: int = 10,
    progress: bool = False,
    caller: Caller | None = None,
) -> Result:
    """Collect the accounts (the caller's, or one per ``role_arns``) in ``regions`` into ``out``.

    ``max_attempts`` is botocore's (standard retry mode: throttling, 5xx and connection errors); throttling that
    outlasts it is retried again by ``Caller``."""
    out = Path(out)
    check_out(out, force)
    regions = list(regions)
    for r in regions:
        if not L.REGION_RE.match(r):
            raise CollectError(f"--regions: {r!r} is not a region name")
    if not regions:
        default = _session(profile).region_name
        if not default:
            raise CollectError("no region: pass --regions or configure a default region")
        regions = [default]
    targets, partition = open_targets(profile, regions, role_arns, endpoint_url)
    run = _Run(caller or Caller(Stats(), page_size=page_size), endpoint_url, max_attempts)
    started = datetime.now(UTC)
    bar = click.progressbar(length=0, label="collecting", file=sys.stderr) if progress else None
    try:
        for t in targets:
            tasks = _account_tasks(run, t, regions, max_events)
            _run_tasks(tasks, workers, bar)
            _run_tasks([partial(_referenced_images, run, t, r) for r in regions], workers, bar)
        _run_tasks([lambda: _organization(run, targets)], 1, bar)
    finally:
        if bar is not None:
            bar.render_finish()
    errors = sorted(run.errors, key=lambda e: (e.get("file", ""), e["call"], e["target"]))
    meta: dict[str, Any] = {
        "format": L.FORMAT,
        "collected_at": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "partition": partition,
        "errors": errors,
        "collector": {
            "tool": f"kmslaunch {__version__} collect",
            "accounts": [t.account for t in targets],
            "regions": regions,
            "calls": run.caller.stats.calls,
            "retries": run.caller.stats.retries,
        },
    }
    run.files[(L.META,)] = meta
    written = write_files(out, run.files, [t.account for t in targets])
    return Result(out, written, errors, run.caller.stats, [t.account for t in targets])


def write_files(out: Path, files: Files, accounts: Sequence[str]) -> list[Path]:
    """Write every file under ``out``; a path that would resolve outside it is refused before anything is
    written."""
    out.mkdir(parents=True, exist_ok=True)
    base = out.resolve()
    targets = []
    for parts in sorted(files):
        target = out.joinpath(*parts)
        if not target.resolve().is_relative_to(base) or any(p in ("", ".", "..") for p in parts):
            raise CollectError(f"{target}: resolves outside {out}: refusing to write it")
        targets.append((target, files[parts]))
    for account in accounts:
        (out / account).mkdir(exist_ok=True)  # an account with nothing readable is still listed
    written = []
    for target, data in targets:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(dumps(data), encoding="utf-8", newline="\n")
        written.append(target)
    return written


def _run_tasks(tasks: list[Task], workers: int, bar: Any) -> None:
    if bar is not None:
        bar.length += len(tasks)
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="collect") as pool:
        pending: set[Future[list[Task]]] = {pool.submit(t) for t in tasks}
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for f in done:
                more = f.result()
                if bar is not None:
                    bar.length += len(more)
                    bar.update(1)
                pending |= {pool.submit(t) for t in more}


# -- an account ---------------------------------------------------------------------------------------------------


def _account_tasks(run: _Run, t: Target, regions: Sequence[str], max_events: int) -> list[Task]:
    a = t.account
    c = run.caller

    def iam() -> list[Task]:
        client = run.client(t, "iam", regions[0])
        run.fetch(
            (a, *L.IAM_DETAILS.split("/")),
            f"account {a}",
            lambda: c.paginate(client, "get_account_authorization_details"),
        )
        return []

    tasks: list[Task] = [iam]
    for region in regions:
        tasks += _region_tasks(run, t, region, max_events)
    return tasks


def _region_tasks(run: _Run, t: Target, region: str, max_events: int) -> list[Task]:
    a, c = t.account, run.caller
    where = f"account {a} {region}"

    def rel(path: str) -> tuple[str, ...]:
        return (a, region, *path.split("/"))

    def simple(path: str, service: str, op: str, paged: bool = True, **params: Any) -> Task:
        def task() -> list[Task]:
            client = run.client(t, service, region)
            run.fetch(
                rel(path),
                where,
                lambda: c.paginate(client, op, **params) if paged else c.call(client, op, **params),
            )
            return []

        return task

    def kms_keys() -> list[Task]:
        client = run.client(t, "kms", region)
        listed = run.fetch(None, where, lambda: c.paginate(client, "list_keys"))
        if listed is None:
            return []
        return [_key_task(run, t, region, k["KeyId"]) for k in listed.get("Keys", []) if _safe(k.get("KeyId"))]

    def images() -> list[Task]:
        client = run.client(t, "ec2", region)
        # The account's own images and those it may launch (shared with it), as two describe-images calls.
        return _merged(
            run,
            rel(L.EC2_IMAGES),
            where,
            "Images",
            "ImageId",
            [
                lambda: c.paginate(client, "describe_images", Owners=["self"]),
                lambda: c.paginate(client, "describe_images", ExecutableUsers=["self"]),
            ],
        )

    def snapshots() -> list[Task]:
        client = run.client(t, "ec2", region)
        return _merged(
            run,
            rel(L.EC2_SNAPSHOTS),
            where,
            "Snapshots",
            "SnapshotId",
            [
                lambda: c.paginate(client, "describe_snapshots", OwnerIds=["self"]),
                lambda: c.paginate(client, "describe_snapshots", RestorableByUserIds=["self"]),
            ],
        )

    def templates() -> list[Task]:
        client = run.client(t, "ec2", region)
        listed = run.fetch(rel(L.EC2_TEMPLATES), where, lambda: c.paginate(client, "describe_launch_templates"))
        if listed is None:
            return []
        return [
            _template_task(run, t, region, lt["LaunchTemplateId"])
            for lt in listed.get("LaunchTemplates", [])
            if _safe(lt.get("LaunchTemplateId"))
        ]

    def ebs_defaults() -> list[Task]:
        client = run.client(t, "ec2", region)
        run.fetch(rel(L.EBS_BY_DEFAULT), where, lambda: c.call(client, "get_ebs_encryption_by_default"))
        run.fetch(rel(L.EBS_DEFAULT_KEY), where, lambda: c.call(client, "get_ebs_default_kms_key_id"))
        return []

    def trail() -> list[Task]:
        client = run.client(t, "cloudtrail", region)
        return _merged(
            run,
            rel(L.TRAIL_EVENTS),
            where,
            "Events",
            "EventId",
            [
                partial(
                    c.paginate,
                    client,
                    "lookup_events",
                    max_items=max_events,
                    LookupAttributes=[{"AttributeKey": k, "AttributeValue": v}],
                )
                for k, v in TRAIL_LOOKUPS
            ],
            newest_first="EventTime",
        )

    return [
        simple(L.KMS_ALIASES, "kms", "list_aliases"),
        kms_keys,
        simple(L.EC2_INSTANCES, "ec2", "describe_instances"),
        images,
        snapshots,
        simple(L.EC2_VOLUMES, "ec2", "describe_volumes"),
        simple(L.EC2_VPC_ENDPOINTS, "ec2", "describe_vpc_endpoints"),
        templates,
        ebs_defaults,
        simple(L.ASG_GROUPS, "autoscaling", "describe_auto_scaling_groups"),
        simple(L.ASG_CONFIGURATIONS, "autoscaling", "describe_launch_configurations"),
        simple(L.ASG_ACTIVITIES, "autoscaling", "describe_scaling_activities"),
        trail,
    ]


def referenced_image_ids(files: Files, account: str, region: str) -> list[str]:
    """The AMIs the account's instances, launch templates and launch configurations use, as collected."""
    base = (account, region)
    found: set[str] = set()
    instances = files.get((*base, *L.EC2_INSTANCES.split("/"))) or {}
    for r in instances.get("Reservations", []):
        found.update(str(i.get("ImageId")) for i in r.get("Instances", []) if i.get("ImageId"))
    folder = (*base, *L.EC2_TEMPLATE_VERSIONS.split("/"))
    for parts, doc in files.items():
        if parts[: len(folder)] == folder:
            for v in (doc or {}).get("LaunchTemplateVersions", []):
                image = (v.get("LaunchTemplateData") or {}).get("ImageId")
                if isinstance(image, str) and image.startswith("ami-"):
                    found.add(image)  # resolve:ssm: parameters name no AMI until launch
    configs = files.get((*base, *L.ASG_CONFIGURATIONS.split("/"))) or {}
    found.update(str(c.get("ImageId")) for c in configs.get("LaunchConfigurations", []) if c.get("ImageId"))
    return sorted(found)


def _referenced_images(run: _Run, t: Target, region: str) -> list[Task]:
    """Amazon's, Marketplace and community AMIs are public: the account's own describe-images calls do not list
    them, yet they are what EKS, Karpenter and most launch templates launch. Describe each AMI the account uses
    that is not listed yet, by an image-id filter (a deregistered one is then simply absent, not an error)."""
    parts = (t.account, region, *L.EC2_IMAGES.split("/"))
    listed = run.files.get(parts)
    if listed is None:
        return []  # describe-images itself was refused: the images stay unknown
    have = {str(i.get("ImageId")) for i in listed.get("Images", [])}
    missing = [i for i in referenced_image_ids(run.files, t.account, region) if i not in have]
    if not missing:
        return []
    client = run.client(t, "ec2", region)
    images = list(listed.get("Images", []))
    for start in range(0, len(missing), 200):
        chunk = missing[start : start + 200]
        got = run.fetch(
            parts,
            f"account {t.account} {region}",
            partial(run.caller.paginate, client, "describe_images", Filters=[{"Name": "image-id", "Values": chunk}]),
            write=False,
        )
        images += (got or {}).get("Images", [])
    run.put(parts, {"Images": images})
    return []


def _merged(
    run: _Run,
    parts: tuple[str, ...],
    where: str,
    list_key: str,
    id_key: str,
    calls: list[Callable[[], Any]],
    newest_first: str | None = None,
) -> list[Task]:
    """Several calls whose lists make one file (the CLI would need two commands): merged, each item once.

    When one call is refused the file is still written from the others; the refusal is recorded, so the loader
    says that part is unknown."""
    items: dict[str, Any] = {}
    any_ok = False
    for make in calls:
        got = run.fetch(parts, where, make, write=False)
        if got is None:
            continue
        any_ok = True
        for item in got.get(list_key, []):
            items.setdefault(str(item.get(id_key)), item)
    if any_ok:
        listed = list(items.values())
        if newest_first:
            listed.sort(key=lambda e: str(e.get(newest_first, "")), reverse=True)
        run.put(parts, {list_key: listed})
    return []


def _key_task(run: _Run, t: Target, region: str, key_id: str) -> Task:
    a, c = t.account, run.caller

    def task() -> list[Task]:
        client = run.client(t, "kms", region)
        folder = (a, region, *L.KMS_KEYS.split("/"), key_id)
        described = run.fetch(
            (*folder, L.DESCRIBE_KEY),
            f"key {key_id} in {a} {region}",
            lambda: c.call(client, "describe_key", KeyId=key_id),
        )
        arn = (described or {}).get("KeyMetadata", {}).get("Arn") or f"key {key_id} in {a} {region}"
        run.fetch(
            (*folder, L.KEY_POLICY), arn, lambda: c.call(client, "get_key_policy", KeyId=key_id, PolicyName="default")
        )
        run.fetch((*folder, L.LIST_GRANTS), arn, lambda: c.paginate(client, "list_grants", KeyId=key_id))
        return []

    return task


def _template_task(run: _Run, t: Target, region: str, template_id: str) -> Task:
    a, c = t.account, run.caller

    def task() -> list[Task]:
        client = run.client(t, "ec2", region)
        run.fetch(
            (a, region, *L.EC2_TEMPLATE_VERSIONS.split("/"), f"{template_id}.json"),
            f"launch template {template_id} in {a} {region}",
            lambda: c.paginate(client, "describe_launch_template_versions", LaunchTemplateId=template_id),
        )
        return []

    return task


# -- the organization -----------------------------------------------------------------------------------------


def _organization(run: _Run, targets: Sequence[Target]) -> list[Task]:
    """The organization as its management account sees it; a member's view when no target is the management
    account (then the root, parents and policies are refused and recorded)."""
    c = run.caller
    chosen: Target | None = None
    described: Any = None
    last: CallFailed | None = None
    for t in targets:
        client = run.client(t, "organizations", "us-east-1")
        try:
            got = c.call(client, "describe_organization")
        except CallFailed as exc:
            if exc.code == L.NOT_IN_ORG:
                run.record(exc, f"account {t.account}", tuple(L.ORG_DESCRIBE.split("/")))
                return []
            last = exc
            continue
        if chosen is None or got.get("Organization", {}).get("MasterAccountId") == t.account:
            chosen, described = t, got
        if got.get("Organization", {}).get("MasterAccountId") == t.account:
            break
    if chosen is None:
        if last is not None:
            run.record(last, "organization", tuple(L.ORG_DESCRIBE.split("/")))
        return []
    run.put(tuple(L.ORG_DESCRIBE.split("/")), described)
    client = run.client(chosen, "organizations", "us-east-1")
    roots = run.fetch(tuple(L.ORG_ROOTS.split("/")), "organization", lambda: c.paginate(client, "list_roots"))
    if not roots or not roots.get("Roots"):
        return []
    root = roots["Roots"][0]
    kinds = [
        p["Type"] for p in root.get("PolicyTypes", []) if p.get("Status") == "ENABLED" and p.get("Type") in (SCP, RCP)
    ]
    target_ids: list[str] = [root["Id"]]
    seen: set[str] = set()
    for t in targets:
        child = t.account
        while child not in seen and _safe(child):
            seen.add(child)
            got = run.fetch(
                (*L.ORG_PARENTS.split("/"), f"{child}.json"),
                child,
                partial(c.paginate, client, "list_parents", ChildId=child),
            )
            parents = (got or {}).get("Parents", [])
            if not parents:
                break
            target_ids.append(child)
            parent = parents[0]
            if parent.get("Type") == "ROOT":
                break
            child = str(parent.get("Id"))
    policy_ids: set[str] = set()
    for target in dict.fromkeys(target_ids):
        for kind in kinds:
            got = run.fetch(
                None,
                target,
                partial(c.paginate, client, "list_policies_for_target", TargetId=target, Filter=kind),
            )
            policies = (got or {}).get("Policies", [])
            if policies and _safe(target):
                run.put((*L.ORG_TARGET_POLICIES.split("/"), kind, f"{target}.json"), {"Policies": policies})
                policy_ids |= {p["Id"] for p in policies if _safe(p.get("Id"))}
    for pid in sorted(policy_ids):
        run.fetch(
            (*L.ORG_POLICY.split("/"), f"{pid}.json"),
            pid,
            partial(c.call, client, "describe_policy", PolicyId=pid),
        )
    return []
