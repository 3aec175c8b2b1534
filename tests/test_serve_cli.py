"""The Knowledge Center's two stories, command by command through the real AWS CLI against `kmslaunch serve`,
then fixed, then running; and the endpoint's state exported as a snapshot that `kmslaunch doctor` diagnoses."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kmslaunch.cli.main import cli
from kmslaunch.server.app import Server
from kmslaunch.server.state import DEFAULT_ACCESS_KEY, DEFAULT_SECRET, State
from kmslaunch.server.store import Store

AWS = (
    str(Path(sys.executable).with_name("aws"))
    if Path(sys.executable).with_name("aws").exists()
    else shutil.which("aws")
)
CLIENT_ERROR = {"Code": "Client.InternalError", "Message": "Client.InternalError: Client error on launch"}


class Cli:
    def __init__(self, url: str, home: Path) -> None:
        self.url = url
        self.home = home

    def __call__(self, *args: str, keys: tuple[str, str] = (DEFAULT_ACCESS_KEY, DEFAULT_SECRET)) -> Any:
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(self.home),
            "AWS_ACCESS_KEY_ID": keys[0],
            "AWS_SECRET_ACCESS_KEY": keys[1],
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": str(self.home / "none"),
            "AWS_SHARED_CREDENTIALS_FILE": str(self.home / "none"),
        }
        assert AWS is not None
        done = subprocess.run(  # noqa: PLW1510 - the return code is checked below, with stderr in the message
            [AWS, "--endpoint-url", self.url, "--output", "json", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if done.returncode != 0:
            raise AssertionError(f"aws {' '.join(args)} failed: {done.stderr}")
        return json.loads(done.stdout) if done.stdout.strip() else None


@pytest.fixture
def aws(tmp_path: Path) -> Iterator[tuple[Cli, State]]:
    if AWS is None:
        pytest.fail("the AWS CLI (the awscli package, a dev dependency) is not installed")
    state = State(Store(tmp_path / "state.sqlite"))
    server = Server("127.0.0.1", 0, state)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield Cli(f"http://127.0.0.1:{server.server_address[1]}", tmp_path), state
    finally:
        server.shutdown()
        server.server_close()
        state.store.close()


def _alice(aws: Cli) -> tuple[str, str]:
    aws("iam", "create-user", "--user-name", "alice")
    aws(
        "iam",
        "attach-user-policy",
        "--user-name",
        "alice",
        "--policy-arn",
        "arn:aws:iam::aws:policy/AmazonEC2FullAccess",
    )
    key = aws("iam", "create-access-key", "--user-name", "alice")["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]


def _image(aws: Cli) -> str:
    mappings = json.dumps([{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8}}])
    return str(
        aws(
            "ec2",
            "register-image",
            "--name",
            "app",
            "--root-device-name",
            "/dev/xvda",
            "--block-device-mappings",
            mappings,
        )["ImageId"]
    )


def _launch(aws: Cli, alice: tuple[str, str], image: str, key_id: str) -> dict[str, Any]:
    mappings = json.dumps([{"DeviceName": "/dev/xvda", "Ebs": {"Encrypted": True, "KmsKeyId": key_id}}])
    run = aws(
        "ec2",
        "run-instances",
        "--image-id",
        image,
        "--instance-type",
        "t3.micro",
        "--count",
        "1",
        "--block-device-mappings",
        mappings,
        keys=alice,
    )
    (instance,) = run["Instances"]
    assert instance["State"]["Name"] == "pending"
    desc = aws("ec2", "describe-instances", "--instance-ids", instance["InstanceId"], keys=alice)
    return dict(desc["Reservations"][0]["Instances"][0])


def test_knowledge_center_story_1_iam_user_without_kms_permissions(aws: tuple[Cli, State], tmp_path: Path) -> None:
    cli_, _ = aws
    alice = _alice(cli_)
    image = _image(cli_)
    key = cli_("kms", "create-key", "--description", "app data")["KeyMetadata"]
    failed = _launch(cli_, alice, image, key["Arn"])
    assert failed["State"]["Name"] == "terminated"
    assert failed["StateReason"] == CLIENT_ERROR
    # The refusal is in CloudTrail as AWS records it.
    events = cli_(
        "cloudtrail",
        "lookup-events",
        "--lookup-attributes",
        "AttributeKey=EventName,AttributeValue=GenerateDataKeyWithoutPlaintext",
    )
    record = json.loads(events["Events"][0]["CloudTrailEvent"])
    assert record["errorCode"] == "AccessDenied"
    # A new encrypted volume: EBS first makes its data key, as alice, and that is what is refused.
    assert record["errorMessage"].endswith(
        "because no identity-based policy allows the kms:GenerateDataKeyWithoutPlaintext action"
    )

    # The state, exported as a snapshot, is diagnosed by the doctor the same way.
    snapshot = tmp_path / "exported"
    state_file = tmp_path / "state.sqlite"
    runner = CliRunner()
    res = runner.invoke(cli, ["serve", "--state", str(state_file), "--export", str(snapshot)])
    assert res.exit_code == 0, res.output
    res = runner.invoke(cli, ["doctor", str(snapshot), "--instance", failed["InstanceId"], "--format", "json"])
    diag = json.loads(res.output)
    assert diag["outcome"]["state"] == "terminated"
    assert diag["diagnosis"][0]["action"] == "kms:GenerateDataKeyWithoutPlaintext"
    assert diag["fixes"][0]["kind"] == "identity-policy" and diag["fixes"][0]["verified"]

    # The fix, as the doctor words it, applied with the CLI: alice's launch runs, and EC2's grant is on the key.
    policy = json.dumps(diag["fixes"][0]["document"])
    cli_("iam", "put-user-policy", "--user-name", "alice", "--policy-name", "ebs", "--policy-document", policy)
    running = _launch(cli_, alice, image, key["Arn"])
    assert running["State"]["Name"] == "running"
    grants = cli_("kms", "list-grants", "--key-id", key["KeyId"])["Grants"]
    assert [g["Operations"] for g in grants] == [["Decrypt"]]
    assert grants[0]["GranteePrincipal"].endswith(f"assumed-role/aws:ec2-infrastructure/{running['InstanceId']}")
    assert grants[0]["RetiringPrincipal"] == "ec2.us-east-1.amazonaws.com"


def test_knowledge_center_story_2_source_ip_condition(aws: tuple[Cli, State]) -> None:
    cli_, _ = aws
    alice = _alice(cli_)
    cli_(
        "iam",
        "put-user-policy",
        "--user-name",
        "alice",
        "--policy-name",
        "kms",
        "--policy-document",
        json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]}),
    )
    image = _image(cli_)
    key = cli_("kms", "create-key")["KeyMetadata"]
    deny: dict[str, Any] = {
        "Sid": "Corporate network only",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "kms:*",
        "Resource": "*",
        "Condition": {"NotIpAddress": {"aws:SourceIp": "127.0.0.0/8"}},
    }
    root = {
        "Sid": "Root",
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
        "Action": "kms:*",
        "Resource": "*",
    }
    policy = {"Version": "2012-10-17", "Statement": [root, deny]}
    cli_("kms", "put-key-policy", "--key-id", key["KeyId"], "--policy-name", "default", "--policy", json.dumps(policy))
    failed = _launch(cli_, alice, image, key["Arn"])
    assert failed["State"]["Name"] == "terminated" and failed["StateReason"] == CLIENT_ERROR
    decrypts = cli_(
        "cloudtrail", "lookup-events", "--lookup-attributes", "AttributeKey=EventName,AttributeValue=Decrypt"
    )
    record = json.loads(decrypts["Events"][0]["CloudTrailEvent"])
    assert "aws:ec2-infrastructure" in record["userIdentity"]["arn"] and record["errorCode"] == "AccessDenied"

    deny["Condition"]["ArnNotLikeIfExists"] = {"aws:PrincipalArn": "arn:aws:iam::*:role/aws:ec2-infrastructure"}
    cli_("kms", "put-key-policy", "--key-id", key["KeyId"], "--policy-name", "default", "--policy", json.dumps(policy))
    assert _launch(cli_, alice, image, key["Arn"])["State"]["Name"] == "running"


def test_collect_from_the_endpoint_then_doctor_agrees_with_what_the_endpoint_showed(
    aws: tuple[Cli, State], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli_, _ = aws
    alice = _alice(cli_)
    image = _image(cli_)
    key = cli_("kms", "create-key")["KeyMetadata"]
    failed = _launch(cli_, alice, image, key["Arn"])
    assert failed["State"]["Name"] == "terminated"
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", DEFAULT_ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", DEFAULT_SECRET)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    out = tmp_path / "collected"
    runner = CliRunner()
    res = runner.invoke(cli, ["collect", str(out), "--endpoint-url", cli_.url, "--regions", "us-east-1"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(cli, ["doctor", str(out), "--instance", failed["InstanceId"], "--format", "json"])
    diag = json.loads(res.output)
    assert res.exit_code == 1
    assert diag["outcome"]["state"] == failed["State"]["Name"]
    assert diag["outcome"]["state_reason"] == failed["StateReason"]
    assert diag["diagnosis"][0]["action"] == "kms:GenerateDataKeyWithoutPlaintext"
    # CloudTrail collected from the endpoint is read as evidence, and it agrees.
    assert diag["cloudtrail_evidence"] and all(e["agrees"] for e in diag["cloudtrail_evidence"])
