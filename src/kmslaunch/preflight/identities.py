"""The identities a plan's resources get before apply: the ARN, id and name each is referred to by, made the
way AWS makes them (an ARN from the account, region and name), and stable placeholders where Terraform knows
them only after apply (assumption preflight-name-after-apply)."""

from __future__ import annotations

import hashlib
import re
import uuid

from .model import PlannedResource

# The service-linked role each service creates for itself, by service principal
# (https://docs.aws.amazon.com/IAM/latest/UserGuide/using-service-linked-roles.html).
SLR_NAMES = {
    "autoscaling.amazonaws.com": "AWSServiceRoleForAutoScaling",
    "ec2fleet.amazonaws.com": "AWSServiceRoleForEC2Fleet",
    "spotfleet.amazonaws.com": "AWSServiceRoleForEC2SpotFleet",
    "spot.amazonaws.com": "AWSServiceRoleForEC2Spot",
    "eks-nodegroup.amazonaws.com": "AWSServiceRoleForAmazonEKSNodegroup",
    "eks.amazonaws.com": "AWSServiceRoleForAmazonEKS",
}


def identity(res: PlannedResource, p: str, a: str, r: str) -> dict[str, str]:
    """The identity a planned resource gets (its ARN, id, name...), by the attribute names Terraform gives them,
    so that a reference to ``aws_kms_key.x.arn`` resolves; ``p``, ``a``, ``r``: partition, account, region."""
    v = res.values
    kind = res.kind
    if kind == "kms_key":
        key_id = text(v.get("KeyId")) or str(uuid.UUID(hashlib.sha256(res.address.encode()).hexdigest()[:32]))
        arn = text(v.get("Arn")) or f"arn:{p}:kms:{r}:{a}:key/{key_id}"
        return {"arn": arn, "key_id": key_id, "id": key_id}
    if kind == "kms_alias":
        name = text(v.get("AliasName")) or f"alias/{placeholder_name(res.address)}"
        return {"name": name, "id": name, "arn": f"arn:{p}:kms:{r}:{a}:{name}"}
    if kind in ("iam_role", "iam_user"):
        name = text(v.get("RoleName" if kind == "iam_role" else "UserName")) or placeholder_name(res.address)
        path = text(v.get("Path")) or "/"
        what = "role" if kind == "iam_role" else "user"
        return {"arn": f"arn:{p}:iam::{a}:{what}{path}{name}", "name": name, "id": name, "unique_id": ""}
    if kind == "iam_policy":
        name = text(v.get("PolicyName")) or placeholder_name(res.address)
        path = text(v.get("Path")) or "/"
        arn = f"arn:{p}:iam::{a}:policy{path}{name}"
        return {"arn": arn, "id": arn, "name": name}
    if kind == "iam_instance_profile":
        name = text(v.get("InstanceProfileName")) or placeholder_name(res.address)
        path = text(v.get("Path")) or "/"
        return {"arn": f"arn:{p}:iam::{a}:instance-profile{path}{name}", "name": name, "id": name}
    if kind == "iam_service_linked_role":
        service = text(v.get("AWSServiceName")) or ""
        name = SLR_NAMES.get(service, "AWSServiceRoleFor" + service.split(".")[0].capitalize())
        suffix = text(v.get("CustomSuffix"))
        name += f"_{suffix}" if suffix else ""
        arn = f"arn:{p}:iam::{a}:role/aws-service-role/{service}/{name}"
        return {"arn": arn, "name": name, "id": arn}
    if kind == "launch_template":
        lt_id = text(v.get("LaunchTemplateId")) or "lt-" + short_id(res.address, 17)
        name = text(v.get("LaunchTemplateName")) or placeholder_name(res.address)
        return {
            "id": lt_id,
            "name": name,
            "arn": f"arn:{p}:ec2:{r}:{a}:launch-template/{lt_id}",
            "latest_version": "1",
            "default_version": "1",
        }
    if kind == "launch_configuration":
        name = text(v.get("LaunchConfigurationName")) or placeholder_name(res.address)
        return {"name": name, "id": name, "arn": f"arn:{p}:autoscaling:{r}:{a}:launchConfiguration:{name}"}
    if kind == "autoscaling_group":
        name = text(v.get("AutoScalingGroupName")) or placeholder_name(res.address)
        return {"name": name, "id": name, "arn": f"arn:{p}:autoscaling:{r}:{a}:autoScalingGroup:{name}"}
    if kind == "eks_nodegroup":
        name = text(v.get("NodegroupName")) or placeholder_name(res.address)
        cluster = text(v.get("ClusterName")) or "cluster"
        return {
            "node_group_name": name,
            "id": f"{cluster}:{name}",
            "arn": f"arn:{p}:eks:{r}:{a}:nodegroup/{cluster}/{name}",
        }
    return {}


def short_id(address: str, n: int) -> str:
    return hashlib.sha256(address.encode()).hexdigest()[:n]


def placeholder_name(address: str) -> str:
    """A name for a resource Terraform names only at apply (``name_prefix``): stable, and the resolver uses it
    everywhere the plan refers to the resource, so that references agree (assumption preflight-name-after-apply)."""
    return "terraform-" + short_id(address, 12)


def text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def strip(address: str) -> str:
    """An address without instance keys (``[0]``, ``["a"]``)."""
    return re.sub(r"\[[^\]]*\]", "", address)
