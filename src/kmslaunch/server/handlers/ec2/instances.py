"""Instances and their lifecycle: RunInstances, DescribeInstances, StartInstances, StopInstances and
TerminateInstances. Launches and starts go through the launch path; stops and terminations follow the instance
state machine (``kmslaunch.world.instances``)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from kmslaunch.launch.params import parse_run_params
from kmslaunch.launch.run import run_instances, start_instances
from kmslaunch.launch.views import instance_json
from kmslaunch.policy.errors import InputError
from kmslaunch.server.tracking import read_only_values
from kmslaunch.world.ec2 import Ec2, Instance
from kmslaunch.world.instances import IncorrectInstanceState, InstanceEvent, InstanceState, transition

from ..base import ApiError, Ctx, Handler, required
from .common import api_error, arn, ec2_of, filters, launch_path, matches, not_found, select, wire

USER_INITIATED = {
    "Code": "Client.UserInitiatedShutdown",
    "Message": "Client.UserInitiatedShutdown: User initiated shutdown",
}
# Each state change requested of instances: the action authorized, the answer's member, and the past participle
# of IncorrectInstanceState ("… from which it can be stopped.").
_CHANGES = {
    InstanceEvent.START: ("ec2:StartInstances", "StartingInstances", "started"),
    InstanceEvent.STOP: ("ec2:StopInstances", "StoppingInstances", "stopped"),
    InstanceEvent.TERMINATE: ("ec2:TerminateInstances", "TerminatingInstances", "terminated"),
}


# -- Launches and DescribeInstances --------------------------------------------------------------------------------


def _reservation_id(instance_id: str) -> str:
    """The world keeps no reservations: one derived from the first instance's id, as snapshot/save.py does, so
    that the id is the same after a restart and in an exported snapshot."""
    return "r-0" + hashlib.sha256(instance_id.encode()).hexdigest()[:16]


def _as_launched(inst: Instance, ec2: Ec2) -> dict[str, Any]:
    """An instance as RunInstances answers: pending, whatever happened next (the KMS calls come after the API
    call has answered, https://repost.aws/knowledge-center/ec2-instance-terminating)."""
    out = instance_json(inst, ec2)
    out["State"] = _state(InstanceState.PENDING)
    out["StateTransitionReason"] = ""
    out.pop("StateReason", None)
    out["BlockDeviceMappings"] = []
    if inst.client_token:
        out["ClientToken"] = inst.client_token
    return out


def _reservation(
    ctx: Ctx, instances: list[Instance], view: Callable[[Instance, Ec2], dict[str, Any]]
) -> dict[str, Any]:
    ec2 = ec2_of(ctx)
    out: dict[str, Any] = wire(
        {
            "ReservationId": _reservation_id(instances[0].instance_id),
            "OwnerId": ctx.account,
            "Groups": [],
            "Instances": [view(i, ec2) for i in instances],
        }
    )
    return out


def run_instances_handler(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    # The launch path authorizes ec2:RunInstances itself; authorizing here first makes a refusal come back as
    # EC2's UnauthorizedOperation from the endpoint's own check, with the verified caller's context.
    ctx.authorize("ec2:RunInstances", arn(ctx, "instance/*"))
    try:
        run = parse_run_params(params, "RunInstances")
    except InputError as exc:
        raise api_error(exc) from exc
    ec2 = ec2_of(ctx)
    if run.client_token:
        # Idempotency (https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-idempotency.html): the same token
        # returns the first launch's reservation and launches nothing.
        earlier = [i for i in read_only_values(ec2.instances) if i.client_token == run.client_token]
        if earlier:
            if run.image_id and any(i.image_id != run.image_id for i in earlier):
                raise ApiError(
                    "IdempotentParameterMismatch",
                    f"The client token '{run.client_token}' was used with different parameters.",
                )
            return _reservation(ctx, earlier, _as_launched)
    result = launch_path(
        ctx,
        "RunInstances",
        lambda: run_instances(
            ctx.world,
            ctx.account,
            ctx.region,
            run,
            ctx.caller.arn,
            source_ip=ctx.source_ip,
            user_agent=ctx.user_agent,
        ),
    )
    return _reservation(ctx, [ec2.instances[i] for i in result.instance_ids], _as_launched)


def _instance_values(inst: Instance) -> dict[str, list[str]]:
    values = {
        "instance-id": [inst.instance_id],
        "instance-state-name": [inst.state.label],
        "instance-state-code": [str(inst.state.code)],
        "image-id": [inst.image_id],
        "instance-type": [inst.instance_type],
        "availability-zone": [inst.availability_zone],
        "client-token": [inst.client_token or ""],
        "state-reason-code": [inst.state_reason["Code"]] if inst.state_reason else [],
        "tag-key": list(inst.tags),
    }
    for k, v in inst.tags.items():
        values[f"tag:{k}"] = [v]
    return values


def _instance_not_found(missing: list[str]) -> ApiError:
    return not_found("InvalidInstanceID.NotFound", "instance", missing)


def describe_instances(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    ctx.authorize("ec2:DescribeInstances", "*")
    chosen = select(params, "InstanceIds", ec2_of(ctx).instances, _instance_not_found)
    wanted = filters(params)
    # One reservation per launch: instances of one RunInstances share its client token.
    groups: dict[str, list[Instance]] = {}
    for inst in chosen:
        if matches(_instance_values(inst), wanted):
            groups.setdefault(inst.client_token or inst.instance_id, []).append(inst)
    return {"Reservations": [_reservation(ctx, group, instance_json) for group in groups.values()]}


# -- Start, stop, terminate ----------------------------------------------------------------------------------------


def _state(s: InstanceState) -> dict[str, Any]:
    return {"Code": s.code, "Name": s.label}


def _change_states(
    ctx: Ctx, params: dict[str, Any], event: InstanceEvent, step: Callable[[Ctx, Instance], InstanceState]
) -> dict[str, Any]:
    """One state change of every instance the request names: authorized on each, all or nothing (EC2 refuses the
    whole request when one instance cannot make the transition), then ``step`` for each, which answers the state
    the API reports."""
    action, member, done = _CHANGES[event]
    ids = [str(i) for i in required(ctx, params, "InstanceIds")]
    for i in ids:
        ctx.authorize(action, arn(ctx, f"instance/{i}"))
    ec2 = ec2_of(ctx)
    missing = [i for i in ids if i not in ec2.instances]
    if missing:
        raise _instance_not_found(missing)
    instances = [ec2.instances[i] for i in ids]
    for inst in instances:
        try:
            transition(inst.instance_id, inst.state, event)
        except IncorrectInstanceState as exc:
            raise ApiError(
                exc.code, f"The instance '{inst.instance_id}' is not in a state from which it can be {done}."
            ) from exc
    out = []
    for inst in instances:
        before = inst.state
        answered = step(ctx, inst)
        out.append({"InstanceId": inst.instance_id, "CurrentState": _state(answered), "PreviousState": _state(before)})
    ctx.changed = True
    return {member: out}


def _user_initiated(ctx: Ctx, inst: Instance) -> None:
    inst.state_transition_reason = f"User initiated ({ctx.world.clock.now():%Y-%m-%d %H:%M:%S} GMT)"
    inst.state_reason = dict(USER_INITIATED)


def _start(ctx: Ctx, inst: Instance) -> InstanceState:
    before = inst.state
    launch_path(
        ctx,
        "StartInstances",
        lambda: start_instances(
            ctx.world,
            ctx.account,
            ctx.region,
            inst.instance_id,
            ctx.caller.arn,
            source_ip=ctx.source_ip,
            user_agent=ctx.user_agent,
        ),
    )
    # StartInstances answers pending; a refused Decrypt shows afterwards, the instance back to stopped.
    return before if before is InstanceState.RUNNING else InstanceState.PENDING


def _stop(ctx: Ctx, inst: Instance) -> InstanceState:
    answered = inst.apply(InstanceEvent.STOP)
    if answered is InstanceState.STOPPING:
        _user_initiated(ctx, inst)
        inst.apply(InstanceEvent.STOPPED)
    return answered


def _terminate(ctx: Ctx, inst: Instance) -> InstanceState:
    before = inst.state
    answered = inst.apply(InstanceEvent.TERMINATE)
    if answered is InstanceState.SHUTTING_DOWN:
        if before is not InstanceState.SHUTTING_DOWN:
            _user_initiated(ctx, inst)
        inst.apply(InstanceEvent.SHUTDOWN_DONE)
        release_volumes(ec2_of(ctx), inst)
    return answered


def start_instances_handler(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    return _change_states(ctx, params, InstanceEvent.START, _start)


def stop_instances(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    return _change_states(ctx, params, InstanceEvent.STOP, _stop)


def terminate_instances(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    return _change_states(ctx, params, InstanceEvent.TERMINATE, _terminate)


def release_volumes(ec2: Ec2, inst: Instance) -> None:
    """A terminated instance's volumes: deleted when DeleteOnTermination, otherwise detached and available."""
    for _, vol_id in inst.block_devices:
        vol = ec2.volumes.get(vol_id)
        if vol is None:
            continue
        att = next((a for a in vol.attachments if a.instance_id == inst.instance_id), None)
        if att is not None and att.delete_on_termination:
            del ec2.volumes[vol_id]
            continue
        vol.attachments = [a for a in vol.attachments if a.instance_id != inst.instance_id]
        vol.state = "available" if not vol.attachments else vol.state
    inst.block_devices = []


HANDLERS: dict[str, Handler] = {
    "RunInstances": run_instances_handler,
    "DescribeInstances": describe_instances,
    "StartInstances": start_instances_handler,
    "StopInstances": stop_instances,
    "TerminateInstances": terminate_instances,
}
