"""EC2 and Auto Scaling through the endpoint with boto3: the Knowledge Center stories of encrypted launches, built
with real API calls (IAM, KMS, EC2, Auto Scaling), each failing as in AWS and then fixed as AWS documents."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from kmslaunch.server.app import Server
from kmslaunch.server.state import DEFAULT_ACCESS_KEY, DEFAULT_ACCOUNT, DEFAULT_SECRET, State
from kmslaunch.server.store import Store

REGION = "us-east-1"
AZ = "us-east-1a"
ACCOUNT = DEFAULT_ACCOUNT
CLIENT_ERROR_ON_LAUNCH = {"Code": "Client.InternalError", "Message": "Client.InternalError: Client error on launch"}
EC2_FULL_ACCESS = "arn:aws:iam::aws:policy/AmazonEC2FullAccess"
SLR_ARN = f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
ROOT_STATEMENT = {
    "Sid": "Enable IAM User Permissions",
    "Effect": "Allow",
    "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
    "Action": "kms:*",
    "Resource": "*",
}

Client = Any
Factory = Callable[..., Client]


@pytest.fixture
def endpoint(tmp_path: Path) -> Iterator[tuple[State, Factory]]:
    state = State(Store(tmp_path / "s.sqlite"))
    server = Server("127.0.0.1", 0, state)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    config = Config(retries={"max_attempts": 1, "mode": "standard"})

    def client(service: str, keys: tuple[str, str] = (DEFAULT_ACCESS_KEY, DEFAULT_SECRET)) -> Client:
        return boto3.client(
            service,
            region_name=REGION,
            endpoint_url=url,
            aws_access_key_id=keys[0],
            aws_secret_access_key=keys[1],
            config=config,
        )

    try:
        yield state, client
    finally:
        server.shutdown()
        server.server_close()
        state.store.close()


def _user(client: Factory, name: str, *, managed: tuple[str, ...] = ()) -> tuple[str, str]:
    iam = client("iam")
    iam.create_user(UserName=name)
    for arn in managed:
        iam.attach_user_policy(UserName=name, PolicyArn=arn)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]


def _ami(ec2: Client, name: str, key_id: str | None = None) -> tuple[str, str]:
    """An AMI registered from a snapshot of a new volume (encrypted with ``key_id`` when given): (ami, snap)."""
    extra = {"Encrypted": True, "KmsKeyId": key_id} if key_id else {}
    vol = ec2.create_volume(AvailabilityZone=AZ, Size=8, **extra)["VolumeId"]
    snap = ec2.create_snapshot(VolumeId=vol, Description=f"root of {name}")["SnapshotId"]
    ami = ec2.register_image(
        Name=name,
        RootDeviceName="/dev/xvda",
        BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": snap, "VolumeType": "gp3"}}],
    )["ImageId"]
    return ami, snap


def _launch(ec2: Client, ami: str, **extra: Any) -> dict[str, Any]:
    res = ec2.run_instances(ImageId=ami, InstanceType="t3.micro", MinCount=1, MaxCount=1, **extra)
    inst: dict[str, Any] = res["Instances"][0]
    assert inst["State"] == {"Code": 0, "Name": "pending"}
    assert "StateReason" not in inst
    return inst


def _described(ec2: Client, instance_id: str) -> dict[str, Any]:
    got: dict[str, Any] = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    return got


def _code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


# -- Knowledge Center stories ---------------------------------------------------------------------------------------


def test_kc_missing_create_grant_then_fixed(endpoint: tuple[State, Factory]) -> None:
    state, client = endpoint
    ec2, kms = client("ec2"), client("kms")
    key = kms.create_key(Description="app data")["KeyMetadata"]
    ami, _ = _ami(ec2, "app-server", key["KeyId"])
    alice = _user(client, "alice", managed=(EC2_FULL_ACCESS,))
    alice_ec2 = client("ec2", alice)

    first = _launch(alice_ec2, ami)
    failed = _described(ec2, first["InstanceId"])
    assert failed["State"]["Name"] == "terminated"
    assert failed["StateReason"] == CLIENT_ERROR_ON_LAUNCH

    grant_policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "kms:CreateGrant", "Resource": key["Arn"]}],
    }
    client("iam").put_user_policy(UserName="alice", PolicyName="ebs-grant", PolicyDocument=json.dumps(grant_policy))
    second = _launch(alice_ec2, ami)
    assert _described(alice_ec2, second["InstanceId"])["State"] == {"Code": 16, "Name": "running"}

    grants = kms.list_grants(KeyId=key["KeyId"])["Grants"]
    ec2_grant = next(g for g in grants if g["GranteePrincipal"].endswith(second["InstanceId"]))
    assert (
        ec2_grant["GranteePrincipal"]
        == f"arn:aws:sts::{ACCOUNT}:assumed-role/aws:ec2-infrastructure/{second['InstanceId']}"
    )
    assert ec2_grant["Operations"] == ["Decrypt"]
    assert ec2_grant["RetiringPrincipal"] == f"ec2.{REGION}.amazonaws.com"

    # CloudTrail: each RunInstances once (the dispatcher's record), with EC2's KMS calls as the caller.
    trail = state.world.account(ACCOUNT).region(REGION).trail.events
    runs = [e for e in trail if e["eventSource"] == "ec2.amazonaws.com" and e["eventName"] == "RunInstances"]
    assert len(runs) == 2
    refused = [e for e in trail if e["eventName"] == "CreateGrant" and e.get("errorCode") == "AccessDenied"]
    assert refused and refused[0]["userIdentity"]["arn"] == f"arn:aws:iam::{ACCOUNT}:user/alice"


def test_kc_source_ip_deny_then_data_perimeter_exemption(endpoint: tuple[State, Factory]) -> None:
    _, client = endpoint
    ec2, kms = client("ec2"), client("kms")
    deny: dict[str, Any] = {
        "Sid": "Deny use outside the corporate network",
        "Effect": "Deny",
        "Principal": "*",
        "Action": ["kms:Decrypt", "kms:GenerateDataKey*", "kms:CreateGrant", "kms:ReEncrypt*"],
        "Resource": "*",
        # The test client calls from 127.0.0.1: the corporate range includes it.
        "Condition": {"NotIpAddress": {"aws:SourceIp": ["127.0.0.0/8", "203.0.113.0/24"]}},
    }
    policy = {"Version": "2012-10-17", "Statement": [ROOT_STATEMENT, deny]}
    key = kms.create_key(Policy=json.dumps(policy))["KeyMetadata"]
    ami, _ = _ami(ec2, "corp-app", key["KeyId"])

    first = _launch(ec2, ami)
    failed = _described(ec2, first["InstanceId"])
    assert failed["State"]["Name"] == "terminated"
    assert failed["StateReason"] == CLIENT_ERROR_ON_LAUNCH

    # The instance identity decrypts from EC2's address: exempt it, as the data-perimeter examples do.
    deny["Condition"]["ArnNotLikeIfExists"] = {"aws:PrincipalArn": "arn:aws:iam::*:role/aws:ec2-infrastructure"}
    kms.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy=json.dumps(policy))
    second = _launch(ec2, ami)
    assert _described(ec2, second["InstanceId"])["State"]["Name"] == "running"


def test_auto_scaling_slr_missing_from_key_policy_then_fixed(endpoint: tuple[State, Factory]) -> None:
    _, client = endpoint
    ec2, kms, asg = client("ec2"), client("kms"), client("autoscaling")
    key = kms.create_key()["KeyMetadata"]
    ami, _ = _ami(ec2, "web")
    ec2.create_launch_template(
        LaunchTemplateName="web",
        LaunchTemplateData={
            "ImageId": ami,
            "InstanceType": "t3.micro",
            "BlockDeviceMappings": [
                {"DeviceName": "/dev/xvda", "Ebs": {"Encrypted": True, "KmsKeyId": key["Arn"], "VolumeSize": 8}}
            ],
        },
    )
    asg.create_auto_scaling_group(
        AutoScalingGroupName="web-asg",
        LaunchTemplate={"LaunchTemplateName": "web", "Version": "$Latest"},
        MinSize=1,
        MaxSize=2,
        DesiredCapacity=1,
        AvailabilityZones=[AZ],
    )
    # Auto Scaling created its service-linked role on first use.
    assert client("iam").get_role(RoleName="AWSServiceRoleForAutoScaling")["Role"]["Arn"] == SLR_ARN
    group = asg.describe_auto_scaling_groups(AutoScalingGroupNames=["web-asg"])["AutoScalingGroups"][0]
    assert group["ServiceLinkedRoleARN"] == SLR_ARN
    assert group["Instances"] == []

    failed = asg.describe_scaling_activities(AutoScalingGroupName="web-asg")["Activities"][0]
    assert failed["StatusCode"] in ("Cancelled", "Failed")
    assert "Client.InternalError" in failed["StatusMessage"]
    instances = ec2.describe_instances(Filters=[{"Name": "instance-state-name", "Values": ["terminated"]}])
    assert len(instances["Reservations"]) == 1

    # The fix AWS documents: the key policy allows the service-linked role.
    slr_use = {
        "Sid": "Allow service-linked role use of the key",
        "Effect": "Allow",
        "Principal": {"AWS": SLR_ARN},
        "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
        "Resource": "*",
    }
    slr_grant = {
        "Sid": "Allow attachment of persistent resources",
        "Effect": "Allow",
        "Principal": {"AWS": SLR_ARN},
        "Action": "kms:CreateGrant",
        "Resource": "*",
        "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}},
    }
    policy = {"Version": "2012-10-17", "Statement": [ROOT_STATEMENT, slr_use, slr_grant]}
    kms.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy=json.dumps(policy))
    asg.set_desired_capacity(AutoScalingGroupName="web-asg", DesiredCapacity=1)

    activities = asg.describe_scaling_activities(AutoScalingGroupName="web-asg")["Activities"]
    assert activities[0]["StatusCode"] == "Successful"
    assert activities[1]["StatusCode"] == failed["StatusCode"]
    group = asg.describe_auto_scaling_groups(AutoScalingGroupNames=["web-asg"])["AutoScalingGroups"][0]
    [member] = group["Instances"]
    assert member["LifecycleState"] == "InService"
    assert _described(ec2, member["InstanceId"])["State"]["Name"] == "running"


def test_unauthorized_operation_without_run_instances(endpoint: tuple[State, Factory]) -> None:
    _, client = endpoint
    ami, _ = _ami(client("ec2"), "plain")
    bob = client("ec2", _user(client, "bob"))
    with pytest.raises(ClientError) as exc:
        bob.run_instances(ImageId=ami, InstanceType="t3.micro", MinCount=1, MaxCount=1)
    assert _code(exc) == "UnauthorizedOperation"
    assert exc.value.response["Error"]["Message"].startswith("You are not authorized to perform this operation.")
    assert client("ec2").describe_instances()["Reservations"] == []


# -- Instances, volumes, snapshots, defaults -------------------------------------------------------------------------


def test_describe_unknown_instance(endpoint: tuple[State, Factory]) -> None:
    _, client = endpoint
    with pytest.raises(ClientError) as exc:
        client("ec2").describe_instances(InstanceIds=["i-0123456789abcdef0"])
    assert _code(exc) == "InvalidInstanceID.NotFound"
    assert exc.value.response["Error"]["Message"] == "The instance ID 'i-0123456789abcdef0' does not exist"


def test_an_image_the_endpoint_does_not_hold_does_not_exist(endpoint: tuple[State, Factory]) -> None:
    """Unlike a snapshot, the endpoint's state is the whole world, also after a restart reloads it."""
    state, client = endpoint
    with pytest.raises(ClientError) as exc:
        client("ec2").run_instances(ImageId="ami-0123456789abcdef0", InstanceType="t3.micro", MinCount=1, MaxCount=1)
    assert _code(exc) == "InvalidAMIID.NotFound"
    reloaded = state.store.load_world(state.clock, state.ids)
    assert reloaded is not None and not reloaded.partial


def test_stop_start_terminate_and_incorrect_state(endpoint: tuple[State, Factory]) -> None:
    state, client = endpoint
    ec2 = client("ec2")
    ami, _ = _ami(ec2, "plain")
    iid = _launch(ec2, ami)["InstanceId"]
    assert _described(ec2, iid)["State"]["Name"] == "running"

    stopping = ec2.stop_instances(InstanceIds=[iid])["StoppingInstances"][0]
    assert stopping["CurrentState"]["Name"] == "stopping"
    assert stopping["PreviousState"]["Name"] == "running"
    stopped = _described(ec2, iid)
    assert stopped["State"] == {"Code": 80, "Name": "stopped"}
    assert stopped["StateReason"]["Code"] == "Client.UserInitiatedShutdown"
    assert ec2.stop_instances(InstanceIds=[iid])["StoppingInstances"][0]["CurrentState"]["Name"] == "stopped"

    starting = ec2.start_instances(InstanceIds=[iid])["StartingInstances"][0]
    assert starting["CurrentState"]["Name"] == "pending"
    assert starting["PreviousState"]["Name"] == "stopped"
    assert _described(ec2, iid)["State"]["Name"] == "running"

    terminating = ec2.terminate_instances(InstanceIds=[iid])["TerminatingInstances"][0]
    assert terminating["CurrentState"]["Name"] == "shutting-down"
    assert _described(ec2, iid)["State"] == {"Code": 48, "Name": "terminated"}
    assert ec2.terminate_instances(InstanceIds=[iid])["TerminatingInstances"][0]["CurrentState"]["Name"] == "terminated"
    # The root volume went with the instance (DeleteOnTermination).
    assert not [v for v in ec2.describe_volumes()["Volumes"] if v["Attachments"]]

    for call, word in ((ec2.stop_instances, "stopped"), (ec2.start_instances, "started")):
        with pytest.raises(ClientError) as exc:
            call(InstanceIds=[iid])
        assert _code(exc) == "IncorrectInstanceState"
        assert (
            exc.value.response["Error"]["Message"]
            == f"The instance '{iid}' is not in a state from which it can be {word}."
        )
    with pytest.raises(ClientError) as exc:
        ec2.stop_instances(InstanceIds=["i-0000000000000000f"])
    assert _code(exc) == "InvalidInstanceID.NotFound"
    # The state survives a restart of the endpoint.
    again = State(Store(state.store.path))
    assert again.world.account(ACCOUNT).region(REGION).ec2.instances[iid].state.label == "terminated"
    again.store.close()


def test_client_token_idempotency(endpoint: tuple[State, Factory]) -> None:
    _, client = endpoint
    ec2 = client("ec2")
    ami, _ = _ami(ec2, "plain")
    args = {"ImageId": ami, "InstanceType": "t3.micro", "MinCount": 2, "MaxCount": 2, "ClientToken": "launch-1"}
    first = ec2.run_instances(**args)
    second = ec2.run_instances(**args)
    assert second["ReservationId"] == first["ReservationId"]
    ids = [i["InstanceId"] for i in first["Instances"]]
    assert [i["InstanceId"] for i in second["Instances"]] == ids
    assert all(i["State"]["Name"] == "pending" for i in second["Instances"])
    reservations = ec2.describe_instances()["Reservations"]
    assert [[i["InstanceId"] for i in r["Instances"]] for r in reservations] == [ids]
    assert reservations[0]["ReservationId"] == first["ReservationId"]
    other_ami, _ = _ami(ec2, "other")
    with pytest.raises(ClientError) as exc:
        ec2.run_instances(**{**args, "ImageId": other_ami})
    assert _code(exc) == "IdempotentParameterMismatch"


def test_ebs_defaults_round_trip(endpoint: tuple[State, Factory]) -> None:
    _, client = endpoint
    ec2, kms = client("ec2"), client("kms")
    assert ec2.get_ebs_encryption_by_default()["EbsEncryptionByDefault"] is False
    assert ec2.get_ebs_default_kms_key_id()["KmsKeyId"] == f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/aws/ebs"
    assert ec2.enable_ebs_encryption_by_default()["EbsEncryptionByDefault"] is True
    assert ec2.get_ebs_encryption_by_default()["EbsEncryptionByDefault"] is True
    key = kms.create_key()["KeyMetadata"]
    assert ec2.modify_ebs_default_kms_key_id(KmsKeyId=key["KeyId"])["KmsKeyId"] == key["Arn"]
    assert ec2.get_ebs_default_kms_key_id()["KmsKeyId"] == key["Arn"]
    with pytest.raises(ClientError) as exc:
        ec2.modify_ebs_default_kms_key_id(KmsKeyId="alias/nope")
    assert _code(exc) == "InvalidParameterValue"
    # Encryption by default: a new volume is encrypted with the default key.
    vol = ec2.create_volume(AvailabilityZone=AZ, Size=4)
    assert vol["Encrypted"] is True and vol["KmsKeyId"] == key["Arn"]


def test_volumes_attach_and_snapshot_copies(endpoint: tuple[State, Factory]) -> None:
    _, client = endpoint
    ec2, kms = client("ec2"), client("kms")
    key = kms.create_key()["KeyMetadata"]
    vol = ec2.create_volume(AvailabilityZone=AZ, Size=10, Encrypted=True, KmsKeyId=key["KeyId"])
    assert vol["State"] == "creating" and vol["KmsKeyId"] == key["Arn"]
    [described] = ec2.describe_volumes(VolumeIds=[vol["VolumeId"]])["Volumes"]
    assert described["State"] == "available"

    ami, _ = _ami(ec2, "plain")
    iid = _launch(ec2, ami, Placement={"AvailabilityZone": AZ})["InstanceId"]
    att = ec2.attach_volume(VolumeId=vol["VolumeId"], InstanceId=iid, Device="/dev/sdf")
    assert att["State"] == "attaching"
    on_instance = ec2.describe_volumes(Filters=[{"Name": "attachment.instance-id", "Values": [iid]}])["Volumes"]
    attached = next(v for v in on_instance if v["VolumeId"] == vol["VolumeId"])
    assert attached["State"] == "in-use" and attached["Attachments"][0]["Device"] == "/dev/sdf"
    with pytest.raises(ClientError) as exc:
        ec2.attach_volume(VolumeId="vol-0000000000000000f", InstanceId=iid, Device="/dev/sdg")
    assert _code(exc) == "InvalidVolume.NotFound"

    snap = ec2.create_snapshot(VolumeId=vol["VolumeId"])
    assert snap["Encrypted"] is True and snap["KmsKeyId"] == key["Arn"]
    copy = ec2.copy_snapshot(SourceSnapshotId=snap["SnapshotId"], SourceRegion=REGION, Description="copy")
    [copied] = ec2.describe_snapshots(SnapshotIds=[copy["SnapshotId"]])["Snapshots"]
    assert copied["State"] == "completed" and copied["Encrypted"] is True and copied["KmsKeyId"] == key["Arn"]
    with pytest.raises(ClientError) as exc:
        ec2.copy_snapshot(SourceSnapshotId="snap-0000000000000000f", SourceRegion=REGION)
    assert _code(exc) == "InvalidSnapshot.NotFound"

    ec2.modify_snapshot_attribute(
        SnapshotId=snap["SnapshotId"], Attribute="createVolumePermission", OperationType="add", UserIds=["444455556666"]
    )
    shared = ec2.describe_snapshots(RestorableByUserIds=["444455556666"])["Snapshots"]
    assert [s["SnapshotId"] for s in shared] == [snap["SnapshotId"]]
    ec2.modify_snapshot_attribute(
        SnapshotId=snap["SnapshotId"], CreateVolumePermission={"Remove": [{"UserId": "444455556666"}]}
    )
    assert ec2.describe_snapshots(RestorableByUserIds=["444455556666"])["Snapshots"] == []

    image = ec2.copy_image(SourceImageId=ami, SourceRegion=REGION, Name="plain-copy")
    [img] = ec2.describe_images(ImageIds=[image["ImageId"]])["Images"]
    assert img["State"] == "available" and img["Name"] == "plain-copy"
    templates = ec2.describe_launch_templates()["LaunchTemplates"]
    assert templates == []


def test_auto_scaling_group_tags_and_spot_price_round_trip(endpoint: tuple[State, Factory]) -> None:
    # EKS tags the groups of managed node groups; the tags decide who launches (assumption eks-nodegroup-default-slr).
    _, client = endpoint
    ec2, asg = client("ec2"), client("autoscaling")
    ami, _ = _ami(ec2, "nodes")
    asg.create_launch_configuration(
        LaunchConfigurationName="spot-lc", ImageId=ami, InstanceType="m5.large", SpotPrice="0.05"
    )
    tags = [
        {"Key": "eks:cluster-name", "Value": "prod", "PropagateAtLaunch": True},
        {"Key": "eks:nodegroup-name", "Value": "general", "PropagateAtLaunch": True},
    ]
    asg.create_auto_scaling_group(
        AutoScalingGroupName="eks-general",
        LaunchConfigurationName="spot-lc",
        MinSize=0,
        MaxSize=1,
        AvailabilityZones=[AZ],
        Tags=tags,
    )
    group = asg.describe_auto_scaling_groups(AutoScalingGroupNames=["eks-general"])["AutoScalingGroups"][0]
    assert {t["Key"]: t["Value"] for t in group["Tags"]} == {
        "eks:cluster-name": "prod",
        "eks:nodegroup-name": "general",
    }
    config = asg.describe_launch_configurations(LaunchConfigurationNames=["spot-lc"])["LaunchConfigurations"][0]
    assert config["SpotPrice"] == "0.05"
