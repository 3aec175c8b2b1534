"""Snapshots: AWS CLI outputs ⇄ world.

Round trip (builder world → save → load → save: same bytes, same world), missing files marking the right things
unknown, malformed files reported with file and JSON path (cases in tests/fixtures/snapshot/malformed.yaml), a
hand-written two-account snapshot in the CLI's real shapes, and random JSON that must never give a traceback.
"""

from __future__ import annotations

import copy
import glob
import json
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kmslaunch.launch.plan import resolve_key
from kmslaunch.policy.grants import Grant
from kmslaunch.policy.model import PolicyType
from kmslaunch.snapshot import Snapshot, SnapshotError, load_json_file, load_snapshot, save_snapshot
from kmslaunch.world.autoscaling import LaunchConfiguration, ScalingActivity
from kmslaunch.world.builder import (
    EC2_FULL_ACCESS,
    EC2_FULL_ACCESS_ARN,
    add_auto_scaling_group,
    add_customer_policy,
    add_image,
    add_key,
    add_launch_template,
    add_role,
    add_service_linked_role,
    add_user,
    aws_managed_policy,
)
from kmslaunch.world.documents import Document
from kmslaunch.world.ec2 import Attachment, EbsSpec, Instance, Volume, VpcEndpoint
from kmslaunch.world.iam import Group
from kmslaunch.world.instances import InstanceState
from kmslaunch.world.kms import AWS_EBS_ALIAS, Key, KeyManager, KeyState, aws_ebs_key_policy, key_document
from kmslaunch.world.organizations import RCP, SCP, OrgPolicy
from kmslaunch.world.world import World

FIXTURES = Path(__file__).parent / "fixtures" / "snapshot"
A, B, C = "111122223333", "444455556666", "777788889999"
R = "us-east-1"
ALLOW_KMS = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]}
BOUNDARY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["ec2:*", "kms:*"], "Resource": "*"}]}


def build_world() -> World:
    """Two accounts in an organization, and a third whose IAM was not collected."""
    w = World()
    # IAM: a user with inline, managed and group policies and a boundary; roles, one service-linked.
    aws_managed_policy(w, A, EC2_FULL_ACCESS_ARN, EC2_FULL_ACCESS)
    boundary = add_customer_policy(w, A, "dev-boundary", BOUNDARY)
    kms_use = add_customer_policy(w, A, "kms-use", ALLOW_KMS)
    alice = add_user(w, A, "alice", inline={"kms": ALLOW_KMS}, managed=[EC2_FULL_ACCESS_ARN], boundary=boundary.arn)
    alice.tags = {"team": "web"}
    alice.groups = ["devs"]
    w.account(A).iam.groups["devs"] = Group(
        f"arn:aws:iam::{A}:group/devs",
        "devs",
        "AGPAEXAMPLEDEVS00001",
        inline={"extra": Document.parse(ALLOW_KMS, PolicyType.IDENTITY, "extra")},
        attached=[kms_use.arn],
        create_date="2026-01-01T00:00:00Z",
    )
    app = add_role(
        w,
        A,
        "app",
        trust={
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
            ],
        },
        inline={"kms": ALLOW_KMS},
        managed=[kms_use.arn],
    )
    app.boundary_arn = boundary.arn
    app.tags = {"env": "prod"}
    add_service_linked_role(w, A, "spot.amazonaws.com", "AWSServiceRoleForEC2Spot")
    add_role(w, B, "deployer", managed=[EC2_FULL_ACCESS_ARN])
    aws_managed_policy(w, B, EC2_FULL_ACCESS_ARN, EC2_FULL_ACCESS)

    # KMS: keys in several states, grants, aliases, the AWS managed aws/ebs key.
    main = add_key(w, A, R, alias="app", description="app data")
    slr_arn = f"arn:aws:iam::{A}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
    main.grants = [
        Grant(
            "a" * 64,
            slr_arn,
            frozenset({"Decrypt", "GenerateDataKeyWithoutPlaintext", "CreateGrant"}),
            key_arn=main.arn,
            issuing_account=f"arn:aws:iam::{A}:root",
            creation_date="2026-01-15T09:00:00Z",
        ),
        Grant(
            "b" * 64,
            f"arn:aws:sts::{A}:assumed-role/aws:ec2-infrastructure/i-0123",
            frozenset({"Decrypt"}),
            key_arn=main.arn,
            retiring=f"ec2.{R}.amazonaws.com",
            context_subset={"aws:ebs:id": "vol-0123"},
        ),
    ]
    add_key(w, A, R, alias="old", state=KeyState.DISABLED)
    doomed = add_key(w, A, R, state=KeyState.PENDING_DELETION)
    doomed.deletion_date = "2026-02-15T00:00:00Z"
    kms = w.account(A).region(R).kms
    ebs_id = "0f0e0d0c-0b0a-4000-8000-000000000001"
    ebs_arn = f"arn:aws:kms:{R}:{A}:key/{ebs_id}"
    kms.keys[ebs_id] = Key(
        ebs_id, ebs_arn, A, R, key_document(aws_ebs_key_policy(A, R), ebs_arn), manager=KeyManager.AWS
    )
    kms.aliases[AWS_EBS_ALIAS] = ebs_id
    cross = add_key(w, B, R, alias="shared")
    w.account(B).region(R).kms.keys[cross.key_id].grants_known = False
    w.account(B).region(R).kms.keys[cross.key_id].policy_known = False

    # EC2: an AMI shared with B, instances with volumes, a launch template with two versions, EBS defaults.
    ami = add_image(w, A, R, name="golden", encrypted_with=main, shared_with=[B])
    ec2 = w.account(A).region(R).ec2
    ec2.defaults.encryption_by_default = True
    ec2.defaults.default_kms_key_id = main.arn
    lt = add_launch_template(w, A, R, "web", {"ImageId": ami.image_id, "InstanceType": "t3.micro"})
    lt.versions[2] = {
        "ImageId": ami.image_id,
        "InstanceType": "t3.small",
        "BlockDeviceMappings": [{"DeviceName": "/dev/xvda", "Ebs": {"Encrypted": True, "KmsKeyId": "alias/app"}}],
    }
    lt.created_by = alice.arn
    snap_id = ami.block_devices[0].snapshot_id
    for n, (state, reason) in enumerate(
        [
            (InstanceState.RUNNING, None),
            (
                InstanceState.TERMINATED,
                {"Code": "Client.InternalError", "Message": "Client.InternalError: Client error on launch"},
            ),
        ]
    ):
        iid, vid = f"i-0{n}23456789abcdef0", f"vol-0{n}23456789abcdef0"
        ec2.volumes[vid] = Volume(
            vid,
            8,
            "gp3",
            f"{R}a",
            True,
            main.arn,
            snap_id,
            "in-use",
            "2026-01-15T09:31:00Z",
            [Attachment(iid, "/dev/xvda", "attached", "2026-01-15T09:31:01Z")],
        )
        ec2.instances[iid] = Instance(
            iid,
            ami.image_id,
            "t3.micro",
            alice.arn,
            "2026-01-15T09:31:00Z",
            f"{R}a",
            state=state,
            state_reason=reason,
            block_devices=[("/dev/xvda", vid)],
            tags={"Name": f"web-{n}"},
            launch_template={"LaunchTemplateId": lt.template_id, "Version": "2"},
            client_token=f"token-{n}",
        )
        w.account(A).region(R).trail.events.append(
            {
                "eventVersion": "1.08",
                "userIdentity": {"type": "IAMUser", "arn": alice.arn, "accountId": A, "userName": "alice"},
                "eventTime": f"2026-01-15T09:31:0{n}Z",
                "eventSource": "ec2.amazonaws.com",
                "eventName": "RunInstances",
                "awsRegion": R,
                "responseElements": {"instancesSet": {"items": [{"instanceId": iid}]}},
                "eventID": f"00000000-0000-4000-8000-00000000000{n}",
                "readOnly": False,
            }
        )
    # Auto Scaling: a group with the launch template, one with a launch configuration.
    web = add_auto_scaling_group(w, A, R, "web", launch_template=lt)
    web.activities = [
        ScalingActivity("act-1", "web", "Launching a new EC2 instance: i-0", "cause 1", "t1", "t2", "Successful"),
        ScalingActivity("act-2", "web", "Launching failed", "cause 2", "t3", "t4", "Failed", "Client error"),
    ]
    lc = LaunchConfiguration(
        "legacy",
        f"arn:aws:autoscaling:{R}:{A}:launchConfiguration:x:launchConfigurationName/legacy",
        ami.image_id,
        "t3.micro",
        (EbsSpec("/dev/xvda", snap_id, 8, "gp3", True, main.arn),),
        "2026-01-01T00:00:00Z",
    )
    add_auto_scaling_group(w, A, R, "legacy", launch_configuration=lc, slr_suffix="legacy")

    # Account C: IAM not collected; its region has only EBS defaults.
    w.account(C).iam.known = False
    rc = w.account(C).region(R)
    rc.kms.known = False
    rc.trail.known = False

    # Organizations: root, an OU, the accounts; SCPs and an RCP at several levels.
    org = w.organization
    org.management_account, org.org_id, org.root_id = A, "o-a1b2c3d4e5", "r-a1b2"
    ou = "ou-a1b2-11111111"
    org.parents = {ou: org.root_id, A: org.root_id, B: ou, C: ou}
    full = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    deny = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Action": "organizations:LeaveOrganization", "Resource": "*"}],
    }
    rcp = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": "kms:*",
                "Resource": "*",
                "Condition": {"StringNotEqualsIfExists": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}},
            }
        ],
    }
    org.policies = {
        "p-FullAWSAccess": OrgPolicy(
            "p-FullAWSAccess",
            "FullAWSAccess",
            SCP,
            Document.parse(full, PolicyType.SCP, "FullAWSAccess"),
            "arn:aws:organizations::aws:policy/service_control_policy/p-FullAWSAccess",
            True,
            "Allows access",
        ),
        "p-denyleave": OrgPolicy("p-denyleave", "deny-leave", SCP, Document.parse(deny, PolicyType.SCP, "deny")),
        "p-perimeter": OrgPolicy("p-perimeter", "perimeter", RCP, Document.parse(rcp, PolicyType.RCP, "perimeter")),
    }
    org.attachments = {
        org.root_id: ["p-FullAWSAccess", "p-perimeter"],
        ou: ["p-denyleave"],
        A: ["p-FullAWSAccess"],
        B: ["p-FullAWSAccess"],
    }
    return w


def summary(w: World) -> dict[str, Any]:
    """The fields a save and load must keep, normalised where the CLI's shapes do not carry an order."""
    accounts: dict[str, Any] = {}
    for aid, acct in w.accounts.items():
        iam = acct.iam
        out: dict[str, Any] = {"iam_known": iam.known, "regions": {}}
        if iam.known:
            out["users"] = {
                n: (
                    u.arn,
                    u.user_id,
                    {k: d.raw for k, d in u.inline.items()},
                    u.attached,
                    u.groups,
                    u.boundary_arn,
                    u.tags,
                )
                for n, u in iam.users.items()
            }
            out["groups"] = {
                n: (g.arn, {k: d.raw for k, d in g.inline.items()}, g.attached) for n, g in iam.groups.items()
            }
            out["roles"] = {
                n: (
                    r.arn,
                    r.path,
                    r.trust.raw if r.trust else None,
                    {k: d.raw for k, d in r.inline.items()},
                    r.attached,
                    r.boundary_arn,
                    r.tags,
                    r.service_linked,
                )
                for n, r in iam.roles.items()
            }
            out["policies"] = {arn: (p.name, p.policy_id, p.document.raw) for arn, p in iam.policies.items()}
        for name, region in acct.regions.items():
            if not (region.kms.known or region.ec2.defaults.known or region.trail.known):
                continue
            ec2, asg = region.ec2, region.autoscaling
            out["regions"][name] = {
                "kms_known": region.kms.known,
                "keys": {
                    k.key_id: (
                        k.arn,
                        k.state,
                        k.manager,
                        k.policy_known and k.policy.raw,
                        k.policy_known,
                        k.grants_known,
                        sorted(json.dumps(g.to_json()) for g in k.grants),
                        k.creation_date,
                        k.deletion_date,
                        k.description,
                    )
                    for k in region.kms.keys.values()
                },
                "aliases": region.kms.aliases,
                "images": {
                    i.image_id: (
                        i.owner,
                        i.name,
                        i.block_devices,
                        i.root_device_name,
                        i.public,
                        sorted(i.launch_permissions),
                    )
                    for i in ec2.images.values()
                },
                "snapshots": {
                    s.snapshot_id: (s.owner, s.volume_size, s.encrypted, s.kms_key_id, s.state, s.start_time)
                    for s in ec2.snapshots.values()
                },
                "volumes": {v.volume_id: v for v in ec2.volumes.values()},
                "instances": {
                    i.instance_id: (
                        i.image_id,
                        i.instance_type,
                        i.launched_by,
                        i.launch_time,
                        i.availability_zone,
                        i.state,
                        i.state_reason,
                        i.block_devices,
                        i.launch_template,
                        i.client_token,
                        {k: v for k, v in i.tags.items() if not k.startswith("aws:")},
                    )
                    for i in ec2.instances.values()
                },
                "templates": {
                    t.template_id: (t.name, t.versions, t.default_version) for t in ec2.launch_templates.values()
                },
                "defaults": ec2.defaults,
                "groups": asg.groups,
                "configurations": asg.launch_configurations,
                "trail": (region.trail.known, region.trail.events),
            }
        accounts[aid] = out
    org = w.organization
    return {
        "partition": w.partition,
        "accounts": accounts,
        "org": (
            org.known,
            org.management_account,
            org.org_id,
            org.root_id,
            org.parents,
            {p: (o.name, o.type, o.document.raw, o.arn, o.aws_managed) for p, o in org.policies.items()},
            {t: sorted(ps) for t, ps in org.attachments.items()},
        ),
    }


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    out = tmp_path / "snap"
    save_snapshot(build_world(), out)
    return out


# -- round trip -----------------------------------------------------------------------------------------------


def test_round_trip_keeps_bytes_and_world(tmp_path: Path) -> None:
    world = build_world()
    first = tmp_path / "first"
    written = save_snapshot(world, first)
    assert written and all(p.is_relative_to(first) for p in written)
    assert (first / A / R / "ec2" / "describe-launch-template-versions").is_dir()
    snap = load_snapshot(first)
    second = tmp_path / "second"
    save_snapshot(snap.world, second, meta=snap.meta)
    assert tree(first) == tree(second)
    assert summary(snap.world) == summary(world)
    # What the CLI shapes add: EC2's launch-template tags on instances.
    inst = snap.world.accounts[A].regions[R].ec2.instances["i-0023456789abcdef0"]
    assert inst.tags["aws:ec2launchtemplate:version"] == "2"
    # C's IAM was not collected; its region has nothing known: both unknown again, and said so.
    assert any(
        u.startswith(f"account {C}: iam/get-account-authorization-details.json is missing") for u in snap.unknown
    )


def test_vpc_endpoints_round_trip_with_their_policies(tmp_path: Path) -> None:
    """describe-vpc-endpoints.json: each endpoint with its policy as a JSON string, as the CLI prints it."""
    world = build_world()
    policy = {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*"}]}
    world.accounts[A].regions[R].ec2.vpc_endpoints["vpce-0a1b2c3d4e5f60718"] = VpcEndpoint(
        "vpce-0a1b2c3d4e5f60718",
        "vpc-0a1b2c3d",
        f"com.amazonaws.{R}.kms",
        policy=Document.parse(policy, PolicyType.VPC_ENDPOINT, "vpce-0a1b2c3d4e5f60718"),
        owner_id=A,
    )
    first = tmp_path / "first"
    save_snapshot(world, first)
    saved = load_json_file(first / A / R / "ec2" / "describe-vpc-endpoints.json")["VpcEndpoints"]
    assert isinstance(saved[0]["PolicyDocument"], str) and json.loads(saved[0]["PolicyDocument"]) == policy
    loaded = load_snapshot(first).world.accounts[A].regions[R].ec2
    got = loaded.endpoint_for("kms", "vpc-0a1b2c3d")
    assert got is not None and got.policy is not None and got.policy.raw == policy
    second = tmp_path / "second"
    save_snapshot(load_snapshot(first).world, second)
    assert tree(first) == tree(second)


def test_a_broken_vpc_endpoint_policy_is_reported_with_its_path(tmp_path: Path) -> None:
    out = tmp_path / "snap"
    save_snapshot(build_world(), out)
    bad = {
        "VpcEndpoints": [
            {
                "VpcEndpointId": "vpce-1",
                "VpcId": "vpc-1",
                "ServiceName": "com.amazonaws.x.kms",
                "PolicyDocument": '{"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}',
            }
        ]
    }
    (out / A / R / "ec2" / "describe-vpc-endpoints.json").write_text(json.dumps(bad))
    with pytest.raises(SnapshotError) as err:
        load_snapshot(out)
    assert "describe-vpc-endpoints.json" in str(err.value) and "Principal" in str(err.value)


def test_saved_files_are_cli_shaped(saved: Path) -> None:
    text = (saved / A / R / "ec2" / "describe-images.json").read_text()
    assert text.startswith('{\n    "Images": [\n')
    policy = load_json_file(next(saved.glob(f"{A}/{R}/kms/keys/*/get-key-policy.json")))
    assert isinstance(policy["Policy"], str) and json.loads(policy["Policy"])["Version"] == "2012-10-17"
    event = load_json_file(saved / A / R / "cloudtrail" / "lookup-events.json")["Events"][0]
    assert isinstance(event["CloudTrailEvent"], str) and event["EventName"] == "RunInstances"
    # lookup-events lists newest first.
    assert event["EventTime"] == "2026-01-15T09:31:01Z"
    shared = load_json_file(saved / B / R / "ec2" / "describe-images.json")["Images"]
    assert [i["OwnerId"] for i in shared] == [A]
    meta = load_json_file(saved / "snapshot.json")
    assert meta["format"] == "kmslaunch-snapshot/1" and meta["partition"] == "aws"


def test_save_refuses_a_non_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "mine.txt").write_text("keep me")
    with pytest.raises(SnapshotError, match="is not empty"):
        save_snapshot(build_world(), tmp_path)
    written = save_snapshot(build_world(), tmp_path, overwrite=True)
    assert (tmp_path / "mine.txt").read_text() == "keep me"
    assert tmp_path / "snapshot.json" in written


def test_save_never_writes_outside(tmp_path: Path) -> None:
    w = build_world()
    kms = w.account(A).region(R).kms
    key = next(iter(kms.keys.values()))
    kms.keys["../../../escape"] = key
    with pytest.raises(SnapshotError, match=re.escape("key id '../../../escape' cannot name a file")):
        save_snapshot(w, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert not list(tmp_path.rglob("escape*"))


def test_empty_world_round_trips(tmp_path: Path) -> None:
    save_snapshot(World(), tmp_path / "s")
    snap = load_snapshot(tmp_path / "s")
    assert snap.world.accounts == {} and snap.world.organization.known
    assert snap.unknown == ()


# -- missing files --------------------------------------------------------------------------------------------

Check = Callable[[World], bool]


MISSING: list[tuple[str, str, Check, str]] = [
    (
        "iam",
        f"{A}/iam/get-account-authorization-details.json",
        lambda w: not w.accounts[A].iam.known,
        f"account {A}: iam/get-account-authorization-details.json is missing: IAM policies are unknown",
    ),
    (
        "kms",
        f"{A}/{R}/kms",
        lambda w: not w.accounts[A].regions[R].kms.known and not w.accounts[A].regions[R].kms.keys,
        f"account {A}, {R}: kms/list-aliases.json and kms/keys/ are missing: KMS keys are unknown",
    ),
    (
        "aliases",
        f"{A}/{R}/kms/list-aliases.json",
        lambda w: w.accounts[A].regions[R].kms.known and not w.accounts[A].regions[R].kms.aliases,
        "kms/list-aliases.json is missing: key aliases are unknown",
    ),
    (
        "key policy",
        f"{A}/{R}/kms/keys/*/get-key-policy.json",
        lambda w: not any(k.policy_known for k in w.accounts[A].regions[R].kms.keys.values()),
        "get-key-policy.json is missing: the key policy is unknown",
    ),
    (
        "grants",
        f"{A}/{R}/kms/keys/*/list-grants.json",
        lambda w: not any(k.grants_known for k in w.accounts[A].regions[R].kms.keys.values()),
        "list-grants.json is missing: the key's grants are unknown",
    ),
    (
        "describe-key",
        f"{A}/{R}/kms/keys/*/describe-key.json",
        lambda w: all(k.state is KeyState.ENABLED for k in w.accounts[A].regions[R].kms.keys.values()),
        "describe-key.json is missing: its state and manager are unknown",
    ),
    (
        "EBS encryption by default",
        f"{A}/{R}/ec2/get-ebs-encryption-by-default.json",
        lambda w: not w.accounts[A].regions[R].ec2.defaults.known,
        "ec2/get-ebs-encryption-by-default.json is missing: whether EBS encrypts new volumes by default is unknown",
    ),
    (
        "EBS default key",
        f"{A}/{R}/ec2/get-ebs-default-kms-key-id.json",
        lambda w: not w.accounts[A].regions[R].ec2.defaults.known,
        "ec2/get-ebs-default-kms-key-id.json is missing: the region's default EBS key is unknown",
    ),
    (
        "trail",
        f"{A}/{R}/cloudtrail/lookup-events.json",
        lambda w: not w.accounts[A].regions[R].trail.known,
        "cloudtrail/lookup-events.json is missing: CloudTrail events are unknown",
    ),
    (
        "organization",
        "organizations/describe-organization.json",
        # A member's view: the description is gone, the SCPs it holds still govern.
        lambda w: not w.organization.known and "p-denyleave" in w.organization.policies,
        "organizations/describe-organization.json is missing: the organization and its management account are unknown",
    ),
    (
        "org policy",
        "organizations/describe-policy/p-denyleave.json",
        lambda w: "p-denyleave" not in w.organization.policies and w.organization.known,
        "organizations/describe-policy/p-denyleave.json is missing: policy p-denyleave (attached to ou-a1b2-11111111)",
    ),
    (
        "launch template versions",
        f"{A}/{R}/ec2/describe-launch-template-versions/*.json",
        lambda w: all(not t.versions for t in w.accounts[A].regions[R].ec2.launch_templates.values()),
        "are unknown",
    ),
    (
        "images",
        f"{A}/{R}/ec2/describe-images.json",
        lambda w: not w.accounts[A].regions[R].ec2.images,
        f"account {A}, {R}: ec2/describe-images.json is missing: images (AMIs) are unknown",
    ),
    (
        "region",
        f"{B}/{R}",
        lambda w: not w.accounts[B].regions[R].kms.known and not w.accounts[B].regions[R].ec2.defaults.known,
        f"account {B}: region {R} was not collected",
    ),
]


@pytest.mark.parametrize(("what", "pattern", "check", "sentence"), MISSING, ids=[m[0] for m in MISSING])
def test_missing_file_marks_unknown(saved: Path, what: str, pattern: str, check: Check, sentence: str) -> None:
    matches = glob.glob(str(saved / pattern))
    assert matches, pattern
    for m in matches:
        if Path(m).is_dir():
            shutil.rmtree(m)
        else:
            Path(m).unlink()
    snap = load_snapshot(saved)
    assert check(snap.world), what
    assert any(sentence in u for u in snap.unknown), snap.unknown


# -- malformed files ------------------------------------------------------------------------------------------

MALFORMED = yaml.safe_load((FIXTURES / "malformed.yaml").read_text())["cases"]


def _set(doc: Any, path: list[Any], value: Any) -> None:
    for step in path[:-1]:
        doc = doc[step]
    doc[path[-1]] = value


def _edit(root: Path, case: dict[str, Any]) -> str:
    target = Path(sorted(glob.glob(str(root / case["file"])))[0])
    if "text" in case:
        target.write_text(case["text"])
    else:
        doc = json.loads(target.read_text())
        _set(doc, *case["set"])
        target.write_text(json.dumps(doc, indent=4))
    return str(target)


@pytest.mark.parametrize("case", MALFORMED, ids=[c["name"] for c in MALFORMED])
def test_malformed_file_names_file_and_path(saved: Path, case: dict[str, Any]) -> None:
    file = _edit(saved, case)
    with pytest.raises(SnapshotError) as info:
        load_snapshot(saved)
    lines = str(info.value).splitlines()
    assert f"{file}: {case['expect']}" in lines, lines


def test_every_problem_is_reported_at_once(saved: Path) -> None:
    files = [_edit(saved, case) for case in MALFORMED[2:5]]
    with pytest.raises(SnapshotError) as info:
        load_snapshot(saved)
    assert len(info.value.problems) >= 3
    for f in files:
        assert any(p.file == f for p in info.value.problems)


def test_load_json_file_names_line_and_column(tmp_path: Path) -> None:
    bad = tmp_path / "describe-instances.json"
    bad.write_text('{\n    "Reservations": [\n    1\n    2]\n}')
    with pytest.raises(
        SnapshotError, match=r"describe-instances.json: not valid JSON: Expecting ',' delimiter at line 4 column 5"
    ):
        load_json_file(bad)
    assert load_json_file(FIXTURES / "two-accounts" / "snapshot.json")["partition"] == "aws"


def test_not_a_snapshot(tmp_path: Path) -> None:
    with pytest.raises(SnapshotError, match="not a snapshot"):
        load_snapshot(tmp_path)
    with pytest.raises(SnapshotError, match="not a snapshot directory"):
        load_snapshot(tmp_path / "nowhere")


# -- a collected snapshot: two accounts, a cross-account key ---------------------------------------------------


def test_two_accounts_with_a_cross_account_key() -> None:
    snap: Snapshot = load_snapshot(FIXTURES / "two-accounts")
    w = snap.world
    key_arn = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    # B's EBS default key and launch template name A's key; it resolves from B to A's key.
    rb = w.accounts[B].regions[R]
    assert rb.ec2.defaults.default_kms_key_id == key_arn and rb.ec2.defaults.encryption_by_default
    key = resolve_key(w, B, R, key_arn)
    assert key.account == A and key.policy_known and key.creation_date == "1736900000.123"
    assert any(s.principal and f"arn:aws:iam::{B}:root" in s.principal.aws for s in key.policy.policy.statements)
    assert [g.grantee for g in key.grants] == [rb.autoscaling.groups["web"].service_linked_role_arn]
    # The AMI is A's; B's describe-images listing it means B may launch it.
    image = w.find_image(R, "ami-0aaaaaaaaaaaaaaa1")
    assert image is not None and image.owner == A and image.launch_permissions == [B]
    assert "ami-0aaaaaaaaaaaaaaa1" not in rb.ec2.images
    assert [d.device_name for d in image.block_devices] == ["/dev/xvda"]  # instance store has no key
    snapshot = w.find_snapshot(R, "snap-0aaaaaaaaaaaaaaa1")
    assert snapshot is not None and snapshot.kms_key_id == key_arn and snapshot.create_volume_permissions == [B]
    # Real CLI shapes: URL-encoded IAM documents, the default policy version, aliases without a target.
    assert w.accounts[A].iam.users["admin"].inline["ec2"].raw["Statement"][0]["Action"] == ["ec2:*"]
    asg_policy = w.accounts[B].iam.policies["arn:aws:iam::aws:policy/aws-service-role/AutoScalingServiceRolePolicy"]
    assert (
        asg_policy.default_version_id == "v3" and "ec2:CreateTags" in asg_policy.document.raw["Statement"][0]["Action"]
    )
    assert w.accounts[A].regions[R].kms.aliases == {"alias/shared-ami": "1234abcd-12ab-34cd-56ef-1234567890ab"}
    assert w.accounts[B].iam.roles["AWSServiceRoleForAutoScaling"].service_linked
    # A mixed instances policy: its launch template is the group's; the rest is kept aside.
    group = rb.autoscaling.groups["web"]
    assert group.launch_template == {
        "LaunchTemplateId": "lt-0bbbbbbbbbbbbbbb1",
        "LaunchTemplateName": "web",
        "Version": "$Default",
    }
    assert group.arn in snap.raw["MixedInstancesPolicy"]
    assert [a.status_code for a in group.activities] == ["Failed"]
    # Not in an organization (recorded by the collector): known, and no SCP applies.
    assert w.organization.known and w.organization.org_id is None
    # A's us-west-2 was not collected while B's was; A's other things there are unknown, not empty.
    assert not w.accounts[A].regions["us-west-2"].kms.known
    assert f"account {A}: region us-west-2 was not collected" in " ".join(snap.unknown)
    assert any("describe-instances.json is missing" in u and A in u for u in snap.unknown)
    assert snap.meta["collected_at"] == "2026-01-15T09:00:00Z"


def test_collected_snapshot_round_trips(tmp_path: Path) -> None:
    snap = load_snapshot(FIXTURES / "two-accounts")
    save_snapshot(snap.world, tmp_path / "a", meta=snap.meta)
    again = load_snapshot(tmp_path / "a")
    save_snapshot(again.world, tmp_path / "b", meta=again.meta)
    assert tree(tmp_path / "a") == tree(tmp_path / "b")
    assert summary(again.world) == summary(snap.world)


# -- speed ------------------------------------------------------------------------------------------------------


def test_fifty_accounts_load_in_seconds(tmp_path: Path) -> None:
    w = build_world()
    for n in range(50):
        acct = f"{200000000000 + n}"
        for u in range(10):
            add_user(w, acct, f"user{u}", inline={"kms": ALLOW_KMS}, managed=[EC2_FULL_ACCESS_ARN])
        aws_managed_policy(w, acct, EC2_FULL_ACCESS_ARN, EC2_FULL_ACCESS)
        for _ in range(3):
            key = add_key(w, acct, R)
            add_image(w, acct, R, encrypted_with=key)
    save_snapshot(w, tmp_path / "big")
    start = time.perf_counter()
    snap = load_snapshot(tmp_path / "big")
    assert time.perf_counter() - start < 10
    assert len(snap.world.accounts) == 53


# -- robustness: whatever JSON is in a file, a SnapshotError or a world ----------------------------------------

_BASE: dict[str, Path] = {}


def _base() -> Path:
    if "dir" not in _BASE:
        _BASE["dir"] = Path(tempfile.mkdtemp(prefix="kmslaunch-snap-")) / "snap"
        save_snapshot(build_world(), _BASE["dir"])
    return _BASE["dir"]


FUZZED = [
    "snapshot.json",
    f"{A}/iam/get-account-authorization-details.json",
    f"{A}/{R}/kms/list-aliases.json",
    f"{A}/{R}/kms/keys/*/describe-key.json",
    f"{A}/{R}/kms/keys/*/get-key-policy.json",
    f"{A}/{R}/kms/keys/*/list-grants.json",
    f"{A}/{R}/ec2/describe-images.json",
    f"{A}/{R}/ec2/describe-snapshots.json",
    f"{A}/{R}/ec2/describe-volumes.json",
    f"{A}/{R}/ec2/describe-instances.json",
    f"{A}/{R}/ec2/describe-launch-templates.json",
    f"{A}/{R}/ec2/describe-launch-template-versions/*.json",
    f"{A}/{R}/ec2/get-ebs-encryption-by-default.json",
    f"{A}/{R}/autoscaling/describe-auto-scaling-groups.json",
    f"{A}/{R}/autoscaling/describe-launch-configurations.json",
    f"{A}/{R}/autoscaling/describe-scaling-activities.json",
    f"{A}/{R}/cloudtrail/lookup-events.json",
    "organizations/describe-organization.json",
    "organizations/list-roots.json",
    "organizations/list-parents/*.json",
    "organizations/list-policies-for-target/SERVICE_CONTROL_POLICY/*.json",
    "organizations/describe-policy/*.json",
]
_KEYS = st.sampled_from(
    [
        "Images",
        "BlockDeviceMappings",
        "Ebs",
        "Encrypted",
        "KeyMetadata",
        "KeyState",
        "Policy",
        "Grants",
        "Statement",
        "Effect",
        "Action",
        "Resource",
        "Principal",
        "Condition",
        "Reservations",
        "Instances",
        "State",
        "Name",
        "Events",
        "CloudTrailEvent",
        "PolicySummary",
        "Content",
        "Type",
        "Id",
        "Parents",
        "Policies",
        "UserDetailList",
        "RoleDetailList",
        "PolicyVersionList",
        "IsDefaultVersion",
        "Document",
        "LaunchTemplateVersions",
        "LaunchTemplateData",
        "VersionNumber",
        "AutoScalingGroups",
        "LaunchTemplate",
        "MixedInstancesPolicy",
        "errors",
    ]
) | st.text(max_size=8)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_KEYS, inner, max_size=4),
    max_leaves=20,
)


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out.extend(_paths(v, (*prefix, k)))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out.extend(_paths(v, (*prefix, i)))
    return out


def _load_or_error(root: Path) -> None:
    try:
        load_snapshot(root)
    except SnapshotError as exc:
        assert exc.problems and all(p.file for p in exc.problems)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(FUZZED), JSON)
def test_random_json_never_gives_a_traceback(pattern: str, value: Any) -> None:
    target = Path(sorted(glob.glob(str(_base() / pattern)))[0])
    original = target.read_bytes()
    try:
        target.write_text(json.dumps(value))
        _load_or_error(_base())
    finally:
        target.write_bytes(original)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(FUZZED), st.data(), JSON)
def test_random_json_inside_a_valid_file_never_gives_a_traceback(pattern: str, data: st.DataObject, value: Any) -> None:
    target = Path(sorted(glob.glob(str(_base() / pattern)))[0])
    original = target.read_bytes()
    doc = json.loads(original)
    where = data.draw(st.sampled_from(_paths(doc)[1:] or [()]))
    edited = copy.deepcopy(doc)
    if where:
        _set(edited, list(where), value)
    else:
        edited = value
    # Documents held as JSON strings (key policies, SCP content, CloudTrail records) get random JSON inside too.
    try:
        target.write_text(json.dumps(edited))
        _load_or_error(_base())
    finally:
        target.write_bytes(original)
