"""Launches: RunInstances, StartInstances, Auto Scaling, EC2 Fleet and Spot; each from its parameters to the
instance's final state, with every KMS call decided by the engine.

What the instance shows (https://repost.aws/knowledge-center/ec2-instance-terminating, assumption
refused-call-state-reason): a refused KMS call takes it pending -> shutting-down -> terminated with StateReason
Client.InternalError; a key in a state that refuses use gives Client.InvalidKMSKey.InvalidState. A request EC2
refuses outright fails synchronously with EC2's error and creates nothing.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from kmslaunch.world.autoscaling import AutoScalingGroup, ScalingActivity, default_slr_arn
from kmslaunch.world.clock import iso
from kmslaunch.world.ec2 import Attachment, EbsSpec, Image, Instance, Volume
from kmslaunch.world.instances import IncorrectInstanceState, InstanceEvent, InstanceState
from kmslaunch.world.world import World

from .common import (
    CLI_COMMANDS,
    CLIENT_ERROR_ON_LAUNCH,
    Ec2Request,
    cli_user_agent,
    first_refused,
    principal,
    refusal,
    state_reason_for,
    visible_image,
)
from .errors import Ec2Error
from .execute import execute
from .params import RunParams, parse_block_devices
from .plan import VolumePlan, plan_volumes
from .result import CallResult, LaunchKind, LaunchResult, Outcome
from .views import describe_instances

DEFAULT_USER_AGENT = cli_user_agent(CLI_COMMANDS[LaunchKind.RUN_INSTANCES])


@dataclass(frozen=True, slots=True)
class ServiceRole:
    """The service-linked role a service launches as (https://docs.aws.amazon.com/IAM/latest/UserGuide/
    using-service-linked-roles.html): its name, its path's service, and the session name it uses."""

    name: str
    service: str
    session: str

    def session_arn(self, account: str, partition: str = "aws") -> str:
        return f"arn:{partition}:sts::{account}:assumed-role/{self.name}/{self.session}"

    def role_arn(self, account: str, partition: str = "aws") -> str:
        return f"arn:{partition}:iam::{account}:role/aws-service-role/{self.service}/{self.name}"


SERVICE_ROLES = {
    LaunchKind.AUTO_SCALING: ServiceRole("AWSServiceRoleForAutoScaling", "autoscaling.amazonaws.com", "AutoScaling"),
    LaunchKind.EC2_FLEET: ServiceRole("AWSServiceRoleForEC2Fleet", "ec2fleet.amazonaws.com", "EC2Fleet"),
    LaunchKind.SPOT_FLEET: ServiceRole("AWSServiceRoleForEC2SpotFleet", "spotfleet.amazonaws.com", "SpotFleet"),
    LaunchKind.SPOT: ServiceRole("AWSServiceRoleForEC2Spot", "spot.amazonaws.com", "EC2Spot"),
}


def _image_devices(
    world: World, account: str, region: str, params: RunParams
) -> tuple[tuple[Image, str], tuple[EbsSpec, ...]]:
    """Merge the launch template (if any) under the request, then find the image."""
    image_id = params.image_id
    overrides = params.block_devices
    instance_type = params.instance_type
    if params.launch_template:
        ec2 = world.account(account).region(region).ec2
        lt = ec2.template(
            params.launch_template.get("LaunchTemplateId"), params.launch_template.get("LaunchTemplateName")
        )
        name = params.launch_template.get("LaunchTemplateId") or params.launch_template.get("LaunchTemplateName")
        if lt is None:
            raise Ec2Error(
                "InvalidLaunchTemplateId.NotFound"
                if params.launch_template.get("LaunchTemplateId")
                else "InvalidLaunchTemplateName.NotFoundException",
                f"The specified launch template, with template ID {name}, does not exist.",
            )
        data = lt.data(params.launch_template.get("Version"))
        if data is None:
            raise Ec2Error(
                "InvalidLaunchTemplateId.VersionNotFound",
                f"Could not find launch template version {params.launch_template.get('Version')} for {name}.",
            )
        image_id = image_id or data.get("ImageId")
        instance_type = instance_type or str(data.get("InstanceType") or "")
        lt_devices = parse_block_devices(
            data.get("BlockDeviceMappings"), f"launch template {name}", "BlockDeviceMappings"
        )
        by_dev = {d.device_name: d for d in lt_devices}
        by_dev.update({d.device_name: d for d in overrides})
        overrides = tuple(by_dev.values())
    if not image_id:
        raise Ec2Error("MissingParameter", "The request must contain the parameter ImageId")
    image = visible_image(world, account, region, image_id)
    return (image, instance_type or "t3.micro"), overrides


def _finish_volumes(world: World, account: str, region: str, inst: Instance, vols: list[VolumePlan]) -> None:
    ec2 = world.account(account).region(region).ec2
    now = iso(world.clock.now())
    for v in vols:
        ec2.volumes[v.volume_id] = Volume(
            volume_id=v.volume_id,
            size=v.size,
            volume_type=v.volume_type,
            availability_zone=inst.availability_zone,
            encrypted=v.encrypted,
            kms_key_id=v.key.arn if v.key else None,
            snapshot_id=v.snapshot.snapshot_id if v.snapshot else None,
            state="in-use",
            create_time=now,
            attachments=[Attachment(inst.instance_id, v.device, "attached", now, v.delete_on_termination)],
        )
        inst.block_devices.append((v.device, v.volume_id))


def run_instances(
    world: World,
    account: str,
    region: str,
    params: RunParams,
    caller_arn: str,
    *,
    source_ip: str | None = None,
    user_agent: str = DEFAULT_USER_AGENT,
    kind: LaunchKind = LaunchKind.RUN_INSTANCES,
    caller_role_arn: str | None = None,
    operation: str = "RunInstances",
    checks: tuple[tuple[str, str], ...] = (("ec2:RunInstances", "instance/*"),),
    request: dict[str, Any] | None = None,
) -> LaunchResult:
    """Simulate RunInstances (or a service's launch as its service-linked role) end to end. ``operation``,
    ``checks`` (EC2's authorization: action and resource) and ``request`` (as CloudTrail records it) name the API
    call when it is not RunInstances itself (an instant CreateFleet)."""
    who = principal(world, caller_arn, caller_role_arn)
    req = Ec2Request(
        world,
        kind,
        operation,
        who,
        account,
        region,
        request if request is not None else _run_request(params),
        source_ip,
        user_agent,
        invoked_by=SERVICE_ROLES[kind].service if kind in SERVICE_ROLES else None,
        dry_run=params.dry_run,
    )
    ec2 = req.ec2
    try:
        for i, (action, resource) in enumerate(checks):
            req.check(action, req.arn(resource), final=i == len(checks) - 1)
        (image, instance_type), overrides = _image_devices(world, account, region, params)
        volumes_per_instance = [
            plan_volumes(world, account, region, image.block_devices, overrides, image.owner)
            for _ in range(params.max_count)
        ]
    except Ec2Error as exc:
        return req.rejected(exc)

    az = params.availability_zone or f"{region}a"
    now = world.clock.now()
    instances: list[Instance] = []
    for _ in volumes_per_instance:
        inst = Instance(
            instance_id=world.ids.ec2("i"),
            image_id=image.image_id,
            instance_type=instance_type,
            launched_by=who.arn,
            launch_time=iso(now),
            availability_zone=az,
            root_device_name=image.root_device_name,
            tags=dict(params.tags),
            launch_template=dict(params.launch_template) if params.launch_template else None,
            client_token=params.client_token,
            source_ip=source_ip,
        )
        ec2.instances[inst.instance_id] = inst
        instances.append(inst)
    reservation = "r-" + world.ids.ec2("r")[3:]
    trail = [
        req.api_event(
            {
                "reservationId": reservation,
                "ownerId": account,
                "instancesSet": {"items": [{"instanceId": i.instance_id, "imageId": i.image_id} for i in instances]},
            }
        )
    ]

    all_calls: list[CallResult] = []
    all_volumes: list[VolumePlan] = []
    final: Outcome | None = None
    for inst, vols in zip(instances, volumes_per_instance, strict=True):
        all_volumes.extend(vols)
        calls = req.volume_calls(vols, inst.instance_id, now)
        results = execute(world, calls, region, trail)
        all_calls.extend(results)
        refused = first_refused(results)
        if refused is None:
            _finish_volumes(world, account, region, inst, vols)
            inst.apply(InstanceEvent.BOOTED)
            final = final or Outcome("running")
        else:
            reason = state_reason_for(refused)
            inst.apply(InstanceEvent.LAUNCH_FAILED)
            inst.state_reason = reason
            inst.apply(InstanceEvent.SHUTDOWN_DONE)
            final = Outcome("terminated", reason)
    req.record(trail)
    return req.result(
        final or Outcome("running"),
        calls=all_calls,
        trail=trail,
        volumes=all_volumes,
        instance_ids=[i.instance_id for i in instances],
        view=describe_instances(ec2, account, [i.instance_id for i in instances], reservation),
    )


def _run_request(params: RunParams) -> dict[str, Any]:
    req: dict[str, Any] = {
        "instancesSet": {
            "items": [{"imageId": params.image_id, "minCount": params.min_count, "maxCount": params.max_count}]
        }
    }
    if params.instance_type:
        req["instanceType"] = params.instance_type
    if params.block_devices:
        req["blockDeviceMapping"] = {"items": [d.to_json() for d in params.block_devices]}
    if params.launch_template:
        req["launchTemplate"] = dict(params.launch_template)
    if params.dry_run:
        req["dryRun"] = True
    return req


def start_instances(
    world: World,
    account: str,
    region: str,
    instance_id: str,
    caller_arn: str,
    *,
    source_ip: str | None = None,
    user_agent: str = DEFAULT_USER_AGENT,
) -> LaunchResult:
    """StartInstances of a stopped instance: a new grant as the caller and a Decrypt by the instance identity for
    each encrypted volume (assumption start-instances-failure)."""
    kind = LaunchKind.START_INSTANCES
    request = {"instancesSet": {"items": [{"instanceId": instance_id}]}}
    who = principal(world, caller_arn)
    req = Ec2Request(world, kind, "StartInstances", who, account, region, request, source_ip, user_agent)
    ec2 = req.ec2
    try:
        inst = ec2.instances.get(instance_id)
        if inst is None:
            raise Ec2Error("InvalidInstanceID.NotFound", f"The instance ID '{instance_id}' does not exist")
        req.check("ec2:StartInstances", req.arn(f"instance/{instance_id}"))
        if inst.state is InstanceState.RUNNING:
            return LaunchResult(kind, account, region, who.arn, Outcome("running"), instance_ids=(instance_id,))
        try:
            inst.apply(InstanceEvent.START)
        except IncorrectInstanceState as exc:
            raise Ec2Error(exc.code, str(exc).replace("can be start.", "can be started.")) from exc
    except Ec2Error as exc:
        return LaunchResult(kind, account, region, who.arn, refusal(exc))
    trail = [
        req.api_event(
            {"instancesSet": {"items": [{"instanceId": instance_id, "currentState": {"code": 0, "name": "pending"}}]}}
        )
    ]
    vols: list[VolumePlan] = []
    for device, vol_id in inst.block_devices:
        v = ec2.volumes.get(vol_id)
        if v is None:
            continue
        key = world.key_by_arn(v.kms_key_id) if v.kms_key_id else None
        vols.append(VolumePlan(device, vol_id, v.size, v.volume_type, v.encrypted, key, v.kms_key_id))
    now = world.clock.now()
    calls = req.volume_calls(vols, instance_id, now, reuse_data_keys=True)
    results = execute(world, calls, region, trail)
    refused = first_refused(results)
    if refused is None:
        inst.apply(InstanceEvent.BOOTED)
        inst.state_reason = None
        outcome = Outcome("running")
    else:
        inst.apply(InstanceEvent.START_FAILED)
        inst.state_reason = state_reason_for(refused)
        outcome = Outcome("stopped", inst.state_reason)
    req.record(trail)
    return req.result(
        outcome,
        calls=results,
        trail=trail,
        volumes=vols,
        instance_ids=[instance_id],
        view=describe_instances(ec2, account, [instance_id], "r-" + instance_id[2:]),
    )


def auto_scaling_launch(world: World, account: str, region: str, group_name: str, count: int = 1) -> LaunchResult:
    """An Auto Scaling group launching ``count`` instances as its service-linked role
    (https://docs.aws.amazon.com/autoscaling/ec2/userguide/key-policy-requirements-EBS-encryption.html)."""
    asg_region = world.account(account).region(region)
    group = asg_region.autoscaling.groups.get(group_name)
    if group is None:
        err = {"Code": "ValidationError", "Message": f"AutoScalingGroup name not found - {group_name}"}
        return LaunchResult(LaunchKind.AUTO_SCALING, account, region, "", Outcome("rejected", None, err))
    params = _group_params(world, account, region, group, count)
    slr_arn, notes = group_launch_role(world, account, region, group)
    role_name = slr_arn.rsplit("/", 1)[-1]
    session = f"arn:{world.partition}:sts::{account}:assumed-role/{role_name}/AutoScaling"
    if isinstance(params, Outcome):
        return LaunchResult(LaunchKind.AUTO_SCALING, account, region, session, params, notes=notes)
    if _spot_price(world, account, region, group):
        # assumption spot-launch-configuration
        result = fleet_launch(world, account, region, params, LaunchKind.SPOT)
    else:
        result = run_instances(
            world,
            account,
            region,
            params,
            session,
            kind=LaunchKind.AUTO_SCALING,
            caller_role_arn=slr_arn,
            user_agent="autoscaling.amazonaws.com",
        )
    result = dataclasses.replace(result, kind=LaunchKind.AUTO_SCALING, notes=(*notes, *result.notes))
    _record_activities(world, group, result)
    return result


def _spot_price(world: World, account: str, region: str, group: AutoScalingGroup) -> str | None:
    if group.launch_template or not group.launch_configuration:
        return None
    lc = world.account(account).region(region).autoscaling.launch_configurations.get(group.launch_configuration)
    return lc.spot_price if lc is not None else None


def group_launch_role(world: World, account: str, region: str, group: AutoScalingGroup) -> tuple[str, tuple[str, ...]]:
    """The role whose session makes the KMS calls of the group's launches, and why.

    A group EKS made for a managed node group launches as the default ``AWSServiceRoleForAutoScaling``, whatever
    other Auto Scaling role exists (assumption eks-nodegroup-default-slr); a launch configuration with a SpotPrice
    launches through a Spot request, as ``AWSServiceRoleForEC2Spot`` (assumption spot-launch-configuration);
    otherwise the group's ServiceLinkedRoleARN."""
    nodegroup = group.eks_nodegroup
    if nodegroup is not None:
        default = default_slr_arn(account, None, world.partition)
        note = (
            f"{group.name} is EKS managed node group {nodegroup[1]} of cluster {nodegroup[0]}: its instances are "
            "launched by Auto Scaling's default service-linked role AWSServiceRoleForAutoScaling"
        )
        if group.service_linked_role_arn != default:
            note += f" (not {group.service_linked_role_arn.rsplit('/', 1)[-1]})"
        return default, (note,)
    spot = _spot_price(world, account, region, group)
    if spot:
        role = SERVICE_ROLES[LaunchKind.SPOT]
        note = (
            f"launch configuration {group.launch_configuration} has SpotPrice {spot}: its instances are Spot "
            f"Instances, launched by {role.name}"
        )
        return role.role_arn(account, world.partition), (note,)
    return group.service_linked_role_arn, ()


def _group_params(world: World, account: str, region: str, group: AutoScalingGroup, count: int) -> RunParams | Outcome:
    if group.launch_template:
        return RunParams(None, "", count, count, (), dict(group.launch_template), None, None, {})
    lc = world.account(account).region(region).autoscaling.launch_configurations.get(group.launch_configuration or "")
    if lc is None:
        return Outcome(
            "rejected",
            None,
            {
                "Code": "ValidationError",
                "Message": f"Launch configuration name not found - {group.launch_configuration}",
            },
        )
    return RunParams(lc.image_id, lc.instance_type, count, count, lc.block_devices, None, None, None, {})


def _record_activities(world: World, group: AutoScalingGroup, result: LaunchResult) -> None:
    """Scaling activities in Auto Scaling's words (assumption auto-scaling-activity)."""
    start = iso(world.clock.now())
    if result.outcome.state == "rejected" and result.outcome.error:
        err = result.outcome.error
        group.activities.append(
            ScalingActivity(
                world.ids.request_id(),
                group.name,
                "Launching a new EC2 instance.  Status Reason: " + f"{err['Message']}. Launching EC2 instance failed.",
                f"At {start} an instance was started in response to a difference between desired and actual capacity.",
                start,
                start,
                "Failed",
                f"{err['Message']}. Launching EC2 instance failed.",
            )
        )
        return
    for iid in result.instance_ids:
        inst = world.account(result.account).region(result.region).ec2.instances[iid]
        if inst.state is InstanceState.RUNNING:
            group.instances.append(iid)
            group.activities.append(
                ScalingActivity(
                    world.ids.request_id(),
                    group.name,
                    f"Launching a new EC2 instance: {iid}",
                    f"At {start} an instance was started in response to a difference between desired and actual "
                    f"capacity, increasing the capacity from {len(group.instances) - 1} to {len(group.instances)}.",
                    start,
                    iso(world.clock.now()),
                    "Successful",
                )
            )
        else:
            reason = (inst.state_reason or CLIENT_ERROR_ON_LAUNCH)["Message"]
            message = (
                "Instance became unhealthy while waiting for instance to be in InService state. "
                f"Termination Reason: {reason}"
            )
            group.activities.append(
                ScalingActivity(
                    world.ids.request_id(),
                    group.name,
                    f"Launching a new EC2 instance: {iid}. Status Reason: {message}",
                    f"At {start} an instance was started in response to a difference between desired and actual "
                    "capacity, increasing the capacity from 0 to 1.",
                    start,
                    iso(world.clock.now()),
                    "Cancelled",
                    message,
                )
            )


def fleet_launch(world: World, account: str, region: str, params: RunParams, kind: LaunchKind) -> LaunchResult:
    """EC2 Fleet, Spot Fleet or a Spot request: the instances are launched as the service's service-linked role
    (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ebs-encryption-requirements.html)."""
    role = SERVICE_ROLES[kind]
    return run_instances(
        world,
        account,
        region,
        params,
        role.session_arn(account, world.partition),
        kind=kind,
        caller_role_arn=role.role_arn(account, world.partition),
        user_agent=role.service,
    )
