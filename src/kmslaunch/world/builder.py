"""Building worlds in code: the demo, the bundled examples and the tests use these, so that a scenario reads as
the story it tells ("alice has AmazonEC2FullAccess; the key has the default policy")."""

from __future__ import annotations

from typing import Any

from kmslaunch.policy.model import PolicyType
from kmslaunch.world.autoscaling import AutoScalingGroup, LaunchConfiguration, default_slr_arn
from kmslaunch.world.clock import iso
from kmslaunch.world.documents import Document
from kmslaunch.world.ec2 import EbsSpec, Image, LaunchTemplate, Snapshot
from kmslaunch.world.iam import SERVICE_ROLE_PATH, ManagedPolicy, Role, User
from kmslaunch.world.kms import Key, KeyManager, KeyState, default_key_policy, key_document
from kmslaunch.world.world import World

EC2_FULL_ACCESS_ARN = "arn:aws:iam::aws:policy/AmazonEC2FullAccess"
# The EC2 part of AWS's managed policy AmazonEC2FullAccess: ec2:* and nothing of KMS.
EC2_FULL_ACCESS = {
    "Version": "2012-10-17",
    "Statement": [
        {"Action": "ec2:*", "Effect": "Allow", "Resource": "*"},
        {"Effect": "Allow", "Action": "elasticloadbalancing:*", "Resource": "*"},
        {"Effect": "Allow", "Action": "cloudwatch:*", "Resource": "*"},
        {"Effect": "Allow", "Action": "autoscaling:*", "Resource": "*"},
    ],
}


def aws_managed_policy(world: World, account: str, arn: str, document: dict[str, Any]) -> ManagedPolicy:
    """Make an AWS managed policy available to an account (AWS managed policies are global; the world keeps
    a copy in each account's IAM, as get-account-authorization-details lists them)."""
    iam = world.account(account).iam
    if arn not in iam.policies:
        name = arn.rsplit("/", 1)[-1]
        iam.policies[arn] = ManagedPolicy(
            arn, name, Document.parse(document, PolicyType.IDENTITY, name), policy_id=world.ids.unique_id("ANPA")
        )
    return iam.policies[arn]


def add_user(
    world: World,
    account: str,
    name: str,
    *,
    inline: dict[str, dict[str, Any]] | None = None,
    managed: list[str] | None = None,
    boundary: str | None = None,
) -> User:
    iam = world.account(account).iam
    user = User(
        arn=f"arn:{world.partition}:iam::{account}:user/{name}",
        name=name,
        user_id=world.ids.unique_id("AIDA"),
        inline={k: Document.parse(v, PolicyType.IDENTITY, k) for k, v in (inline or {}).items()},
        attached=list(managed or []),
        boundary_arn=boundary,
        create_date=iso(world.clock.now()),
    )
    iam.users[name] = user
    return user


def add_customer_policy(world: World, account: str, name: str, document: dict[str, Any]) -> ManagedPolicy:
    arn = f"arn:{world.partition}:iam::{account}:policy/{name}"
    mp = ManagedPolicy(
        arn, name, Document.parse(document, PolicyType.IDENTITY, name), policy_id=world.ids.unique_id("ANPA")
    )
    world.account(account).iam.policies[arn] = mp
    return mp


def add_role(
    world: World,
    account: str,
    name: str,
    *,
    path: str = "/",
    trust: dict[str, Any] | None = None,
    inline: dict[str, dict[str, Any]] | None = None,
    managed: list[str] | None = None,
) -> Role:
    role = Role(
        arn=f"arn:{world.partition}:iam::{account}:role{path}{name}",
        name=name,
        role_id=world.ids.unique_id("AROA"),
        trust=Document.parse(trust, PolicyType.TRUST, f"{name} trust") if trust else None,
        path=path,
        inline={k: Document.parse(v, PolicyType.IDENTITY, k) for k, v in (inline or {}).items()},
        attached=list(managed or []),
        create_date=iso(world.clock.now()),
    )
    world.account(account).iam.roles[name] = role
    return role


def add_service_linked_role(world: World, account: str, service: str, name: str) -> Role:
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
    }
    return add_role(world, account, name, path=f"{SERVICE_ROLE_PATH}{service}/", trust=trust)


def add_key(
    world: World,
    account: str,
    region: str,
    *,
    policy: dict[str, Any] | None = None,
    alias: str | None = None,
    state: KeyState = KeyState.ENABLED,
    description: str = "",
    key_id: str | None = None,
) -> Key:
    """A customer managed key; without ``policy``, the policy CreateKey gives by default. ``key_id`` fixes the
    id (else the world's id generator makes one)."""
    kms = world.account(account).region(region).kms
    key_id = key_id or world.ids.key_id()
    arn = f"arn:{world.partition}:kms:{region}:{account}:key/{key_id}"
    key = Key(
        key_id=key_id,
        arn=arn,
        account=account,
        region=region,
        policy=key_document(policy or default_key_policy(account, world.partition), arn),
        state=state,
        manager=KeyManager.CUSTOMER,
        description=description,
        creation_date=iso(world.clock.now()),
    )
    kms.keys[key_id] = key
    if alias:
        kms.aliases[alias if alias.startswith("alias/") else f"alias/{alias}"] = key_id
    return key


def add_image(
    world: World,
    account: str,
    region: str,
    *,
    name: str = "app-image",
    encrypted_with: Key | None = None,
    size: int = 8,
    shared_with: list[str] | None = None,
    image_id: str | None = None,
    snapshot_id: str | None = None,
    description: str = "",
) -> Image:
    """An AMI with one root volume snapshot, encrypted with ``encrypted_with`` when given; ``image_id`` and
    ``snapshot_id`` fix the ids (else the world's id generator makes them)."""
    ec2 = world.account(account).region(region).ec2
    snap = Snapshot(
        snapshot_id=snapshot_id or world.ids.ec2("snap"),
        owner=account,
        volume_size=size,
        encrypted=encrypted_with is not None,
        kms_key_id=encrypted_with.arn if encrypted_with else None,
        start_time=iso(world.clock.now()),
        description=f"root volume of {name}",
        create_volume_permissions=list(shared_with or []),
    )
    ec2.snapshots[snap.snapshot_id] = snap
    image = Image(
        image_id=image_id or world.ids.ec2("ami"),
        owner=account,
        name=name,
        description=description,
        block_devices=(EbsSpec("/dev/xvda", snap.snapshot_id, size, "gp3", snap.encrypted or None),),
        launch_permissions=list(shared_with or []),
        creation_date=iso(world.clock.now()),
    )
    ec2.images[image.image_id] = image
    return image


def add_launch_template(world: World, account: str, region: str, name: str, data: dict[str, Any]) -> LaunchTemplate:
    ec2 = world.account(account).region(region).ec2
    lt = LaunchTemplate(world.ids.ec2("lt"), name, {1: data}, 1, iso(world.clock.now()))
    ec2.launch_templates[lt.template_id] = lt
    return lt


def add_auto_scaling_group(
    world: World,
    account: str,
    region: str,
    name: str,
    *,
    launch_template: LaunchTemplate | None = None,
    launch_configuration: LaunchConfiguration | None = None,
    slr_suffix: str | None = None,
) -> AutoScalingGroup:
    asg = world.account(account).region(region).autoscaling
    if launch_configuration is not None:
        asg.launch_configurations[launch_configuration.name] = launch_configuration
    group = AutoScalingGroup(
        name=name,
        arn=f"arn:{world.partition}:autoscaling:{region}:{account}:autoScalingGroup:{world.ids.request_id()}:autoScalingGroupName/{name}",
        service_linked_role_arn=default_slr_arn(account, slr_suffix, world.partition),
        launch_template={"LaunchTemplateId": launch_template.template_id, "Version": "$Default"}
        if launch_template
        else None,
        launch_configuration=launch_configuration.name if launch_configuration else None,
        min_size=0,
        max_size=2,
        desired_capacity=0,
        availability_zones=[f"{region}a"],
        created_time=iso(world.clock.now()),
    )
    asg.groups[name] = group
    role_name = group.service_linked_role_arn.rsplit("/", 1)[-1]
    if role_name not in world.account(account).iam.roles:
        add_service_linked_role(world, account, "autoscaling.amazonaws.com", role_name)
    return group
