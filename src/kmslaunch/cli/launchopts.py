"""The LAUNCH options shared by ``simulate``, ``doctor`` and ``fix``, and loading the snapshot they run on."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from kmslaunch.cli.common import bundled, fail, read_json
from kmslaunch.launch.common import unknown_caller
from kmslaunch.launch.errors import NotInWorld
from kmslaunch.launch.replay import replay_instance
from kmslaunch.launch.request import LaunchRequest
from kmslaunch.launch.result import LaunchKind
from kmslaunch.launch.validate import validate_input
from kmslaunch.policy.errors import InputError, KmslaunchError
from kmslaunch.policy.model import Policy, PolicyType
from kmslaunch.policy.parse import parse_policy
from kmslaunch.policy.principals import PrincipalType, parse_principal
from kmslaunch.policy.requestfile import is_ip_address
from kmslaunch.snapshot.load import Snapshot, load_snapshot
from kmslaunch.world.world import World

F = TypeVar("F", bound=Callable[..., Any])


def launch_options(f: F) -> F:
    """Decorate a command with SNAPSHOT and the ways to say which launch to simulate."""
    options = [
        click.argument("snapshot", type=click.Path(path_type=Path, file_okay=False)),
        click.option(
            "--run-instances",
            "run_file",
            type=click.Path(path_type=Path, dir_okay=False),
            help="Launch with these parameters (a file as `aws ec2 run-instances --cli-input-json` takes).",
        ),
        click.option(
            "--create-fleet",
            "fleet_file",
            type=click.Path(path_type=Path, dir_okay=False),
            help="Create this EC2 Fleet (a file as `aws ec2 create-fleet --cli-input-json` takes): Type instant "
            "launches as the caller (--as), maintain and request as AWSServiceRoleForEC2Fleet.",
        ),
        click.option(
            "--request-spot-instances",
            "spot_file",
            type=click.Path(path_type=Path, dir_okay=False),
            help="Request these Spot Instances (a file as `aws ec2 request-spot-instances --cli-input-json` "
            "takes): launched as AWSServiceRoleForEC2Spot.",
        ),
        click.option(
            "--create-volume",
            "volume_file",
            type=click.Path(path_type=Path, dir_okay=False),
            help="Create this volume (a file as `aws ec2 create-volume --cli-input-json` takes), as --as.",
        ),
        click.option(
            "--attach-volume",
            "attach_file",
            type=click.Path(path_type=Path, dir_okay=False),
            help="Attach this volume (a file as `aws ec2 attach-volume --cli-input-json` takes), as --as.",
        ),
        click.option(
            "--copy-snapshot",
            "snapshot_copy_file",
            type=click.Path(path_type=Path, dir_okay=False),
            help="Copy this snapshot (a file as `aws ec2 copy-snapshot --cli-input-json` takes), as --as.",
        ),
        click.option(
            "--copy-image",
            "image_copy_file",
            type=click.Path(path_type=Path, dir_okay=False),
            help="Copy this AMI (a file as `aws ec2 copy-image --cli-input-json` takes), as --as.",
        ),
        click.option("--start-instances", "start_id", metavar="ID", help="Start this stopped instance."),
        click.option(
            "--instance",
            "instance_id",
            metavar="ID",
            help="Replay how this instance was launched (caller and parameters from CloudTrail).",
        ),
        click.option("--asg", "group", metavar="NAME", help="Launch one instance of this Auto Scaling group."),
        click.option(
            "--eks-nodegroup",
            "nodegroup",
            metavar="CLUSTER/NAME",
            help="Launch one instance of this EKS managed node group (its Auto Scaling group, found by the "
            "eks:cluster-name and eks:nodegroup-name tags EKS puts on it).",
        ),
        click.option(
            "--fleet",
            "fleet",
            type=click.Choice(["ec2-fleet", "spot-fleet", "spot"]),
            help="With --run-instances: launch as EC2 Fleet, Spot Fleet or a Spot request would.",
        ),
        click.option(
            "--as",
            "caller",
            metavar="ARN",
            help="Who calls (a user, role or session ARN); refused when the snapshot holds its account's IAM and no "
            "such user or role.",
        ),
        click.option(
            "--session-policy",
            "session_policy",
            type=click.Path(path_type=Path, dir_okay=False),
            help="The session policy of the --as role session (AssumeRole's Policy): it narrows the session's "
            "permissions. With --instance, taken from CloudTrail's AssumeRole record when not given.",
        ),
        click.option("--source-ip", metavar="IP", help="The caller's IP address (aws:SourceIp of their requests)."),
        click.option("--account", metavar="ID", help="Account of the launch, where the snapshot holds several."),
        click.option("--region", metavar="REGION", help="Region of the launch, where the snapshot holds several."),
    ]
    for opt in reversed(options):
        f = opt(f)
    return f


def open_snapshot(path: Path) -> Snapshot:
    path = bundled(path)
    if not path.exists():
        fail(f"{path}: no such snapshot directory")
    try:
        return load_snapshot(path)
    except KmslaunchError as exc:
        fail(str(exc))


def _only(values: list[str], what: str, flag: str) -> str:
    if len(values) == 1:
        return values[0]
    if not values:
        fail(f"the snapshot holds no {what}")
    fail(f"the snapshot holds several {what}s ({', '.join(sorted(values))}): choose one with {flag}")


def _accounts_for(world: World, group: str | None, instance: str | None, caller: str | None) -> list[str]:
    """The accounts a launch can be in: the one holding the group or instance, else the caller's."""
    accounts = sorted(world.accounts)
    if group:
        holding = [
            a for a in accounts if any(group in r.autoscaling.groups for r in world.accounts[a].regions.values())
        ]
        return holding or accounts
    if instance:
        holding = [a for a in accounts if any(instance in r.ec2.instances for r in world.accounts[a].regions.values())]
        return holding or accounts
    if caller and caller.count(":") >= 5 and caller.split(":")[4] in world.accounts:
        return [caller.split(":")[4]]
    return accounts


_FILE_FORMS = (
    # (option name, CLI command, kind): the LAUNCH options that take a --cli-input-json file, with a caller.
    ("run_file", "--run-instances", "run-instances", LaunchKind.RUN_INSTANCES),
    ("fleet_file", "--create-fleet", "create-fleet", LaunchKind.EC2_FLEET),
    ("spot_file", "--request-spot-instances", "request-spot-instances", LaunchKind.SPOT),
    ("volume_file", "--create-volume", "create-volume", LaunchKind.CREATE_VOLUME),
    ("attach_file", "--attach-volume", "attach-volume", LaunchKind.ATTACH_VOLUME),
    ("snapshot_copy_file", "--copy-snapshot", "copy-snapshot", LaunchKind.COPY_SNAPSHOT),
    ("image_copy_file", "--copy-image", "copy-image", LaunchKind.COPY_IMAGE),
)
_FLEETS = {"ec2-fleet": LaunchKind.EC2_FLEET, "spot-fleet": LaunchKind.SPOT_FLEET, "spot": LaunchKind.SPOT}
_ALL_FORMS = ", ".join(
    [flag for _, flag, _, _ in _FILE_FORMS] + ["--start-instances", "--instance", "--asg", "--eks-nodegroup"]
)


def _nodegroup(world: World, spec: str, account: str | None) -> tuple[str, str]:
    """The (account, Auto Scaling group) EKS made for managed node group CLUSTER/NAME."""
    cluster, _, name = spec.partition("/")
    if not cluster or not name:
        fail(f"--eks-nodegroup {spec}: expected CLUSTER/NAME (the cluster and the managed node group)")
    found = [
        (a, g.name)
        for a, acct in sorted(world.accounts.items())
        if account in (None, a)
        for r in acct.regions.values()
        for g in r.autoscaling.groups.values()
        if g.eks_nodegroup == (cluster, name)
    ]
    if not found:
        fail(
            f"--eks-nodegroup {spec}: no Auto Scaling group in the snapshot carries the tags "
            f"eks:cluster-name={cluster} and eks:nodegroup-name={name}"
        )
    return found[0]


def _check_session_caller(caller: str | None, caller_from_snapshot: bool) -> None:
    """A session policy narrows a role session or a federated user
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies.html#policies_session): refuse it for a
    user, and when no caller is named (a service launches as its own role)."""
    if not caller:
        if caller_from_snapshot:
            return
        fail("--session-policy narrows the caller's role session: name the session with --as")
    try:
        kind = parse_principal(caller).type
    except ValueError:
        return  # unknown_caller has said what is wrong with it
    if kind not in (PrincipalType.ASSUMED_ROLE, PrincipalType.FEDERATED_USER):
        fail(f"--session-policy: {caller} is not a role session or federated user, which session policies narrow")


def _session_policies(path: Path | None) -> tuple[Policy, ...]:
    if path is None:
        return ()
    try:
        return (parse_policy(read_json(path), PolicyType.SESSION, path.name, source=str(path)),)
    except KmslaunchError as exc:
        fail(f"{path}: {exc}")


def launch_request(
    world: World,
    *,
    run_file: Path | None,
    fleet_file: Path | None,
    spot_file: Path | None,
    volume_file: Path | None,
    attach_file: Path | None,
    snapshot_copy_file: Path | None,
    image_copy_file: Path | None,
    start_id: str | None,
    instance_id: str | None,
    group: str | None,
    nodegroup: str | None,
    fleet: str | None,
    caller: str | None,
    session_policy: Path | None,
    source_ip: str | None,
    account: str | None,
    region: str | None,
) -> LaunchRequest:
    """The launch the LAUNCH options name; bad input fails with exit status 2 and says what is wrong."""
    files = {
        "run_file": run_file,
        "fleet_file": fleet_file,
        "spot_file": spot_file,
        "volume_file": volume_file,
        "attach_file": attach_file,
        "snapshot_copy_file": snapshot_copy_file,
        "image_copy_file": image_copy_file,
    }
    chosen = [x for x in (*files.values(), start_id, instance_id, group, nodegroup) if x]
    if len(chosen) != 1:
        fail(f"say which launch to simulate with exactly one of {_ALL_FORMS}")
    if fleet and not run_file:
        fail("--fleet goes with --run-instances (for CreateFleet use --create-fleet FILE)")
    if source_ip is not None and not is_ip_address(source_ip):
        fail(f"--source-ip {source_ip}: not an IP address (expected e.g. 203.0.113.10 or 2001:db8::1)")
    if caller:
        why = unknown_caller(world, caller)
        if why:
            fail(why)
    policies = _session_policies(session_policy)
    if policies:
        _check_session_caller(caller, start_id is not None or instance_id is not None)
    if nodegroup:
        acct_of_group, group = _nodegroup(world, nodegroup, account)
        account = account or acct_of_group
    acct = account or _only(_accounts_for(world, group, instance_id or start_id, caller), "account", "--account")
    if acct not in world.accounts:
        fail(f"account {acct} is not in the snapshot")
    regions = sorted(world.accounts[acct].regions)
    if region is None and (group or instance_id or start_id):
        holding = [
            r
            for r in regions
            if (group and group in world.accounts[acct].regions[r].autoscaling.groups)
            or ((instance_id or start_id) in world.accounts[acct].regions[r].ec2.instances)
        ]
        regions = holding or regions
    reg = region or _only(regions, "region", "--region")
    try:
        for name, flag, command, kind in _FILE_FORMS:
            path = files[name]
            if path is None:
                continue
            params = read_json(path)
            try:
                validate_input(command, params, str(path))
            except InputError as exc:
                fail(str(exc))
            return _file_request(
                kind, command, flag, params, str(path), fleet, caller, policies, source_ip, (acct, reg)
            )
        if start_id:
            inst = world.accounts[acct].region(reg).ec2.instances.get(start_id)
            who = caller or (inst.launched_by if inst else None)
            if not who:
                fail(f"who starts {start_id}? name the caller with --as")
            return LaunchRequest(
                LaunchKind.START_INSTANCES,
                acct,
                reg,
                caller=who,
                source_ip=source_ip,
                instance_id=start_id,
                session_policies=policies,
            )
        if group:
            return LaunchRequest(LaunchKind.AUTO_SCALING, acct, reg, group=group)
        assert instance_id is not None
        req = replay_instance(world, acct, reg, instance_id, caller, source_ip)
        return dataclasses.replace(req, session_policies=policies) if policies else req
    except (NotInWorld, KmslaunchError) as exc:
        fail(str(exc))


def _file_request(
    kind: LaunchKind,
    command: str,
    flag: str,
    params: dict[str, Any],
    source: str,
    fleet: str | None,
    caller: str | None,
    policies: tuple[Policy, ...],
    source_ip: str | None,
    where: tuple[str, str],
) -> LaunchRequest:
    acct, reg = where
    form = command if command in ("create-fleet", "request-spot-instances") else "run-instances"
    if command == "run-instances" and fleet:
        kind = _FLEETS[fleet]
    if command == "create-fleet" and params.get("Type") == "instant":
        kind = LaunchKind.CREATE_FLEET
    if not caller and kind not in (LaunchKind.EC2_FLEET, LaunchKind.SPOT_FLEET, LaunchKind.SPOT):
        fail(f"{flag} needs the caller: --as ARN")
    extra: dict[str, Any] = {}
    if kind is LaunchKind.ATTACH_VOLUME:
        extra = {
            "volume_id": params.get("VolumeId"),
            "instance_id": params.get("InstanceId"),
            "device": params.get("Device"),
            "dry_run": params.get("DryRun") is True,
        }
    return LaunchRequest(
        kind,
        acct,
        reg,
        params,
        caller,
        source_ip,
        source=source,
        form=form,
        session_policies=policies,
        **extra,
    )
