"""CreateFleet and RequestSpotInstances: from their CLI input to the instances they launch, and as whom.

- An ``instant`` EC2 Fleet launches synchronously as the caller: "An instant EC2 Fleet does not require this
  role" (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ec2-fleet-prerequisites.html), so EC2 makes the KMS
  calls as the caller through EC2, as for RunInstances (assumption instant-fleet-caller).
- A ``maintain`` or ``request`` fleet is launched by EC2 Fleet as ``AWSServiceRoleForEC2Fleet`` (same page).
- A Spot Instance request is launched as ``AWSServiceRoleForEC2Spot``
  (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/service-linked-roles-spot-instance-requests.html).

The caller's own request is authorized first (``ec2:CreateFleet``, ``ec2:RequestSpotInstances``); refused, it
fails with UnauthorizedOperation and nothing is launched.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from kmslaunch.policy.errors import InputError
from kmslaunch.world.world import World

from .common import CLI_COMMANDS, Ec2Request, cli_user_agent, principal, wire_request
from .errors import Ec2Error
from .params import RunParams, parse_run_params
from .result import LaunchKind, LaunchResult
from .run import fleet_launch, run_instances

FLEET_TYPES = ("instant", "maintain", "request")


def _expect(value: object, kind: type, source: str, path: str, what: str) -> Any:
    if value is None:
        raise InputError(source, path, f"missing: expected {what}")
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise InputError(source, path, f"expected {what}, got {type(value).__name__}")
    return value


def _count(value: int, source: str, path: str) -> int:
    """How many instances: at least 1, and at most what kmslaunch simulates in one launch."""
    if not 1 <= value <= 50:
        raise InputError(source, path, f"{value}: kmslaunch simulates 1 to 50 instances per launch")
    return value


def fleet_type(params: Mapping[str, Any], source: str) -> str:
    """CreateFleet's ``Type``: ``maintain`` when absent, as the API's default
    (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateFleet.html)."""
    value = _expect(params.get("Type", "maintain"), str, source, "Type", "instant, maintain or request")
    if value not in FLEET_TYPES:
        raise InputError(source, "Type", f"{value!r} is not one of {', '.join(FLEET_TYPES)}")
    return str(value)


def parse_fleet_params(raw: object, source: str) -> RunParams:
    """The launch a CreateFleet request makes: its first launch template config (and first override), for
    TotalTargetCapacity instances (assumption fleet-first-override)."""
    data = _expect(raw, Mapping, source, "", "a JSON object (create-fleet --cli-input-json)")
    configs = _expect(data.get("LaunchTemplateConfigs"), list, source, "LaunchTemplateConfigs", "a list")
    if not configs:
        raise InputError(source, "LaunchTemplateConfigs", "needs at least one launch template config")
    first = _expect(configs[0], Mapping, source, "LaunchTemplateConfigs[0]", "an object")
    spec_path = "LaunchTemplateConfigs[0].LaunchTemplateSpecification"
    spec = _expect(first.get("LaunchTemplateSpecification"), Mapping, source, spec_path, "an object")
    overrides = first.get("Overrides") or [{}]
    override = _expect(
        _expect(overrides, list, source, "LaunchTemplateConfigs[0].Overrides", "a list")[0],
        Mapping,
        source,
        "LaunchTemplateConfigs[0].Overrides[0]",
        "an object",
    )
    capacity = _expect(
        data.get("TargetCapacitySpecification"), Mapping, source, "TargetCapacitySpecification", "an object"
    )
    count = _expect(
        capacity.get("TotalTargetCapacity"),
        int,
        source,
        "TargetCapacitySpecification.TotalTargetCapacity",
        "a whole number",
    )
    _count(count, source, "TargetCapacitySpecification.TotalTargetCapacity")
    run: dict[str, Any] = {
        "LaunchTemplate": {k: v for k, v in spec.items() if k in ("LaunchTemplateId", "LaunchTemplateName", "Version")},
        "MinCount": count,
        "MaxCount": count,
    }
    for name in ("ImageId", "InstanceType"):
        if override.get(name) is not None:
            run[name] = override[name]
    if override.get("AvailabilityZone"):
        run["Placement"] = {"AvailabilityZone": override["AvailabilityZone"]}
    if data.get("DryRun") is not None:
        run["DryRun"] = data["DryRun"]
    return parse_run_params(run, source)


def create_fleet(
    world: World,
    account: str,
    region: str,
    params: Mapping[str, Any],
    caller: str | None,
    source_ip: str | None = None,
    source: str = "create-fleet parameters",
) -> LaunchResult:
    """``aws ec2 create-fleet``: an instant fleet as the caller, a maintain or request fleet as EC2 Fleet."""
    kind_of = fleet_type(params, source)
    run = parse_fleet_params(params, source)
    if kind_of == "instant":
        if not caller:
            raise InputError(source, "Type", "an instant fleet launches as its caller: name it with --as")
        return run_instances(
            world,
            account,
            region,
            run,
            caller,
            source_ip=source_ip,
            user_agent=cli_user_agent("create-fleet"),
            kind=LaunchKind.CREATE_FLEET,
            operation="CreateFleet",
            # An instant fleet needs the caller's ec2:CreateFleet and the permissions to launch
            # (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ec2-fleet-prerequisites.html).
            checks=(("ec2:CreateFleet", "fleet/*"), ("ec2:RunInstances", "instance/*")),
            request=wire_request(params),
        )
    refused = _caller_request(
        world,
        LaunchKind.EC2_FLEET,
        "CreateFleet",
        ("ec2:CreateFleet", "fleet/*"),
        params,
        caller,
        source_ip,
        (account, region),
    )
    if refused is not None:
        return refused
    return fleet_launch(world, account, region, dataclasses.replace(run, dry_run=False), LaunchKind.EC2_FLEET)


def parse_spot_params(raw: object, source: str) -> RunParams:
    """The launch a RequestSpotInstances request makes: its LaunchSpecification, InstanceCount times."""
    data = _expect(raw, Mapping, source, "", "a JSON object (request-spot-instances --cli-input-json)")
    spec = _expect(data.get("LaunchSpecification"), Mapping, source, "LaunchSpecification", "an object")
    count = _count(
        _expect(data.get("InstanceCount", 1), int, source, "InstanceCount", "a whole number"), source, "InstanceCount"
    )
    run: dict[str, Any] = {"MinCount": count, "MaxCount": count}
    for name in ("ImageId", "InstanceType", "BlockDeviceMappings", "Placement", "DryRun"):
        if spec.get(name) is not None:
            run[name] = spec[name]
    if data.get("DryRun") is not None:
        run["DryRun"] = data["DryRun"]
    try:
        return parse_run_params(run, source)
    except InputError as exc:
        # The paths are those of the LaunchSpecification, where the values came from.
        raise InputError(source, f"LaunchSpecification.{exc.path}".rstrip("."), exc.message) from exc


def request_spot_instances(
    world: World,
    account: str,
    region: str,
    params: Mapping[str, Any],
    caller: str | None,
    source_ip: str | None = None,
    source: str = "request-spot-instances parameters",
) -> LaunchResult:
    """``aws ec2 request-spot-instances``: the caller's request, then the instances launched as the Spot role."""
    run = parse_spot_params(params, source)
    refused = _caller_request(
        world,
        LaunchKind.SPOT,
        "RequestSpotInstances",
        ("ec2:RequestSpotInstances", "spot-instances-request/*"),
        params,
        caller,
        source_ip,
        (account, region),
    )
    if refused is not None:
        return refused
    return fleet_launch(world, account, region, dataclasses.replace(run, dry_run=False), LaunchKind.SPOT)


def _caller_request(
    world: World,
    kind: LaunchKind,
    operation: str,
    check: tuple[str, str],
    params: Mapping[str, Any],
    caller: str | None,
    source_ip: str | None,
    where: tuple[str, str],
) -> LaunchResult | None:
    """EC2's authorization of the caller's own request, when the caller is named: the refusal (or DryRun's
    answer), or None to go on with the service's launch."""
    if not caller:
        if params.get("DryRun") is True:
            # DryRun only checks the caller's permissions: without a caller there is nothing to answer.
            raise InputError(f"{operation} parameters", "DryRun", "checks the caller's permissions: name it with --as")
        return None
    who = principal(world, caller)
    account, region = where
    req = Ec2Request(
        world,
        kind,
        operation,
        who,
        account,
        region,
        wire_request(params),
        source_ip,
        cli_user_agent(CLI_COMMANDS[kind]),
        dry_run=params.get("DryRun") is True,
    )
    try:
        req.check(check[0], req.arn(check[1]))
    except Ec2Error as exc:
        return req.rejected(exc)
    return None
