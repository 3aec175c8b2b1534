"""The LAUNCH options shared by ``simulate``, ``doctor`` and ``fix``, and loading the snapshot they run on."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from kmslaunch.cli.common import fail, read_json
from kmslaunch.launch.errors import NotInWorld
from kmslaunch.launch.replay import replay_instance
from kmslaunch.launch.request import LaunchRequest
from kmslaunch.launch.result import LaunchKind
from kmslaunch.policy.errors import KmslaunchError
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
        click.option("--start-instances", "start_id", metavar="ID", help="Start this stopped instance."),
        click.option(
            "--instance",
            "instance_id",
            metavar="ID",
            help="Replay how this instance was launched (caller and parameters from CloudTrail).",
        ),
        click.option("--asg", "group", metavar="NAME", help="Launch one instance of this Auto Scaling group."),
        click.option(
            "--fleet",
            "fleet",
            type=click.Choice(["ec2-fleet", "spot-fleet", "spot"]),
            help="With --run-instances: launch as EC2 Fleet, Spot Fleet or a Spot request would.",
        ),
        click.option("--as", "caller", metavar="ARN", help="Who calls (a user, role or session ARN)."),
        click.option("--source-ip", metavar="IP", help="The caller's IP address (aws:SourceIp of their requests)."),
        click.option("--account", metavar="ID", help="Account of the launch, where the snapshot holds several."),
        click.option("--region", metavar="REGION", help="Region of the launch, where the snapshot holds several."),
    ]
    for opt in reversed(options):
        f = opt(f)
    return f


def open_snapshot(path: Path) -> Snapshot:
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


def launch_request(
    world: World,
    *,
    run_file: Path | None,
    start_id: str | None,
    instance_id: str | None,
    group: str | None,
    fleet: str | None,
    caller: str | None,
    source_ip: str | None,
    account: str | None,
    region: str | None,
) -> LaunchRequest:
    chosen = [x for x in (run_file, start_id, instance_id, group) if x]
    if len(chosen) != 1:
        fail("say which launch to simulate with exactly one of --run-instances, --start-instances, --instance, --asg")
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
        if run_file:
            params = read_json(run_file)
            kind = {
                None: LaunchKind.RUN_INSTANCES,
                "ec2-fleet": LaunchKind.EC2_FLEET,
                "spot-fleet": LaunchKind.SPOT_FLEET,
                "spot": LaunchKind.SPOT,
            }[fleet]
            if kind is LaunchKind.RUN_INSTANCES and not caller:
                fail("--run-instances needs the caller: --as ARN")
            return LaunchRequest(kind, acct, reg, params, caller, source_ip, source=str(run_file))
        if start_id:
            inst = world.accounts[acct].region(reg).ec2.instances.get(start_id)
            who = caller or (inst.launched_by if inst else None)
            if not who:
                fail(f"who starts {start_id}? name the caller with --as")
            return LaunchRequest(
                LaunchKind.START_INSTANCES, acct, reg, caller=who, source_ip=source_ip, instance_id=start_id
            )
        if group:
            return LaunchRequest(LaunchKind.AUTO_SCALING, acct, reg, group=group)
        assert instance_id is not None
        return replay_instance(world, acct, reg, instance_id, caller, source_ip)
    except NotInWorld as exc:
        fail(str(exc))
