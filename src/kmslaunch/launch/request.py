"""One launch to simulate, whatever its kind, and the dispatch to the code that simulates it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kmslaunch.policy.model import Policy
from kmslaunch.world.clock import ReusedIds
from kmslaunch.world.world import World

from .copies import copy_image, copy_snapshot
from .fleets import create_fleet, request_spot_instances
from .params import parse_run_params
from .result import LaunchKind, LaunchResult
from .run import auto_scaling_launch, fleet_launch, run_instances, start_instances
from .volumes import attach_volume, create_volume

_EBS_OPERATIONS = {
    LaunchKind.CREATE_VOLUME: create_volume,
    LaunchKind.COPY_SNAPSHOT: copy_snapshot,
    LaunchKind.COPY_IMAGE: copy_image,
}


@dataclass(frozen=True)
class LaunchRequest:
    """``params`` are run-instances --cli-input-json for RunInstances, EC2 Fleet and Spot; ``group`` names the
    Auto Scaling group; ``instance_id`` the instance StartInstances starts (or AttachVolume attaches to).
    CreateVolume, CopySnapshot and CopyImage take ``params`` as their CLI's --cli-input-json; AttachVolume takes
    ``volume_id``, ``instance_id`` and ``device``. ``form`` says which CLI command ``params`` are for when the kind
    does not: ``create-fleet`` (CreateFleet of any Type) or ``request-spot-instances`` (a Spot request);
    otherwise run-instances. ``session_policies`` narrow the caller's role session."""

    kind: LaunchKind
    account: str
    region: str
    params: dict[str, Any] = field(default_factory=dict)
    caller: str | None = None
    source_ip: str | None = None
    group: str | None = None
    instance_id: str | None = None
    count: int = 1
    source: str = "launch parameters"
    volume_id: str | None = None
    device: str | None = None
    form: str = "run-instances"
    dry_run: bool = False
    session_policies: tuple[Policy, ...] = ()
    # Ids the launch gives what it creates, by EC2 prefix ("i", "vol"), in order: a replayed instance keeps its
    # own id and its volumes'. Everything else gets new ids.
    reuse_ids: tuple[tuple[str, tuple[str, ...]], ...] = ()


def simulate(world: World, req: LaunchRequest) -> LaunchResult:
    """Run the launch against the world (which it changes, as AWS would: instances, volumes, grants, trail)."""
    if req.caller and req.session_policies:
        world.session_policies[req.caller] = req.session_policies
    if not req.reuse_ids:
        return _simulate(world, req)
    ids = world.ids
    world.ids = ReusedIds(ids, {prefix: list(given) for prefix, given in req.reuse_ids})
    try:
        return _simulate(world, req)
    finally:
        world.ids = ids


def _simulate(world: World, req: LaunchRequest) -> LaunchResult:
    if req.kind is LaunchKind.AUTO_SCALING:
        assert req.group is not None
        return auto_scaling_launch(world, req.account, req.region, req.group, req.count)
    if req.kind is LaunchKind.START_INSTANCES:
        assert req.instance_id is not None and req.caller is not None
        return start_instances(world, req.account, req.region, req.instance_id, req.caller, source_ip=req.source_ip)
    if req.kind is LaunchKind.ATTACH_VOLUME:
        assert req.caller is not None and req.volume_id is not None and req.instance_id is not None
        return attach_volume(
            world,
            req.account,
            req.region,
            req.volume_id,
            req.instance_id,
            req.device,
            req.caller,
            req.source_ip,
            dry_run=req.dry_run,
        )
    if req.form == "create-fleet":
        return create_fleet(world, req.account, req.region, req.params, req.caller, req.source_ip, req.source)
    if req.form == "request-spot-instances":
        return request_spot_instances(world, req.account, req.region, req.params, req.caller, req.source_ip, req.source)
    ebs_operation = _EBS_OPERATIONS.get(req.kind)
    if ebs_operation is not None:
        assert req.caller is not None
        return ebs_operation(world, req.account, req.region, req.params, req.caller, req.source_ip)
    params = parse_run_params(req.params, req.source)
    if req.kind is LaunchKind.RUN_INSTANCES:
        assert req.caller is not None
        return run_instances(world, req.account, req.region, params, req.caller, source_ip=req.source_ip)
    return fleet_launch(world, req.account, req.region, params, req.kind)
