"""The launch paths a plan creates or changes, each as the request ``simulate`` would make: an Auto Scaling
group (or an EKS managed node group's) launching as its service-linked role, an instance, an EC2 Fleet, a Spot
Fleet, a volume; a launch made by the identity ``terraform apply`` runs as needs that identity (``--as``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kmslaunch.launch.request import LaunchRequest
from kmslaunch.launch.result import LaunchKind
from kmslaunch.world.autoscaling import AutoScalingGroup, default_slr_arn
from kmslaunch.world.builder import add_service_linked_role
from kmslaunch.world.clock import iso
from kmslaunch.world.ec2 import LaunchTemplate
from kmslaunch.world.unknowns import Could
from kmslaunch.world.unknowns import Unknown as Fact

from .model import PlannedResource

if TYPE_CHECKING:
    from .resolve import Applier

# EKS's default disk for a node group without a launch template (CreateNodegroup diskSize,
# https://docs.aws.amazon.com/eks/latest/APIReference/API_CreateNodegroup.html).
EKS_DEFAULT_DISK = 20
AS_HINT = "give --as the ARN terraform apply runs as (the role or user of the pipeline)"


@dataclass(frozen=True)
class Launch:
    """One launch path of the plan: the resource that launches, the request (None when it cannot be simulated,
    ``note`` says why), and the addresses the launch reads (its template, its role), for facts and reports."""

    address: str
    what: str  # auto-scaling-group, eks-nodegroup, instance, ec2-fleet, spot-fleet, ebs-volume, launch-template
    request: LaunchRequest | None
    depends: tuple[str, ...]
    note: str = ""


def build_launches(ap: Applier, caller: str | None) -> list[Launch]:
    """The plan's launch paths, its groups added to the world (a node group as the group EKS makes)."""
    out: list[Launch] = []
    used_templates: set[str] = set()
    builders = {
        "autoscaling_group": _asg,
        "eks_nodegroup": _nodegroup,
        "instance": _instance,
        "ec2_fleet": _fleet,
        "spot_fleet": _spot_fleet,
        "ebs_volume": _volume,
    }
    for res in ap.plan.resources:
        build = builders.get(res.kind)
        if build is None or res.action in ("read", "delete"):
            if build is not None and res.kind in ("autoscaling_group",) and res.action == "delete":
                name = ap.out.identities[res.address]["name"]
                ap.world.account(ap.account).region(ap.region).autoscaling.groups.pop(name, None)
            continue
        launch = build(ap, res, caller)
        used_templates |= set(launch.depends)
        if res.action == "no-op" and not any(_changed(ap, d) for d in launch.depends):
            continue  # neither it nor what it launches with changes
        out.append(launch)
    for res in ap.plan.resources:
        if res.kind == "launch_template" and res.action in ("create", "update") and res.address not in used_templates:
            out.append(_template(ap, res, caller))
    return out


def _changed(ap: Applier, address: str) -> bool:
    res = ap.out.by_address.get(address)
    return res is not None and res.action in ("create", "update", "delete")


def _address_of(ap: Applier, kind: str, **match: str) -> str | None:
    for address, ident in ap.out.identities.items():
        res = ap.out.by_address[address]
        if res.kind == kind and all(ident.get(k) == v for k, v in match.items() if v):
            return address
    return None


def _template_spec(ap: Applier, spec: Any, holder: str) -> tuple[dict[str, str], str | None]:
    """A launch template specification resolved, and the address of the template when the plan makes it."""
    got = ap.concrete(spec or {}, holder)
    out = {k: str(v) for k, v in got.items() if v is not None and k in ("LaunchTemplateId", "LaunchTemplateName")}
    out["Version"] = str(got.get("Version") or "$Default")
    address = None
    if "LaunchTemplateId" in out:
        address = _address_of(ap, "launch_template", id=out["LaunchTemplateId"])
    elif "LaunchTemplateName" in out:
        address = _address_of(ap, "launch_template", name=out["LaunchTemplateName"])
    return out, address


def _keys_of_template(ap: Applier, spec: dict[str, str]) -> None:
    """Make the keys a snapshot's template names exist (placeholders when neither plan nor snapshot has them)."""
    ec2 = ap.world.account(ap.account).region(ap.region).ec2
    lt = ec2.template(spec.get("LaunchTemplateId"), spec.get("LaunchTemplateName"))
    data = lt.data(spec.get("Version")) if lt is not None else None
    for m in (data or {}).get("BlockDeviceMappings") or []:
        key = (m.get("Ebs") or {}).get("KmsKeyId")
        if isinstance(key, str):
            ap.key(key, "")


def _ensure_slr(ap: Applier, arn: str, holder: str) -> str | None:
    """Auto Scaling creates AWSServiceRoleForAutoScaling with the account's first group; a custom-suffix role
    must exist already (https://docs.aws.amazon.com/autoscaling/ec2/userguide/autoscaling-service-linked-role.html)."""
    name = arn.rsplit("/", 1)[-1]
    iam = ap.world.account(ap.account).iam
    address = _address_of(ap, "iam_service_linked_role", arn=arn)
    if name not in iam.roles:
        if name == "AWSServiceRoleForAutoScaling":
            add_service_linked_role(ap.world, ap.account, "autoscaling.amazonaws.com", name)
        elif address is None:
            ap.out.fact(
                holder,
                Fact(
                    f"service-linked role {arn} (neither in the plan nor in the snapshot)",
                    Could.DENY,
                    f"aws iam get-role --role-name {name}",
                    "identity-policy",
                ),
            )
    return address


def _asg(ap: Applier, res: PlannedResource, caller: str | None) -> Launch:
    ident = ap.out.identities[res.address]
    v = res.values
    mixed = v.get("MixedInstancesPolicy") or {}
    raw_spec = v.get("LaunchTemplate") or (mixed.get("LaunchTemplate") or {}).get("LaunchTemplateSpecification")  # type: ignore[attr-defined]
    depends = [res.address]
    spec: dict[str, str] | None = None
    if raw_spec:
        spec, lt_address = _template_spec(ap, raw_spec, res.address)
        depends += [lt_address] if lt_address else []
        _keys_of_template(ap, spec)
    lc = ap.text(res, "LaunchConfigurationName")
    lc_address = _address_of(ap, "launch_configuration", name=lc) if lc else None
    depends += [lc_address] if lc_address else []
    slr = ap.text(res, "ServiceLinkedRoleARN") or default_slr_arn(ap.account, None, ap.partition)
    slr_address = _ensure_slr(ap, slr, res.address)
    depends += [slr_address] if slr_address else []
    return _group(ap, res, ident["name"], ident["arn"], slr, spec, lc, {}, depends, "auto-scaling-group")


def _group(
    ap: Applier,
    res: PlannedResource,
    name: str,
    arn: str,
    slr: str,
    spec: dict[str, str] | None,
    lc: str | None,
    tags: dict[str, str],
    depends: list[str],
    what: str,
) -> Launch:
    ap.world.account(ap.account).region(ap.region).autoscaling.groups[name] = AutoScalingGroup(
        name=name,
        arn=arn,
        service_linked_role_arn=slr,
        launch_template=spec,
        launch_configuration=lc,
        availability_zones=[f"{ap.region}a"],
        created_time=iso(ap.world.clock.now()),
        tags=tags,
    )
    req = LaunchRequest(LaunchKind.AUTO_SCALING, ap.account, ap.region, group=name, source=res.address)
    return Launch(res.address, what, req, tuple(dict.fromkeys(depends)))


def _nodegroup(ap: Applier, res: PlannedResource, caller: str | None) -> Launch:
    """The Auto Scaling group EKS makes for a managed node group, tagged as EKS tags it; without a launch
    template, the one EKS makes: its AMI's root volume, of ``DiskSize`` GiB, unencrypted unless EBS encrypts by
    default (assumption eks-nodegroup-default-template)."""
    ident = ap.out.identities[res.address]
    cluster = ap.text(res, "ClusterName") or "cluster"
    depends = [res.address]
    raw = res.values.get("LaunchTemplate") or {}
    if raw:
        spec, lt_address = _template_spec(
            ap,
            {"LaunchTemplateId": raw.get("id"), "LaunchTemplateName": raw.get("name"), "Version": raw.get("version")},  # type: ignore[attr-defined]
            res.address,
        )
        depends += [lt_address] if lt_address else []
        _keys_of_template(ap, spec)
    else:
        ec2 = ap.world.account(ap.account).region(ap.region).ec2
        image_id = ap.image(f"ami-eks{ident['id'].encode().hex()[:14]}", res.address)
        size = res.values.get("DiskSize") or EKS_DEFAULT_DISK
        data = {"ImageId": image_id, "BlockDeviceMappings": [{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": size}}]}
        lt = LaunchTemplate("lt-eks" + ident["id"].encode().hex()[:12], f"eks-{ident['node_group_name']}", {1: data}, 1)
        ec2.launch_templates[lt.template_id] = lt
        spec = {"LaunchTemplateId": lt.template_id, "Version": "1"}
    slr = default_slr_arn(ap.account, None, ap.partition)
    _ensure_slr(ap, slr, res.address)
    name = f"eks-{ident['node_group_name']}-{ident['id'].encode().hex()[:8]}"
    tags = {"eks:cluster-name": cluster, "eks:nodegroup-name": ident["node_group_name"]}
    arn = f"arn:{ap.partition}:autoscaling:{ap.region}:{ap.account}:autoScalingGroup:{name}"
    return _group(ap, res, name, arn, slr, spec, None, tags, depends, "eks-nodegroup")


def _run_params(ap: Applier, values: Any, res: PlannedResource) -> tuple[dict[str, Any], list[str]]:
    depends = [res.address]
    params: dict[str, Any] = {"MinCount": 1, "MaxCount": 1}
    image_id = ""
    if values.get("LaunchTemplate"):
        spec, lt_address = _template_spec(ap, values["LaunchTemplate"], res.address)
        params["LaunchTemplate"] = spec
        depends += [lt_address] if lt_address else []
        lt = (
            ap.world.account(ap.account)
            .region(ap.region)
            .ec2.template(spec.get("LaunchTemplateId"), spec.get("LaunchTemplateName"))
        )
        data = lt.data(spec["Version"]) if lt else None
        image_id = str((data or {}).get("ImageId") or "")
    if values.get("ImageId") is not None or not image_id:
        image_id = ap.image(values.get("ImageId"), res.address)
        params["ImageId"] = image_id
    if values.get("InstanceType"):
        params["InstanceType"] = ap.concrete(values["InstanceType"], res.address)
    devices = ap.devices(values.get("BlockDeviceMappings"), values.get("RootBlockDevice"), image_id, res.address)
    if devices:
        params["BlockDeviceMappings"] = devices
    if values.get("IamInstanceProfile"):
        params["IamInstanceProfile"] = ap.concrete(values["IamInstanceProfile"], res.address)
    return params, depends


def _as_caller(
    ap: Applier,
    res: PlannedResource,
    what: str,
    kind: LaunchKind,
    params: dict[str, Any],
    depends: list[str],
    caller: str | None,
    form: str = "run-instances",
) -> Launch:
    if caller is None:
        note = f"launched by the identity terraform apply runs as, which the plan does not name: {AS_HINT}"
        return Launch(res.address, what, None, tuple(depends), note)
    req = LaunchRequest(kind, ap.account, ap.region, params, caller, source=res.address, form=form)
    return Launch(res.address, what, req, tuple(dict.fromkeys(depends)))


def _instance(ap: Applier, res: PlannedResource, caller: str | None) -> Launch:
    params, depends = _run_params(ap, res.values, res)
    return _as_caller(ap, res, "instance", LaunchKind.RUN_INSTANCES, params, depends, caller)


def _template(ap: Applier, res: PlannedResource, caller: str | None) -> Launch:
    ident = ap.out.identities[res.address]
    spec = {"LaunchTemplateId": ident["id"], "Version": "$Default"}
    params = {"MinCount": 1, "MaxCount": 1, "LaunchTemplate": spec}
    launch = _as_caller(ap, res, "launch-template", LaunchKind.RUN_INSTANCES, params, [res.address], caller)
    if launch.request is None:
        note = f"nothing in the plan launches this template; to check a RunInstances with it, {AS_HINT}"
        return Launch(res.address, "launch-template", None, launch.depends, note)
    return launch


def _fleet(ap: Applier, res: PlannedResource, caller: str | None) -> Launch:
    configs = res.values.get("LaunchTemplateConfigs") or [{}]
    spec, lt_address = _template_spec(ap, configs[0].get("LaunchTemplateSpecification"), res.address)  # type: ignore[index]
    depends = [res.address] + ([lt_address] if lt_address else [])
    fleet_type = str(res.values.get("Type") or "maintain")
    if caller is not None or fleet_type == "instant":
        params: dict[str, Any] = {
            "Type": fleet_type,
            "LaunchTemplateConfigs": [{"LaunchTemplateSpecification": spec}],
            "TargetCapacitySpecification": {"TotalTargetCapacity": 1, "DefaultTargetCapacityType": "on-demand"},
        }
        return _as_caller(ap, res, "ec2-fleet", LaunchKind.RUN_INSTANCES, params, depends, caller, "create-fleet")
    # A maintain or request fleet launches as AWSServiceRoleForEC2Fleet
    # (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ebs-encryption-requirements.html).
    params = {"MinCount": 1, "MaxCount": 1, "LaunchTemplate": spec}
    req = LaunchRequest(LaunchKind.EC2_FLEET, ap.account, ap.region, params, source=res.address)
    return Launch(res.address, "ec2-fleet", req, tuple(depends))


def _spot_fleet(ap: Applier, res: PlannedResource, caller: str | None) -> Launch:
    config: Any = res.values.get("SpotFleetRequestConfig") or {}
    if config.get("LaunchTemplateConfigs"):
        spec, lt_address = _template_spec(
            ap, config["LaunchTemplateConfigs"][0].get("LaunchTemplateSpecification"), res.address
        )
        params: dict[str, Any] = {"MinCount": 1, "MaxCount": 1, "LaunchTemplate": spec}
        depends = [res.address] + ([lt_address] if lt_address else [])
    else:
        params, depends = _run_params(ap, (config.get("LaunchSpecifications") or [{}])[0], res)
    req = LaunchRequest(LaunchKind.SPOT_FLEET, ap.account, ap.region, params, source=res.address)
    return Launch(res.address, "spot-fleet", req, tuple(depends))


def _volume(ap: Applier, res: PlannedResource, caller: str | None) -> Launch:
    params = dict(ap.concrete(dict(res.values), res.address).items())
    if isinstance(params.get("KmsKeyId"), str):
        ap.key(params["KmsKeyId"], res.address)
    params.setdefault("AvailabilityZone", f"{ap.region}a")
    return _as_caller(ap, res, "ebs-volume", LaunchKind.CREATE_VOLUME, params, [res.address], caller)
