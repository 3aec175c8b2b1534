"""A ``World`` written as a snapshot directory: the files the AWS CLI would have printed, in its shapes.

``load_snapshot(save_snapshot(world))`` gives the same world, except for what the CLI outputs do not carry
(listed in the package docstring); saving the loaded world again gives the same bytes. What the world marks
unknown is not written, so it stays unknown.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from kmslaunch.launch.views import instance_json
from kmslaunch.snapshot import layout as L
from kmslaunch.snapshot.errors import Problem, SnapshotError
from kmslaunch.snapshot.jsonio import dumps
from kmslaunch.snapshot.layout import LT_ID_TAG, LT_VERSION_TAG
from kmslaunch.world.autoscaling import AutoScaling
from kmslaunch.world.cloudtrail import Trail
from kmslaunch.world.documents import Document
from kmslaunch.world.ec2 import Ec2, Image, Instance, LaunchTemplate, Snapshot, Volume, VpcEndpoint
from kmslaunch.world.iam import Group, Iam, ManagedPolicy, Role, User
from kmslaunch.world.kms import Key, Kms
from kmslaunch.world.organizations import RCP, SCP, OrgPolicy
from kmslaunch.world.world import Account, Region, World

Files = dict[tuple[str, ...], Any]


def save_snapshot(
    world: World, path: Path, *, meta: dict[str, Any] | None = None, overwrite: bool = False
) -> list[Path]:
    """Write ``world`` as a snapshot under ``path``; the files written, in order.

    ``path`` must be missing or an empty directory unless ``overwrite`` is set, so that nothing the user had is
    lost; with ``overwrite`` the snapshot's files are replaced and any other file is left as it was. Every path
    is checked to stay inside ``path``: ids taken from the world never name a file outside it.
    """
    root = Path(path)
    if root.exists() and not root.is_dir():
        raise SnapshotError([Problem(str(root), "", "exists and is not a directory")])
    if root.is_dir() and not overwrite and any(root.iterdir()):
        raise SnapshotError([Problem(str(root), "", "is not empty: refusing to write over what is there")])
    files, account_dirs = snapshot_files(world, meta=meta, where=str(root))
    base = root.resolve()
    written = []
    for account_id in account_dirs:
        (root / account_id).mkdir(parents=True, exist_ok=True)  # an account with nothing collected is still listed
    for parts in sorted(files):
        target = root.joinpath(*parts)
        if not target.resolve().is_relative_to(base):
            raise SnapshotError([Problem(str(target), "", f"resolves outside {root}: refusing to write it")])
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(dumps(files[parts]), encoding="utf-8", newline="\n")
        written.append(target)
    return written


def snapshot_files(
    world: World, *, meta: dict[str, Any] | None = None, where: str = "", trail: bool = True
) -> tuple[Files, list[str]]:
    """The snapshot's files as JSON values by path (nothing written), and the account folders it lists.

    Without ``trail`` the CloudTrail files are left out: the endpoint's store keeps the records as rows of their
    own, appended as calls are made, instead of rewriting the whole trail at each change.
    """
    files: Files = {}
    problems: list[Problem] = []
    account_dirs: list[str] = []
    files[(L.META,)] = meta_json(world, meta)
    for account_id in sorted(world.accounts):
        if not L.ACCOUNT_RE.match(account_id):
            problems.append(Problem(where, "", f"account id {account_id!r} is not 12 digits"))
            continue
        account_dirs.append(account_id)
        _account(world, world.accounts[account_id], files, problems, where, trail)
    organization_files(world, files, problems, where)
    if problems:
        raise SnapshotError(problems)
    return files, account_dirs


def meta_json(world: World, meta: dict[str, Any] | None) -> dict[str, Any]:
    given = dict(meta or {})
    listed = given.get("errors")
    errors = (
        [e for e in listed if not (isinstance(e, dict) and e.get("code") == L.NOT_IN_ORG)]
        if isinstance(listed, list)
        else []
    )
    if world.organization.known and world.organization.org_id is None:
        errors.append(
            {
                "command": "aws organizations describe-organization",
                "file": L.ORG_DESCRIBE,
                "code": L.NOT_IN_ORG,
                "message": "Your account is not a member of an organization.",
            }
        )
    out: dict[str, Any] = {"format": L.FORMAT}
    if "collected_at" in given:
        out["collected_at"] = given["collected_at"]
    out["partition"] = world.partition
    out["errors"] = errors
    for k, v in given.items():
        out.setdefault(k, v)
    return out


def _safe(name: str, what: str, problems: list[Problem], root: str) -> bool:
    if L.SAFE_NAME_RE.match(name) and name not in (".", ".."):
        return True
    problems.append(Problem(root, "", f"{what} {name!r} cannot name a file in a snapshot"))
    return False


# -- accounts -------------------------------------------------------------------------------------------------


def _account(world: World, acct: Account, files: Files, problems: list[Problem], root: str, trail: bool = True) -> None:
    a = acct.account_id
    if acct.iam.known:
        files[(a, *L.IAM_DETAILS.split("/"))] = iam_details(acct.iam)
    for name in sorted(acct.regions):
        region_files(world, a, acct.regions[name], files, problems, root, trail)


def region_files(
    world: World, a: str, region: Region, files: Files, problems: list[Problem], root: str, trail: bool = True
) -> None:
    """The files of one account's region (none for a region nothing is known of)."""
    name = region.name
    if uncollected(region):
        return  # nothing known of it: leave it out, so that it loads as unknown again
    if not L.REGION_RE.match(name):
        problems.append(Problem(root, "", f"region {name!r} of account {a} is not a region name"))
        return
    base = (a, name)
    if region.kms.known:
        _kms(world, region.kms, base, files, problems, root)
    _ec2(world, a, region, base, files, problems, root)
    autoscaling_files(region.autoscaling, base, files)
    if trail and region.trail.known:
        files[(*base, *L.TRAIL_EVENTS.split("/"))] = _trail(region.trail)


def uncollected(region: Region) -> bool:
    ec2, asg = region.ec2, region.autoscaling
    return (
        not region.kms.known
        and not ec2.defaults.known
        and not region.trail.known
        and not (ec2.images or ec2.snapshots or ec2.volumes or ec2.instances or ec2.launch_templates)
        and not ec2.vpc_endpoints
        and not (asg.groups or asg.launch_configurations)
    )


def _rel(base: tuple[str, ...], rel: str) -> tuple[str, ...]:
    return (*base, *rel.split("/"))


# -- IAM: get-account-authorization-details ----------------------------------------------------------------------


def iam_details(iam: Iam) -> dict[str, Any]:
    return {
        "UserDetailList": [user_detail(iam, iam.users[n]) for n in sorted(iam.users)],
        "GroupDetailList": [group_detail(iam, iam.groups[n]) for n in sorted(iam.groups)],
        "RoleDetailList": [role_detail(iam, iam.roles[n]) for n in sorted(iam.roles)],
        "Policies": [policy_detail(iam.policies[arn]) for arn in sorted(iam.policies)],
    }


def _inline(docs: dict[str, Document]) -> list[dict[str, Any]]:
    return [{"PolicyName": name, "PolicyDocument": doc.raw} for name, doc in docs.items()]


def attached_policies(iam: Iam, arns: Iterable[str]) -> list[dict[str, str]]:
    out = []
    for arn in arns:
        mp = iam.policies.get(arn)
        out.append({"PolicyName": mp.name if mp else arn.rsplit("/", 1)[-1], "PolicyArn": arn})
    return out


def _tags(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def user_detail(iam: Iam, u: User) -> dict[str, Any]:
    out: dict[str, Any] = {
        "Path": u.path,
        "UserName": u.name,
        "UserId": u.user_id,
        "Arn": u.arn,
        "CreateDate": u.create_date,
        "UserPolicyList": _inline(u.inline),
        "GroupList": list(u.groups),
        "AttachedManagedPolicies": attached_policies(iam, u.attached),
    }
    if u.boundary_arn:
        out["PermissionsBoundary"] = {"PermissionsBoundaryType": "Policy", "PermissionsBoundaryArn": u.boundary_arn}
    if u.tags:
        out["Tags"] = _tags(u.tags)
    return out


def group_detail(iam: Iam, g: Group) -> dict[str, Any]:
    return {
        "Path": g.path,
        "GroupName": g.name,
        "GroupId": g.group_id,
        "Arn": g.arn,
        "CreateDate": g.create_date,
        "GroupPolicyList": _inline(g.inline),
        "AttachedManagedPolicies": attached_policies(iam, g.attached),
    }


def role_detail(iam: Iam, r: Role) -> dict[str, Any]:
    out: dict[str, Any] = {"Path": r.path, "RoleName": r.name, "RoleId": r.role_id, "Arn": r.arn}
    out["CreateDate"] = r.create_date
    if r.trust is not None:
        out["AssumeRolePolicyDocument"] = r.trust.raw
    out["InstanceProfileList"] = []
    out["RolePolicyList"] = _inline(r.inline)
    out["AttachedManagedPolicies"] = attached_policies(iam, r.attached)
    if r.boundary_arn:
        out["PermissionsBoundary"] = {"PermissionsBoundaryType": "Policy", "PermissionsBoundaryArn": r.boundary_arn}
    if r.tags:
        out["Tags"] = _tags(r.tags)
    return out


def policy_detail(p: ManagedPolicy) -> dict[str, Any]:
    return {
        "PolicyName": p.name,
        "PolicyId": p.policy_id,
        "Arn": p.arn,
        "Path": p.path,
        "DefaultVersionId": p.default_version_id,
        "AttachmentCount": p.attachment_count,
        "IsAttachable": True,
        # Only the default version is kept: it is the one IAM evaluates.
        "PolicyVersionList": [
            {"Document": p.document.raw, "VersionId": p.default_version_id, "IsDefaultVersion": True}
        ],
    }


# -- KMS ----------------------------------------------------------------------------------------------------------


def _kms(world: World, kms: Kms, base: tuple[str, ...], files: Files, problems: list[Problem], root: str) -> None:
    kms_aliases(world, kms, base, files)
    for key_id in sorted(kms.keys):
        if _safe(key_id, "key id", problems, root):
            key_files(kms.keys[key_id], (*_rel(base, L.KMS_KEYS), key_id), files)


def kms_aliases(world: World, kms: Kms, base: tuple[str, ...], files: Files) -> None:
    account, region = base
    files[_rel(base, L.KMS_ALIASES)] = {
        "Aliases": [
            {
                "AliasName": alias,
                "AliasArn": f"arn:{world.partition}:kms:{region}:{account}:{alias}",
                "TargetKeyId": kms.aliases[alias],
            }
            for alias in sorted(kms.aliases)
        ]
    }


def key_files(key: Key, folder: tuple[str, ...], files: Files) -> None:
    files[(*folder, L.DESCRIBE_KEY)] = {"KeyMetadata": key.describe()}
    if key.policy_known:
        files[(*folder, L.KEY_POLICY)] = {"Policy": key.policy.text(), "PolicyName": "default"}
    if key.grants_known:
        files[(*folder, L.LIST_GRANTS)] = {"Grants": [g.to_json() for g in key.grants], "Truncated": False}


# -- EC2 ----------------------------------------------------------------------------------------------------------


def _ec2(
    world: World, account: str, region: Region, base: tuple[str, ...], files: Files, problems: list[Problem], root: str
) -> None:
    ec2_shared(world, account, region, base, files)
    ec2 = region.ec2
    files[_rel(base, L.EC2_VOLUMES)] = {"Volumes": [volume_json(ec2.volumes[v]) for v in sorted(ec2.volumes)]}
    files[_rel(base, L.EC2_INSTANCES)] = {
        "Reservations": [reservation_json(account, ec2, ec2.instances[i]) for i in sorted(ec2.instances)]
    }
    ec2_templates(ec2, base, files, problems, root)
    ec2_settings(ec2, base, files)


def ec2_shared(world: World, account: str, region: Region, base: tuple[str, ...], files: Files) -> None:
    """describe-images and describe-snapshots of ``account``: its own, and those other accounts share with it."""
    ec2 = region.ec2
    images = dict(ec2.images)
    snapshots = dict(ec2.snapshots)
    # An image (snapshot) another account of the world shares with this one is in this account's describe-images
    # (describe-snapshots) too, as the CLI lists it; loading puts the permission back on the owner's copy.
    for other in world.accounts.values():
        there = other.regions.get(region.name)
        if other.account_id == account or there is None:
            continue
        for image in there.ec2.images.values():
            if account in image.launch_permissions:
                images.setdefault(image.image_id, image)
        for snap in there.ec2.snapshots.values():
            if account in snap.create_volume_permissions:
                snapshots.setdefault(snap.snapshot_id, snap)
    files[_rel(base, L.EC2_IMAGES)] = {"Images": [_image(images[i]) for i in sorted(images)]}
    files[_rel(base, L.EC2_SNAPSHOTS)] = {"Snapshots": [_snapshot(snapshots[s]) for s in sorted(snapshots)]}


def ec2_templates(ec2: Ec2, base: tuple[str, ...], files: Files, problems: list[Problem], root: str) -> None:
    templates = [ec2.launch_templates[t] for t in sorted(ec2.launch_templates)]
    files[_rel(base, L.EC2_TEMPLATES)] = {"LaunchTemplates": [_template(t) for t in templates]}
    for t in templates:
        if _safe(t.template_id, "launch template id", problems, root):
            files[(*_rel(base, L.EC2_TEMPLATE_VERSIONS), f"{t.template_id}.json")] = _template_versions(t)


def ec2_settings(ec2: Ec2, base: tuple[str, ...], files: Files) -> None:
    """The region's EBS encryption defaults and VPC endpoints."""
    if ec2.defaults.known or ec2.defaults.by_default_known:
        files[_rel(base, L.EBS_BY_DEFAULT)] = {
            "EbsEncryptionByDefault": ec2.defaults.encryption_by_default,
            "SseType": "sse-ebs",
        }
    if ec2.defaults.known:
        files[_rel(base, L.EBS_DEFAULT_KEY)] = {"KmsKeyId": ec2.defaults.default_kms_key_id}
    # No endpoints and an uncollected file mean the same to kmslaunch (no launch depends on them): written when any.
    if ec2.vpc_endpoints_known and ec2.vpc_endpoints:
        files[_rel(base, L.EC2_VPC_ENDPOINTS)] = {
            "VpcEndpoints": [_vpc_endpoint(ec2.vpc_endpoints[e]) for e in sorted(ec2.vpc_endpoints)]
        }


def _vpc_endpoint(e: VpcEndpoint) -> dict[str, Any]:
    out: dict[str, Any] = {
        "VpcEndpointId": e.endpoint_id,
        "VpcEndpointType": e.endpoint_type,
        "VpcId": e.vpc_id,
        "ServiceName": e.service_name,
        "State": e.state,
    }
    if e.policy is not None:
        # DescribeVpcEndpoints returns the policy as a JSON string.
        out["PolicyDocument"] = json.dumps(e.policy.raw)
    if e.owner_id:
        out["OwnerId"] = e.owner_id
    if e.creation_timestamp:
        out["CreationTimestamp"] = e.creation_timestamp
    return out


def _image(i: Image) -> dict[str, Any]:
    return {
        "Architecture": i.architecture,
        "CreationDate": i.creation_date,
        "ImageId": i.image_id,
        "ImageType": "machine",
        "Public": i.public,
        "OwnerId": i.owner,
        "State": i.state,
        "BlockDeviceMappings": [spec.to_json() for spec in i.block_devices],
        "Description": i.description,
        "Name": i.name,
        "RootDeviceName": i.root_device_name,
        "RootDeviceType": "ebs",
    }


def _snapshot(s: Snapshot) -> dict[str, Any]:
    out: dict[str, Any] = {"Description": s.description, "Encrypted": s.encrypted}
    if s.kms_key_id:
        out["KmsKeyId"] = s.kms_key_id
    out.update(
        {
            "OwnerId": s.owner,
            "Progress": "100%" if s.state == "completed" else "",
            "SnapshotId": s.snapshot_id,
            "StartTime": s.start_time,
            "State": s.state,
            "VolumeId": s.volume_id,
            "VolumeSize": s.volume_size,
        }
    )
    return out


def volume_json(v: Volume) -> dict[str, Any]:
    out: dict[str, Any] = {
        "Attachments": [
            {
                "AttachTime": a.attach_time,
                "Device": a.device,
                "InstanceId": a.instance_id,
                "State": a.state,
                "VolumeId": v.volume_id,
                "DeleteOnTermination": a.delete_on_termination,
            }
            for a in v.attachments
        ],
        "AvailabilityZone": v.availability_zone,
        "CreateTime": v.create_time,
        "Encrypted": v.encrypted,
    }
    if v.kms_key_id:
        out["KmsKeyId"] = v.kms_key_id
    out.update(
        {
            "Size": v.size,
            "SnapshotId": v.snapshot_id or "",
            "State": v.state,
            "VolumeId": v.volume_id,
            "VolumeType": v.volume_type,
        }
    )
    return out


def reservation_json(account: str, ec2: Ec2, inst: Instance) -> dict[str, Any]:
    # The world does not keep reservations: one per instance, with an id derived from the instance's.
    rid = "r-0" + hashlib.sha256(inst.instance_id.encode()).hexdigest()[:16]
    return {"Groups": [], "Instances": [_instance(ec2, inst)], "OwnerId": account, "ReservationId": rid}


def _instance(ec2: Ec2, inst: Instance) -> dict[str, Any]:
    """describe-instances' element for an instance: the view the simulator shows, plus what only a collected
    account carries (its client token, and the tags EC2 puts on instances launched from a template)."""
    out = instance_json(inst, ec2)
    out["ClientToken"] = inst.client_token or ""
    tags = dict(inst.tags)
    template = inst.launch_template
    if template and LT_ID_TAG not in tags:
        # EC2 tags an instance launched from a template with the template's id and version.
        lt = ec2.template(template.get("LaunchTemplateId"), template.get("LaunchTemplateName"))
        if lt is not None:
            tags[LT_ID_TAG] = lt.template_id
            tags[LT_VERSION_TAG] = template.get("Version") or str(lt.default_version)
    if tags:
        out["Tags"] = _tags(tags)
    return out


def _template(t: LaunchTemplate) -> dict[str, Any]:
    return {
        "CreateTime": t.create_time,
        "CreatedBy": t.created_by,
        "DefaultVersionNumber": t.default_version,
        "LatestVersionNumber": t.latest_version,
        "LaunchTemplateId": t.template_id,
        "LaunchTemplateName": t.name,
    }


def _template_versions(t: LaunchTemplate) -> dict[str, Any]:
    return {
        "LaunchTemplateVersions": [
            {
                "CreateTime": t.create_time,
                "CreatedBy": t.created_by,
                "DefaultVersion": n == t.default_version,
                "LaunchTemplateData": t.versions[n],
                "LaunchTemplateId": t.template_id,
                "LaunchTemplateName": t.name,
                "VersionNumber": n,
            }
            for n in sorted(t.versions, reverse=True)  # newest first, as the CLI lists them
        ]
    }


# -- Auto Scaling and CloudTrail ----------------------------------------------------------------------------------


def autoscaling_files(asg: AutoScaling, base: tuple[str, ...], files: Files) -> None:
    groups = [asg.groups[n] for n in sorted(asg.groups)]
    out = []
    for g in groups:
        item: dict[str, Any] = {"AutoScalingGroupName": g.name, "AutoScalingGroupARN": g.arn}
        if g.launch_configuration:
            item["LaunchConfigurationName"] = g.launch_configuration
        if g.launch_template:
            item["LaunchTemplate"] = dict(g.launch_template)
        item.update(
            {
                "MinSize": g.min_size,
                "MaxSize": g.max_size,
                "DesiredCapacity": g.desired_capacity,
                "AvailabilityZones": list(g.availability_zones),
                "Instances": [{"InstanceId": i} for i in g.instances],
                "CreatedTime": g.created_time,
                "ServiceLinkedRoleARN": g.service_linked_role_arn,
            }
        )
        if g.tags:
            item["Tags"] = [
                {
                    "ResourceId": g.name,
                    "ResourceType": "auto-scaling-group",
                    "Key": k,
                    "Value": v,
                    "PropagateAtLaunch": True,
                }
                for k, v in sorted(g.tags.items())
            ]
        out.append(item)
    files[_rel(base, L.ASG_GROUPS)] = {"AutoScalingGroups": out}
    files[_rel(base, L.ASG_CONFIGURATIONS)] = {
        "LaunchConfigurations": [
            {
                "LaunchConfigurationName": c.name,
                "LaunchConfigurationARN": c.arn,
                "ImageId": c.image_id,
                "InstanceType": c.instance_type,
                "BlockDeviceMappings": [spec.to_json() for spec in c.block_devices],
                "CreatedTime": c.created_time,
                **({"SpotPrice": c.spot_price} if c.spot_price else {}),
            }
            for c in (asg.launch_configurations[n] for n in sorted(asg.launch_configurations))
        ]
    }
    # Newest first, as describe-scaling-activities lists them.
    files[_rel(base, L.ASG_ACTIVITIES)] = {"Activities": [a.to_json() for g in groups for a in reversed(g.activities)]}


def _trail(trail: Trail) -> dict[str, Any]:
    return {"Events": [lookup_event(rec) for rec in reversed(trail.events)]}


def lookup_event(rec: dict[str, Any]) -> dict[str, Any]:
    """One ``lookup-events`` entry: a few fields lifted from the record, and the record as a JSON string."""
    who = rec.get("userIdentity")
    who = who if isinstance(who, dict) else {}
    username = who.get("userName")
    if who.get("type") == "AssumedRole" and isinstance(who.get("arn"), str):
        username = who["arn"].rsplit("/", 1)[-1]  # lookup-events shows an assumed role's session name
    out: dict[str, Any] = {"EventId": rec.get("eventID", ""), "EventName": rec.get("eventName", "")}
    out["ReadOnly"] = "true" if rec.get("readOnly") else "false"
    if isinstance(who.get("accessKeyId"), str):
        out["AccessKeyId"] = who["accessKeyId"]
    out["EventTime"] = rec.get("eventTime", "")
    out["EventSource"] = rec.get("eventSource", "")
    if isinstance(username, str):
        out["Username"] = username
    out["CloudTrailEvent"] = json.dumps(rec)
    return out


# -- Organizations ------------------------------------------------------------------------------------------------


def organization_files(world: World, files: Files, problems: list[Problem], root: str) -> None:
    org = world.organization
    if org.known and org.org_id is None:
        return  # not in an organization: recorded in snapshot.json's errors
    p = world.partition
    mgmt = org.management_account
    if org.known and org.org_id is not None:
        desc: dict[str, Any] = {
            "Id": org.org_id,
            "Arn": f"arn:{p}:organizations::{mgmt or ''}:organization/{org.org_id}",
        }
        desc["FeatureSet"] = "ALL"
        if mgmt:
            desc["MasterAccountArn"] = f"arn:{p}:organizations::{mgmt}:account/{org.org_id}/{mgmt}"
            desc["MasterAccountId"] = mgmt
        files[tuple(L.ORG_DESCRIBE.split("/"))] = {"Organization": desc}
    # A member's partial view (no description) keeps what it holds: parents and policies are written anyway.
    if org.root_id:
        kinds = [k for k in (SCP, RCP) if any(pol.type == k for pol in org.policies.values())]
        summary: dict[str, Any] = {"Id": org.root_id}
        if org.org_id is not None:
            summary["Arn"] = f"arn:{p}:organizations::{mgmt or ''}:root/{org.org_id}/{org.root_id}"
        summary["Name"] = "Root"
        summary["PolicyTypes"] = [{"Type": k, "Status": "ENABLED"} for k in kinds]
        files[tuple(L.ORG_ROOTS.split("/"))] = {"Roots": [summary]}
    for child in sorted(org.parents):
        if _safe(child, "organization child id", problems, root):
            parent = org.parents[child]
            is_root = parent == org.root_id if org.root_id else parent.startswith("r-")
            kind = "ROOT" if is_root else "ORGANIZATIONAL_UNIT"
            files[(*L.ORG_PARENTS.split("/"), f"{child}.json")] = {"Parents": [{"Id": parent, "Type": kind}]}
    for target in sorted(org.attachments):
        if not _safe(target, "organization target id", problems, root):
            continue
        for kind in (SCP, RCP):
            # A policy listed but never described keeps its listing (its Id and Type), so it stays unknown.
            summaries = [
                _summary(org.policies[pid]) if pid in org.policies else {"Id": pid, "Type": kind}
                for pid in org.attachments[target]
                if (org.policies[pid].type if pid in org.policies else org.listed_type.get(pid)) == kind
            ]
            if summaries:
                files[(*L.ORG_TARGET_POLICIES.split("/"), kind, f"{target}.json")] = {"Policies": summaries}
    for pid in sorted(org.policies):
        if _safe(pid, "organization policy id", problems, root):
            pol = org.policies[pid]
            files[(*L.ORG_POLICY.split("/"), f"{pid}.json")] = {
                "Policy": {"PolicySummary": _summary(pol), "Content": pol.document.text()}
            }


def _summary(pol: OrgPolicy) -> dict[str, Any]:
    return {
        "Id": pol.policy_id,
        "Arn": pol.arn,
        "Name": pol.name,
        "Description": pol.description,
        "Type": pol.type,
        "AwsManaged": pol.aws_managed,
    }
