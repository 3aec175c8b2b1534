"""Launches: RunInstances, StartInstances, Auto Scaling, EC2 Fleet and Spot; each from its parameters to the
instance's final state, with every KMS call decided by the engine.

What the instance shows (https://repost.aws/knowledge-center/ec2-instance-terminating, assumption
refused-call-state-reason): a refused KMS call takes it pending -> shutting-down -> terminated with StateReason
Client.InternalError; a key in a state that refuses use gives Client.InvalidKMSKey.InvalidState. A request EC2
refuses outright fails synchronously with EC2's error and creates nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kmslaunch.policy.messages import access_denied_message
from kmslaunch.policy.principals import Principal, parse_principal
from kmslaunch.world.authz import authorize_in_world, principal_in_world
from kmslaunch.world.autoscaling import AutoScalingGroup, ScalingActivity
from kmslaunch.world.clock import iso
from kmslaunch.world.ec2 import Attachment, EbsSpec, Instance, Volume
from kmslaunch.world.instances import IncorrectInstanceState, InstanceEvent, InstanceState
from kmslaunch.world.world import World

from .errors import Ec2Error
from .execute import execute
from .params import RunParams, parse_block_devices
from .plan import VolumePlan, plan_calls, plan_volumes
from .result import CallResult, CallVerdict, LaunchKind, LaunchResult, Outcome
from .trail import event
from .views import describe_instances

CLIENT_ERROR_ON_LAUNCH = {"Code": "Client.InternalError", "Message": "Client.InternalError: Client error on launch"}
INVALID_KEY_STATE = {
    "Code": "Client.InvalidKMSKey.InvalidState",
    "Message": "Client.InvalidKMSKey.InvalidState: The KMS key provided is in an incorrect state",
}
DEFAULT_USER_AGENT = "aws-cli/2.17.0 md/command#ec2.run-instances"


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


def state_reason_for(refused: CallResult) -> dict[str, str]:
    return INVALID_KEY_STATE if refused.verdict is CallVerdict.KEY_STATE else CLIENT_ERROR_ON_LAUNCH


def _principal(world: World, arn: str, role_arn: str | None = None) -> Principal:
    p = principal_in_world(world, arn)
    if role_arn and p.principal_arn != role_arn:
        return parse_principal(p.arn, role_arn=role_arn, userid=p.userid, tags=p.tags, org_id=p.org_id)
    return p


def _check_ec2(
    world: World,
    who: Principal,
    account: str,
    region: str,
    action: str,
    resource: str,
    source_ip: str | None,
    notes: list[str],
) -> None:
    """EC2's own authorization of the API call: UnauthorizedOperation when refused."""
    if who.is_service_linked_role:
        return  # assumption service-role-calls
    if not world.account(account).iam.known:
        notes.append(f"IAM of account {account} is not in the snapshot: {action} was not checked")
        return
    ctx: dict[str, tuple[str, ...]] = {"aws:requestedregion": (region,), "ec2:region": (region,)}
    if source_ip:
        ctx["aws:sourceip"] = (source_ip,)
    auth = authorize_in_world(world, who, action, resource, context=ctx)
    if not auth.decision.allowed:
        detail = access_denied_message(who.arn, action, resource, auth.decision)
        raise Ec2Error(
            "UnauthorizedOperation",
            f"You are not authorized to perform this operation. {detail}. "
            "Encoded authorization failure message: (run kmslaunch with --format json for the decoded reasons)",
            403,
        )


def _image_devices(world: World, account: str, region: str, params: RunParams) -> tuple[Any, tuple[EbsSpec, ...]]:
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
    image = world.find_image(region, image_id)
    if image is None or (image.owner != account and not image.public and account not in image.launch_permissions):
        raise Ec2Error("InvalidAMIID.NotFound", f"The image id '[{image_id}]' does not exist")
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
) -> LaunchResult:
    """Simulate RunInstances (or a service's launch as its service-linked role) end to end."""
    who = _principal(world, caller_arn, caller_role_arn)
    trail: list[dict[str, Any]] = []
    notes: list[str] = []
    ec2 = world.account(account).region(region).ec2
    resource = f"arn:{world.partition}:ec2:{region}:{account}:instance/*"
    invoked_by = None if kind is LaunchKind.RUN_INSTANCES else SERVICE_ROLES[kind].service
    api_ip = source_ip or (invoked_by or "AWS Internal")
    try:
        _check_ec2(world, who, account, region, "ec2:RunInstances", resource, source_ip, notes)
        (image, instance_type), overrides = _image_devices(world, account, region, params)
        volumes_per_instance = []
        count = params.max_count
        for _ in range(count):
            volumes_per_instance.append(plan_volumes(world, account, region, image.block_devices, overrides))
    except Ec2Error as exc:
        trail.append(
            event(
                world,
                who=who,
                event_source="ec2.amazonaws.com",
                event_name="RunInstances",
                region=region,
                recipient_account=account,
                source_ip=api_ip,
                user_agent=user_agent,
                request=_run_request(params),
                response=None,
                invoked_by=invoked_by,
                error_code=f"Client.{exc.code}" if exc.code == "UnauthorizedOperation" else exc.code,
                error_message=exc.message,
            )
        )
        world.account(account).region(region).trail.events.extend(trail)
        return LaunchResult(
            kind,
            account,
            region,
            who.arn,
            Outcome("rejected", None, {"Code": exc.code, "Message": exc.message}),
            trail=tuple(trail),
            notes=tuple(notes),
        )

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
    trail.append(
        event(
            world,
            who=who,
            event_source="ec2.amazonaws.com",
            event_name="RunInstances",
            region=region,
            recipient_account=account,
            source_ip=api_ip,
            user_agent=user_agent,
            request=_run_request(params),
            response={
                "reservationId": reservation,
                "ownerId": account,
                "instancesSet": {"items": [{"instanceId": i.instance_id, "imageId": i.image_id} for i in instances]},
            },
            invoked_by=invoked_by,
        )
    )

    all_calls: list[CallResult] = []
    all_volumes: list[VolumePlan] = []
    final: Outcome | None = None
    epoch = int(now.timestamp())
    for inst, vols in zip(instances, volumes_per_instance, strict=True):
        all_volumes.extend(vols)
        calls = plan_calls(vols, who, source_ip, account, region, inst.instance_id, iso(now), epoch, world.partition)
        results = execute(world, calls, region, trail)
        all_calls.extend(results)
        refused = next((r for r in results if r.refused), None)
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
    world.account(account).region(region).trail.events.extend(trail)
    view = describe_instances(ec2, account, [i.instance_id for i in instances], reservation)
    return LaunchResult(
        kind,
        account,
        region,
        who.arn,
        final or Outcome("running"),
        calls=tuple(all_calls),
        trail=tuple(trail),
        volumes=tuple(all_volumes),
        instance_ids=tuple(i.instance_id for i in instances),
        view=view,
        notes=tuple(notes),
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
    who = _principal(world, caller_arn)
    ec2 = world.account(account).region(region).ec2
    trail: list[dict[str, Any]] = []
    notes: list[str] = []
    kind = LaunchKind.START_INSTANCES
    try:
        inst = ec2.instances.get(instance_id)
        if inst is None:
            raise Ec2Error("InvalidInstanceID.NotFound", f"The instance ID '{instance_id}' does not exist")
        resource = f"arn:{world.partition}:ec2:{region}:{account}:instance/{instance_id}"
        _check_ec2(world, who, account, region, "ec2:StartInstances", resource, source_ip, notes)
        if inst.state is InstanceState.RUNNING:
            return LaunchResult(kind, account, region, who.arn, Outcome("running"), instance_ids=(instance_id,))
        try:
            inst.apply(InstanceEvent.START)
        except IncorrectInstanceState as exc:
            raise Ec2Error(exc.code, str(exc).replace("can be start.", "can be started.")) from exc
    except Ec2Error as exc:
        return LaunchResult(
            kind, account, region, who.arn, Outcome("rejected", None, {"Code": exc.code, "Message": exc.message})
        )
    trail.append(
        event(
            world,
            who=who,
            event_source="ec2.amazonaws.com",
            event_name="StartInstances",
            region=region,
            recipient_account=account,
            source_ip=source_ip or "AWS Internal",
            user_agent=user_agent,
            request={"instancesSet": {"items": [{"instanceId": instance_id}]}},
            response={
                "instancesSet": {"items": [{"instanceId": instance_id, "currentState": {"code": 0, "name": "pending"}}]}
            },
        )
    )
    vols: list[VolumePlan] = []
    for device, vol_id in inst.block_devices:
        v = ec2.volumes.get(vol_id)
        if v is None:
            continue
        key = world.key_by_arn(v.kms_key_id) if v.kms_key_id else None
        vols.append(VolumePlan(device, vol_id, v.size, v.volume_type, v.encrypted, key, v.kms_key_id))
    now = world.clock.now()
    calls = plan_calls(
        vols,
        who,
        source_ip,
        account,
        region,
        instance_id,
        iso(now),
        int(now.timestamp()),
        world.partition,
        reuse_data_keys=True,
    )
    results = execute(world, calls, region, trail)
    refused = next((r for r in results if r.refused), None)
    if refused is None:
        inst.apply(InstanceEvent.BOOTED)
        inst.state_reason = None
        outcome = Outcome("running")
    else:
        inst.apply(InstanceEvent.START_FAILED)
        inst.state_reason = state_reason_for(refused)
        outcome = Outcome("stopped", inst.state_reason)
    world.account(account).region(region).trail.events.extend(trail)
    return LaunchResult(
        kind,
        account,
        region,
        who.arn,
        outcome,
        calls=tuple(results),
        trail=tuple(trail),
        volumes=tuple(vols),
        instance_ids=(instance_id,),
        view=describe_instances(ec2, account, [instance_id], "r-" + instance_id[2:]),
        notes=tuple(notes),
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
    slr_arn = group.service_linked_role_arn
    role_name = slr_arn.rsplit("/", 1)[-1]
    session = f"arn:{world.partition}:sts::{account}:assumed-role/{role_name}/AutoScaling"
    if isinstance(params, Outcome):
        return LaunchResult(LaunchKind.AUTO_SCALING, account, region, session, params)
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
    _record_activities(world, group, result)
    return result


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
