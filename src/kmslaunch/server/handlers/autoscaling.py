"""EC2 Auto Scaling: groups, launch configurations and scaling activities.

The API calls are authorized as the caller; the launches that follow are made by Auto Scaling as the group's
service-linked role (``launch.run.auto_scaling_launch``), synchronously here, so that a request that changes the
desired capacity has its scaling activity (successful, or cancelled with the instance's termination reason) by
the time it answers (https://docs.aws.amazon.com/autoscaling/ec2/userguide/key-policy-requirements-EBS-encryption.html).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from kmslaunch.launch.params import parse_block_devices
from kmslaunch.launch.run import auto_scaling_launch
from kmslaunch.policy.errors import InputError
from kmslaunch.world.autoscaling import AutoScaling, AutoScalingGroup, LaunchConfiguration, ScalingActivity
from kmslaunch.world.autoscaling import default_slr_arn as default_slr
from kmslaunch.world.builder import add_service_linked_role
from kmslaunch.world.clock import iso
from kmslaunch.world.instances import InstanceEvent, InstanceState

from .base import ApiError, Ctx, Handler, required
from .ec2 import release_volumes

SERVICE = "autoscaling.amazonaws.com"
_LIVE = (InstanceState.PENDING, InstanceState.RUNNING)


def _asg(ctx: Ctx) -> AutoScaling:
    return ctx.world.account(ctx.account).region(ctx.region).autoscaling


def _group_arn(ctx: Ctx, name: str, uid: str = "*") -> str:
    base = f"arn:{ctx.world.partition}:autoscaling:{ctx.region}:{ctx.account}"
    return f"{base}:autoScalingGroup:{uid}:autoScalingGroupName/{name}"


def _when(value: str) -> datetime:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return datetime.now(UTC)


def _invalid(message: str) -> ApiError:
    return ApiError("ValidationError", message)


def _group(ctx: Ctx, name: str) -> AutoScalingGroup:
    group = _asg(ctx).groups.get(name)
    if group is None:
        raise _invalid(f"AutoScalingGroup name not found - {name}")
    return group


def _int(params: dict[str, Any], name: str) -> int | None:
    value = params.get(name)
    return None if value is None else int(value)


def _check_bounds(min_size: int, max_size: int, desired: int) -> None:
    if min_size > max_size:
        raise _invalid(f"Max bound, {max_size}, must be greater than or equal to min bound, {min_size}")
    if not min_size <= desired <= max_size:
        raise _invalid(
            f"Desired capacity:{desired} must be between the specified min size:{min_size} and max size:{max_size}"
        )


def _launch_template(ctx: Ctx, spec: dict[str, Any]) -> dict[str, str]:
    """The group's launch template, which must exist and which the caller must be allowed to launch with
    (https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-launch-template-permissions.html)."""
    ec2 = ctx.world.account(ctx.account).region(ctx.region).ec2
    template_id, name = spec.get("LaunchTemplateId"), spec.get("LaunchTemplateName")
    t = ec2.template(template_id, name)
    if t is None:
        what = f"template ID {template_id}" if template_id else f"template name {name}"
        raise _invalid(
            f"You must use a valid fully-formed launch template. The specified launch template, with {what}, "
            "does not exist."
        )
    arn = f"arn:{ctx.world.partition}:ec2:{ctx.region}:{ctx.account}:launch-template/{t.template_id}"
    try:
        ctx.authorize("ec2:RunInstances", arn)
    except ApiError as exc:
        raise _invalid(f"You are not authorized to use launch template: {t.name}") from exc
    return {
        "LaunchTemplateId": t.template_id,
        "LaunchTemplateName": t.name,
        "Version": str(spec.get("Version") or "$Default"),
    }


def _service_linked_role(ctx: Ctx, arn: str | None) -> str:
    """The group's service-linked role. The default one is created on first use, as Auto Scaling does, which
    needs iam:CreateServiceLinkedRole (https://docs.aws.amazon.com/autoscaling/ec2/userguide/autoscaling-service-linked-role.html)."""
    default = default_slr(ctx.account, None, ctx.world.partition)
    arn = arn or default
    name = arn.rsplit("/", 1)[-1]
    iam = ctx.world.account(ctx.account).iam
    role = iam.roles.get(name)
    if role is not None and role.arn == arn:
        return arn
    if arn != default:
        raise _invalid(f"ARN specified is not valid: the service-linked role {arn} does not exist.")
    ctx.authorize("iam:CreateServiceLinkedRole", arn, context={"iam:awsservicename": (SERVICE,)})
    add_service_linked_role(ctx.world, ctx.account, SERVICE, name)
    return arn


def _reconcile(ctx: Ctx, group: AutoScalingGroup) -> None:
    """Bring the group to its desired capacity: launch the difference as the service-linked role, or terminate
    the newest instances."""
    ec2 = ctx.world.account(ctx.account).region(ctx.region).ec2
    group.instances = [i for i in group.instances if i in ec2.instances and ec2.instances[i].state in _LIVE]
    missing = group.desired_capacity - len(group.instances)
    if missing > 0:
        auto_scaling_launch(ctx.world, ctx.account, ctx.region, group.name, missing)
    for iid in group.instances[group.desired_capacity :]:
        inst = ec2.instances[iid]
        inst.apply(InstanceEvent.TERMINATE)
        inst.apply(InstanceEvent.SHUTDOWN_DONE)
        release_volumes(ec2, inst)
        now = iso(ctx.world.clock.now())
        group.activities.append(
            ScalingActivity(
                ctx.world.ids.request_id(),
                group.name,
                f"Terminating EC2 instance: {iid}",
                f"At {now} an instance was taken out of service in response to a difference between desired and "
                "actual capacity, shrinking the capacity.",
                now,
                now,
                "Successful",
            )
        )
    group.instances = group.instances[: group.desired_capacity]
    ctx.changed = True


def create_auto_scaling_group(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    name = str(required(ctx, params, "AutoScalingGroupName"))
    ctx.authorize("autoscaling:CreateAutoScalingGroup", _group_arn(ctx, name))
    asg = _asg(ctx)
    if name in asg.groups:
        raise ApiError(
            "AlreadyExists",
            f"AutoScalingGroup by this name already exists - A group with the name {name} already exists",
        )
    min_size = int(required(ctx, params, "MinSize"))
    max_size = int(required(ctx, params, "MaxSize"))
    desired = _int(params, "DesiredCapacity")
    desired = min_size if desired is None else desired
    _check_bounds(min_size, max_size, desired)
    template, config = params.get("LaunchTemplate"), params.get("LaunchConfigurationName")
    if bool(template) == bool(config):
        raise _invalid(
            "Valid requests must contain either LaunchTemplate, LaunchConfigurationName, InstanceId or "
            "MixedInstancesPolicy parameter."
        )
    lt = _launch_template(ctx, dict(template)) if template else None
    if config and config not in asg.launch_configurations:
        raise _invalid(f"Launch configuration name not found - {config}")
    slr = _service_linked_role(ctx, params.get("ServiceLinkedRoleARN"))
    group = AutoScalingGroup(
        name=name,
        arn=_group_arn(ctx, name, ctx.world.ids.request_id()),
        service_linked_role_arn=slr,
        launch_template=lt,
        launch_configuration=str(config) if config else None,
        min_size=min_size,
        max_size=max_size,
        desired_capacity=desired,
        availability_zones=[str(z) for z in params.get("AvailabilityZones") or [f"{ctx.region}a"]],
        created_time=iso(ctx.world.clock.now()),
        # The tags EKS puts on a managed node group's group (eks:cluster-name, eks:nodegroup-name) decide who
        # launches (assumption eks-nodegroup-default-slr).
        tags={str(t["Key"]): str(t.get("Value", "")) for t in params.get("Tags") or [] if t.get("Key")},
    )
    asg.groups[name] = group
    _reconcile(ctx, group)
    return {}


def update_auto_scaling_group(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    name = str(required(ctx, params, "AutoScalingGroupName"))
    group = _group(ctx, name)
    ctx.authorize("autoscaling:UpdateAutoScalingGroup", group.arn)
    min_size = _int(params, "MinSize")
    max_size = _int(params, "MaxSize")
    min_size = group.min_size if min_size is None else min_size
    max_size = group.max_size if max_size is None else max_size
    desired = _int(params, "DesiredCapacity")
    if desired is None:
        # New bounds move the desired capacity inside them.
        desired = max(min_size, min(max_size, group.desired_capacity))
    _check_bounds(min_size, max_size, desired)
    if params.get("LaunchTemplate"):
        group.launch_template = _launch_template(ctx, dict(params["LaunchTemplate"]))
        group.launch_configuration = None
    elif params.get("LaunchConfigurationName"):
        config = str(params["LaunchConfigurationName"])
        if config not in _asg(ctx).launch_configurations:
            raise _invalid(f"Launch configuration name not found - {config}")
        group.launch_configuration, group.launch_template = config, None
    if params.get("ServiceLinkedRoleARN"):
        group.service_linked_role_arn = _service_linked_role(ctx, str(params["ServiceLinkedRoleARN"]))
    if params.get("AvailabilityZones"):
        group.availability_zones = [str(z) for z in params["AvailabilityZones"]]
    group.min_size, group.max_size, group.desired_capacity = min_size, max_size, desired
    _reconcile(ctx, group)
    return {}


def set_desired_capacity(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    name = str(required(ctx, params, "AutoScalingGroupName"))
    group = _group(ctx, name)
    ctx.authorize("autoscaling:SetDesiredCapacity", group.arn)
    desired = int(required(ctx, params, "DesiredCapacity"))
    if desired > group.max_size:
        raise _invalid(
            f"New SetDesiredCapacity value {desired} is above max value {group.max_size} for the AutoScalingGroup."
        )
    if desired < group.min_size:
        raise _invalid(
            f"New SetDesiredCapacity value {desired} is below min value {group.min_size} for the AutoScalingGroup."
        )
    group.desired_capacity = desired
    _reconcile(ctx, group)
    return {}


def _group_out(ctx: Ctx, g: AutoScalingGroup) -> dict[str, Any]:
    ec2 = ctx.world.account(ctx.account).region(ctx.region).ec2
    instances = []
    for iid in g.instances:
        inst = ec2.instances.get(iid)
        if inst is None:
            continue
        item: dict[str, Any] = {
            "InstanceId": iid,
            "InstanceType": inst.instance_type,
            "AvailabilityZone": inst.availability_zone,
            "LifecycleState": "InService" if inst.state is InstanceState.RUNNING else "Pending",
            "HealthStatus": "Healthy",
            "ProtectedFromScaleIn": False,
        }
        if g.launch_template:
            item["LaunchTemplate"] = dict(g.launch_template)
        if g.launch_configuration:
            item["LaunchConfigurationName"] = g.launch_configuration
        instances.append(item)
    out: dict[str, Any] = {"AutoScalingGroupName": g.name, "AutoScalingGroupARN": g.arn}
    if g.launch_template:
        out["LaunchTemplate"] = dict(g.launch_template)
    if g.launch_configuration:
        out["LaunchConfigurationName"] = g.launch_configuration
    out.update(
        {
            "MinSize": g.min_size,
            "MaxSize": g.max_size,
            "DesiredCapacity": g.desired_capacity,
            "DefaultCooldown": 300,
            "AvailabilityZones": list(g.availability_zones),
            "LoadBalancerNames": [],
            "TargetGroupARNs": [],
            "HealthCheckType": "EC2",
            "HealthCheckGracePeriod": 300,
            "Instances": instances,
            "CreatedTime": _when(g.created_time),
            "SuspendedProcesses": [],
            "EnabledMetrics": [],
            "Tags": [
                {
                    "ResourceId": g.name,
                    "ResourceType": "auto-scaling-group",
                    "Key": k,
                    "Value": v,
                    "PropagateAtLaunch": True,
                }
                for k, v in sorted(g.tags.items())
            ],
            "TerminationPolicies": ["Default"],
            "NewInstancesProtectedFromScaleIn": False,
            "ServiceLinkedRoleARN": g.service_linked_role_arn,
        }
    )
    return out


def describe_auto_scaling_groups(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    ctx.authorize("autoscaling:DescribeAutoScalingGroups", "*")
    groups = _asg(ctx).groups
    names = [str(n) for n in params.get("AutoScalingGroupNames") or []]
    chosen = [groups[n] for n in names if n in groups] if names else [groups[n] for n in sorted(groups)]
    return {"AutoScalingGroups": [_group_out(ctx, g) for g in chosen]}


def describe_scaling_activities(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    ctx.authorize("autoscaling:DescribeScalingActivities", "*")
    groups = _asg(ctx).groups
    name = params.get("AutoScalingGroupName")
    chosen = [groups[name]] if name in groups else [] if name else list(groups.values())
    ids = {str(i) for i in params.get("ActivityIds") or []}
    found = [(g, a) for g in chosen for a in g.activities if not ids or a.activity_id in ids]
    # Newest first (https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_DescribeScalingActivities.html);
    # within a second, later-recorded first.
    order = {id(a): n for n, (_, a) in enumerate(found)}
    found.sort(key=lambda ga: (ga[1].start_time, order[id(ga[1])]), reverse=True)
    limit = _int(params, "MaxRecords") or 100
    out = []
    for g, a in found[:limit]:
        item = a.to_json()
        item["StartTime"] = _when(a.start_time)
        item["EndTime"] = _when(a.end_time)
        item["AutoScalingGroupARN"] = g.arn
        out.append(item)
    return {"Activities": out}


def create_launch_configuration(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    name = str(required(ctx, params, "LaunchConfigurationName"))
    arn_any = (
        f"arn:{ctx.world.partition}:autoscaling:{ctx.region}:{ctx.account}:launchConfiguration:*"
        f":launchConfigurationName/{name}"
    )
    ctx.authorize("autoscaling:CreateLaunchConfiguration", arn_any)
    asg = _asg(ctx)
    if name in asg.launch_configurations:
        raise ApiError(
            "AlreadyExists",
            "Launch Configuration by this name already exists - "
            f"A launch configuration already exists with the name {name}",
        )
    image_id = str(required(ctx, params, "ImageId"))
    instance_type = str(required(ctx, params, "InstanceType"))
    try:
        devices = parse_block_devices(
            params.get("BlockDeviceMappings"), "CreateLaunchConfiguration", "BlockDeviceMappings"
        )
    except InputError as exc:
        raise _invalid(f"{exc.path}: {exc.message}") from exc
    asg.launch_configurations[name] = LaunchConfiguration(
        name=name,
        arn=arn_any.replace(":*:", f":{ctx.world.ids.request_id()}:"),
        image_id=image_id,
        instance_type=instance_type,
        block_devices=devices,
        created_time=iso(ctx.world.clock.now()),
        spot_price=str(params["SpotPrice"]) if params.get("SpotPrice") else None,
    )
    ctx.changed = True
    return {}


def describe_launch_configurations(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    ctx.authorize("autoscaling:DescribeLaunchConfigurations", "*")
    configs = _asg(ctx).launch_configurations
    names = [str(n) for n in params.get("LaunchConfigurationNames") or []]
    chosen = [configs[n] for n in names if n in configs] if names else [configs[n] for n in sorted(configs)]
    return {
        "LaunchConfigurations": [
            {
                "LaunchConfigurationName": c.name,
                "LaunchConfigurationARN": c.arn,
                "ImageId": c.image_id,
                "InstanceType": c.instance_type,
                "KeyName": "",
                "SecurityGroups": [],
                "KernelId": "",
                "RamdiskId": "",
                "UserData": "",
                "BlockDeviceMappings": [d.to_json() for d in c.block_devices],
                "InstanceMonitoring": {"Enabled": True},
                "CreatedTime": _when(c.created_time),
                "EbsOptimized": False,
                **({"SpotPrice": c.spot_price} if c.spot_price else {}),
            }
            for c in chosen
        ]
    }


HANDLERS: dict[str, Handler] = {
    "CreateAutoScalingGroup": create_auto_scaling_group,
    "UpdateAutoScalingGroup": update_auto_scaling_group,
    "SetDesiredCapacity": set_desired_capacity,
    "DescribeAutoScalingGroups": describe_auto_scaling_groups,
    "DescribeScalingActivities": describe_scaling_activities,
    "CreateLaunchConfiguration": create_launch_configuration,
    "DescribeLaunchConfigurations": describe_launch_configurations,
}
