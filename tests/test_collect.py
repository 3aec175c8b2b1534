"""``kmslaunch collect`` against moto's server, through boto3 and the CLI: the world it collects, pagination,
throttling retried, a refused call recorded and the rest collected, bad input refused, and a collected snapshot
that the doctor and the simulator agree on."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from click.testing import CliRunner
from moto.server import ThreadedMotoServer

from kmslaunch.cli.collect import collect_command
from kmslaunch.cli.doctor import doctor_command
from kmslaunch.collect import collector
from kmslaunch.launch.request import LaunchRequest, simulate
from kmslaunch.launch.result import LaunchKind
from kmslaunch.snapshot import load_snapshot

ACCOUNT = "123456789012"  # moto's default account
R = "us-east-1"
N_KEYS = 24
N_GROUPS = 12
ALICE = f"arn:aws:iam::{ACCOUNT}:user/alice"
ALICE_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["ec2:*", "kms:*"], "Resource": "*"}],
}


ENDPOINT_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*"}],
}


def source_ip_policy() -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Admin",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                "Action": "kms:*",
                "Resource": "*",
            },
            {
                "Sid": "CorporateNetworkOnly",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "kms:*",
                "Resource": "*",
                "Condition": {"NotIpAddress": {"aws:SourceIp": "198.51.100.0/24"}},
            },
        ],
    }


@pytest.fixture(scope="module")
def aws() -> Iterator[dict[str, Any]]:
    """A moto server with an account's worth of resources; what was created, by name."""
    mp = pytest.MonkeyPatch()
    for k, v in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": R,
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    }.items():
        mp.setenv(k, v)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"

    def client(service: str) -> Any:
        return boto3.client(service, endpoint_url=url, region_name=R)

    iam, kms, ec2, asg = client("iam"), client("kms"), client("ec2"), client("autoscaling")
    iam.create_user(UserName="alice")
    iam.put_user_policy(UserName="alice", PolicyName="ec2-kms", PolicyDocument=json.dumps(ALICE_POLICY))
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    }
    role = iam.create_role(RoleName="app", AssumeRolePolicyDocument=json.dumps(trust))["Role"]
    keys = [kms.create_key(Description=f"key {i}")["KeyMetadata"] for i in range(N_KEYS)]
    guarded = kms.create_key(Description="corporate network only", Policy=json.dumps(source_ip_policy()))
    guarded_key = guarded["KeyMetadata"]
    kms.create_alias(AliasName="alias/app", TargetKeyId=keys[0]["KeyId"])
    kms.create_grant(KeyId=keys[0]["KeyId"], GranteePrincipal=role["Arn"], Operations=["Decrypt"])
    image_id = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    ec2.run_instances(ImageId=image_id, MinCount=2, MaxCount=2)
    volume = ec2.create_volume(AvailabilityZone=f"{R}a", Size=8, Encrypted=True, KmsKeyId=keys[1]["Arn"])
    snapshot = ec2.create_snapshot(VolumeId=volume["VolumeId"])
    data = {
        "ImageId": image_id,
        "InstanceType": "t3.micro",
        "BlockDeviceMappings": [{"DeviceName": "/dev/xvda", "Ebs": {"Encrypted": True, "KmsKeyId": keys[0]["Arn"]}}],
    }
    lt = ec2.create_launch_template(LaunchTemplateName="web", LaunchTemplateData=data)["LaunchTemplate"]
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    endpoint = ec2.create_vpc_endpoint(
        VpcId=vpc,
        ServiceName=f"com.amazonaws.{R}.kms",
        VpcEndpointType="Interface",
        PolicyDocument=json.dumps(ENDPOINT_POLICY),
    )["VpcEndpoint"]["VpcEndpointId"]
    for g in range(N_GROUPS):
        asg.create_auto_scaling_group(
            AutoScalingGroupName=f"web-{g:02d}",
            LaunchTemplate={"LaunchTemplateId": lt["LaunchTemplateId"], "Version": "$Default"},
            MinSize=0,
            MaxSize=1,
            AvailabilityZones=[f"{R}a"],
        )
    yield {
        "url": url,
        "keys": keys,
        "guarded": guarded_key,
        "role": role,
        "image": image_id,
        "snapshot": snapshot["SnapshotId"],
        "template": lt["LaunchTemplateId"],
        "endpoint": endpoint,
        "vpc": vpc,
    }
    server.stop()
    mp.undo()


def run_collect(
    aws: dict[str, Any], out: Path, *extra: str, hooks: Callable[[Any], None] | None = None, mp: Any = None
) -> Any:
    if hooks is not None:
        make = collector.new_session

        def hooked(**kw: Any) -> Any:
            session = make(**kw)
            hooks(session)
            return session

        mp.setattr(collector, "new_session", hooked)
    args = [str(out), "--endpoint-url", aws["url"], "--regions", R, "--max-attempts", "1", *extra]
    return CliRunner().invoke(collect_command, args, catch_exceptions=False)


@pytest.fixture(scope="module")
def collected(aws: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any, dict[str, int]]:
    """One collection with a small page size, the Auto Scaling pages counted."""
    out = tmp_path_factory.mktemp("snap") / "out"
    counts = {"DescribeAutoScalingGroups": 0}

    def hooks(session: Any) -> None:
        def count(**_: Any) -> None:
            counts["DescribeAutoScalingGroups"] += 1

        session.events.register("before-call.auto-scaling.DescribeAutoScalingGroups", count)

    mp = pytest.MonkeyPatch()
    try:
        res = run_collect(aws, out, "--page-size", "5", hooks=hooks, mp=mp)
    finally:
        mp.undo()
    assert res.exit_code == 0, res.output
    return out, load_snapshot(out), counts


def test_collected_world(aws: dict[str, Any], collected: tuple[Path, Any, dict[str, int]]) -> None:
    out, snap, _ = collected
    world = snap.world
    acct = world.accounts[ACCOUNT]
    region = acct.regions[R]
    assert "alice" in acct.iam.users and acct.iam.users["alice"].inline["ec2-kms"].raw == ALICE_POLICY
    assert "app" in acct.iam.roles
    assert {k["KeyId"] for k in aws["keys"]} | {aws["guarded"]["KeyId"]} <= set(region.kms.keys)
    guarded = region.kms.keys[aws["guarded"]["KeyId"]]
    assert guarded.policy.raw == source_ip_policy()
    assert region.kms.aliases["alias/app"] == aws["keys"][0]["KeyId"]
    grants = region.kms.keys[aws["keys"][0]["KeyId"]].grants
    assert [g.grantee for g in grants] == [aws["role"]["Arn"]]
    assert len(region.ec2.instances) == 2
    assert region.ec2.snapshots[aws["snapshot"]].encrypted
    # (moto's DescribeSnapshots leaves out KmsKeyId; the file holds what the service returned.)
    lt = region.ec2.launch_templates[aws["template"]]
    assert lt.data("$Default")["BlockDeviceMappings"][0]["Ebs"]["KmsKeyId"] == aws["keys"][0]["Arn"]
    assert len(region.autoscaling.groups) == N_GROUPS
    endpoint = region.ec2.vpc_endpoints[aws["endpoint"]]
    assert endpoint.vpc_id == aws["vpc"] and endpoint.service_name == f"com.amazonaws.{R}.kms"
    assert endpoint.policy is not None and endpoint.policy.raw == ENDPOINT_POLICY
    assert region.ec2.endpoint_for("kms") is endpoint
    meta = json.loads((out / "snapshot.json").read_text())
    assert meta["format"] == "kmslaunch-snapshot/1" and meta["collector"]["accounts"] == [ACCOUNT]
    # Timestamps as the CLI prints them: ISO 8601 text.
    described = json.loads(
        (out / ACCOUNT / R / "kms" / "keys" / aws["keys"][0]["KeyId"] / "describe-key.json").read_text()
    )
    assert isinstance(described["KeyMetadata"]["CreationDate"], str) and "T" in described["KeyMetadata"]["CreationDate"]
    # moto enforces the guarded key's Deny on DescribeKey (the collector is not on the corporate network), as
    # AWS would: recorded, and the rest of the key collected.
    refused = [
        e for e in meta["errors"] if e["target"] == aws["guarded"]["Arn"] or aws["guarded"]["KeyId"] in e["target"]
    ]
    assert all(e["code"] == "AccessDeniedException" for e in refused)
    # moto has no Organizations here: recorded as a fact, not a gap.
    assert any(e["code"] == "AWSOrganizationsNotInUseException" for e in meta["errors"])
    assert world.organization.known and world.organization.org_id is None


def test_pagination_merges_pages(collected: tuple[Path, Any, dict[str, int]]) -> None:
    out, _, counts = collected
    assert counts["DescribeAutoScalingGroups"] >= N_GROUPS // 5 + 1
    groups = json.loads((out / ACCOUNT / R / "autoscaling" / "describe-auto-scaling-groups.json").read_text())
    assert len(groups["AutoScalingGroups"]) == N_GROUPS and "NextToken" not in groups


def test_throttling_is_retried(aws: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state = {"left": 3, "calls": 0}

    def hooks(session: Any) -> None:
        def throttle(**_: Any) -> None:
            state["calls"] += 1
            if state["left"] > 0:
                state["left"] -= 1
                raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "ListKeys")

        session.events.register("before-call.kms.ListKeys", throttle)

    res = run_collect(aws, tmp_path / "out", hooks=hooks, mp=monkeypatch)
    assert res.exit_code == 0, res.output
    meta = json.loads((tmp_path / "out" / "snapshot.json").read_text())
    assert state == {"left": 0, "calls": 4}
    assert meta["collector"]["retries"] >= 3
    assert not [e for e in meta["errors"] if e["call"] == "kms:ListKeys"]
    assert len(list((tmp_path / "out" / ACCOUNT / R / "kms" / "keys").iterdir())) == N_KEYS + 1


def test_denied_call_is_recorded_and_the_rest_collected(
    aws: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    denied = aws["keys"][3]["KeyId"]

    def hooks(session: Any) -> None:
        def deny(params: dict[str, Any], **_: Any) -> None:
            # before-call sees the serialized request: KMS's JSON body names the key.
            if denied in str(params.get("body")):
                raise ClientError(
                    {"Error": {"Code": "AccessDeniedException", "Message": "not authorized: kms:GetKeyPolicy"}},
                    "GetKeyPolicy",
                )

        session.events.register("before-call.kms.GetKeyPolicy", deny)

    out = tmp_path / "out"
    res = run_collect(aws, out, hooks=hooks, mp=monkeypatch)
    assert res.exit_code == 0, res.output
    meta = json.loads((out / "snapshot.json").read_text())
    [err] = [e for e in meta["errors"] if e["call"] == "kms:GetKeyPolicy"]
    assert err["call"] == "kms:GetKeyPolicy" and err["target"] == aws["keys"][3]["Arn"]
    assert err["file"].endswith(f"kms/keys/{denied}/get-key-policy.json")
    snap = load_snapshot(out)
    keys = snap.world.accounts[ACCOUNT].regions[R].kms.keys
    assert not keys[denied].policy_known and keys[denied].grants_known
    assert all(k.policy_known for kid, k in keys.items() if kid != denied)
    assert any("kms:GetKeyPolicy" in u or "get-key-policy" in u for u in snap.unknown)


def test_bad_input(aws: dict[str, Any], tmp_path: Path) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    res = run_collect(aws, tmp_path / "full")
    assert res.exit_code == 2 and "not empty" in res.output
    assert (tmp_path / "full" / "keep.txt").read_text() == "mine"
    assert run_collect(aws, tmp_path / "r", "--regions", "mars-1").exit_code == 2
    assert run_collect(aws, tmp_path / "p", "--profile", "no-such-profile").exit_code == 2
    assert run_collect(aws, tmp_path / "x", "--role-arn", "not-an-arn").exit_code == 2
    assert not (tmp_path / "r").exists() and not (tmp_path / "p").exists()


def test_doctor_agrees_with_simulate_on_the_collected_world(
    aws: dict[str, Any], collected: tuple[Path, Any, dict[str, int]], tmp_path: Path
) -> None:
    out = collected[0]
    states = []
    for key in (aws["guarded"]["Arn"], aws["keys"][2]["Arn"]):
        params = {
            "ImageId": aws["image"],
            "MinCount": 1,
            "MaxCount": 1,
            "InstanceType": "t3.micro",
            "BlockDeviceMappings": [{"DeviceName": "/dev/xvda", "Ebs": {"Encrypted": True, "KmsKeyId": key}}],
        }
        request = tmp_path / "run.json"
        request.write_text(json.dumps(params))
        res = CliRunner().invoke(
            doctor_command, [str(out), "--run-instances", str(request), "--as", ALICE, "--format", "json"]
        )
        doc = json.loads(res.output)
        world = load_snapshot(out).world
        result = simulate(world, LaunchRequest(LaunchKind.RUN_INSTANCES, ACCOUNT, R, params, ALICE))
        assert doc["outcome"]["state"] == result.outcome.state
        assert doc["verdict"] == result.verdict.value
        assert res.exit_code == {"runs": 0, "runs-unless": 3}.get(result.verdict.value, 1)
        states.append(result.outcome.state)
    # The SourceIp key refuses alice's launch (she calls from no address of the corporate network); the
    # default-policy key lets it run.
    assert states == ["terminated", "running"]


def test_public_amis_the_account_uses_are_collected(
    aws: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The account's own describe-images calls do not list Amazon's public AMIs (as on AWS, where they are not
    the account's nor shared with it by name); the AMIs its instances and launch templates use are described by
    id afterwards, so a launch from them can be simulated."""
    local = threading.local()
    asked: list[dict[str, Any]] = []

    def hooks(session: Any) -> None:
        def before(params: dict[str, Any], **_: Any) -> None:
            local.params = params
            asked.append(params)

        def after(parsed: dict[str, Any], **_: Any) -> None:
            if "Filters" not in local.params:
                parsed["Images"] = [i for i in parsed.get("Images", []) if i.get("OwnerId") == ACCOUNT]

        session.events.register("before-parameter-build.ec2.DescribeImages", before)
        session.events.register("after-call.ec2.DescribeImages", after)

    out = tmp_path / "out"
    res = run_collect(aws, out, hooks=hooks, mp=monkeypatch)
    assert res.exit_code == 0, res.output
    [by_id] = [p for p in asked if "Filters" in p]
    assert by_id["Filters"] == [{"Name": "image-id", "Values": [aws["image"]]}]
    images = json.loads((out / ACCOUNT / R / "ec2" / "describe-images.json").read_text())["Images"]
    assert [i["ImageId"] for i in images if i["ImageId"] == aws["image"]] == [aws["image"]]
    assert collector.referenced_image_ids(
        {(ACCOUNT, R, "ec2", "describe-instances.json"): {"Reservations": [{"Instances": [{"ImageId": "ami-1"}]}]}},
        ACCOUNT,
        R,
    ) == ["ami-1"]
