"""The endpoint's state file: a refused request changes nothing, a failed commit is undone in memory too, a write
writes the rows it changed and the call's CloudTrail record in the same transaction, an earlier schema converts,
and acknowledged writes survive ``kill -9``."""

from __future__ import annotations

import importlib.util
import shutil
import sqlite3
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from click.testing import CliRunner

from kmslaunch.cli.main import cli
from kmslaunch.server import delta
from kmslaunch.server.app import Server
from kmslaunch.server.state import DEFAULT_ACCESS_KEY, DEFAULT_ACCOUNT, DEFAULT_SECRET, State
from kmslaunch.server.store import SCHEMA_VERSION, Store, StoreError
from kmslaunch.snapshot import save
from kmslaunch.snapshot.load import load_snapshot

ROOT = Path(__file__).parent
SCHEMA1 = ROOT / "fixtures" / "state-schema1.sqlite"  # written by kmslaunch at e3740d4: make_state_schema1.py
Factory = Callable[..., Any]


class Endpoint:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.state = State(Store(path))
        self.server = Server("127.0.0.1", 0, self.state)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def client(self, service: str, region: str = "us-east-1", keys: tuple[str, str] | None = None) -> Any:
        akid, secret = keys or (DEFAULT_ACCESS_KEY, DEFAULT_SECRET)
        return boto3.client(
            service,
            region_name=region,
            endpoint_url=self.url,
            aws_access_key_id=akid,
            aws_secret_access_key=secret,
            config=Config(retries={"total_max_attempts": 1}),
        )

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.state.store.close()


@pytest.fixture
def endpoint(tmp_path: Path) -> Iterator[Endpoint]:
    ep = Endpoint(tmp_path / "state.sqlite")
    try:
        yield ep
    finally:
        ep.close()


def _reopen(path: Path) -> State:
    return State(Store(path))


def _error(call: Callable[[], Any]) -> dict[str, Any]:
    with pytest.raises(ClientError) as err:
        call()
    return dict(err.value.response["Error"]) | {"status": err.value.response["ResponseMetadata"]["HTTPStatusCode"]}


def _nobody(ep: Endpoint) -> tuple[str, str]:
    """A user with no permissions at all, and its keys."""
    iam = ep.client("iam")
    iam.create_user(UserName="nobody")
    key = iam.create_access_key(UserName="nobody")["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]


# A request signed for a region that does not exist ----------------------------------------------------------------


@pytest.mark.parametrize("region", ["evil", "xx-evil-1"])
def test_a_call_signed_for_an_unknown_region_is_refused_and_adds_no_region(endpoint: Endpoint, region: str) -> None:
    keys = _nobody(endpoint)
    err = _error(lambda: endpoint.client("sts", region=region, keys=keys).get_caller_identity())
    assert err["Code"] == "SignatureDoesNotMatch"
    assert err["Message"] == f"Credential should be scoped to a valid region, not '{region}'. "
    err = _error(lambda: endpoint.client("kms", region=region).create_key())
    assert err["Code"] == "InvalidSignatureException"
    assert all(region not in a.regions for a in endpoint.state.world.accounts.values())
    # Every later write of every client still answers, and is kept.
    key = endpoint.client("kms").create_key(Description="after")["KeyMetadata"]["KeyId"]
    endpoint.close()
    again = _reopen(endpoint.path)
    try:
        assert key in again.world.accounts[DEFAULT_ACCOUNT].regions["us-east-1"].kms.keys
        assert all(region not in a.regions for a in again.world.accounts.values())
    finally:
        again.store.close()
        endpoint.state = State(Store(endpoint.path))  # for the fixture's close


def test_a_known_region_other_than_us_east_1_is_served(endpoint: Endpoint) -> None:
    key = endpoint.client("kms", region="eu-west-3").create_key()["KeyMetadata"]
    assert key["Arn"].startswith("arn:aws:kms:eu-west-3:")


# Strings that are not Unicode ----------------------------------------------------------------------------------


def test_a_lone_surrogate_is_refused_as_invalid_and_the_endpoint_goes_on(endpoint: Endpoint) -> None:
    kms = endpoint.client("kms")
    err = _error(lambda: kms.create_key(Description="\ud800"))
    assert (err["Code"], err["status"]) == ("ValidationException", 400)
    assert "description" in err["Message"].lower()
    region = endpoint.state.world.accounts[DEFAULT_ACCOUNT].regions.get("us-east-1")
    assert region is None or not region.kms.keys  # refused before the handler ran: no key, no region made
    key = kms.create_key(Description="fine")["KeyMetadata"]["KeyId"]
    assert kms.describe_key(KeyId=key)["KeyMetadata"]["Description"] == "fine"


# A commit that fails ---------------------------------------------------------------------------------------------


def test_a_failed_commit_answers_500_once_and_undoes_the_request_in_memory(
    endpoint: Endpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    kms = endpoint.client("kms")
    kept = kms.create_key(Description="kept")["KeyMetadata"]["KeyId"]
    store = endpoint.state.store
    real = store._write_world
    calls = {"n": 0}

    def failing(world: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise sqlite3.OperationalError("disk I/O error")
        return real(world)

    monkeypatch.setattr(store, "_write_world", failing)
    err = _error(lambda: kms.create_key(Description="lost"))
    assert err["status"] == 500
    keys = endpoint.state.world.accounts[DEFAULT_ACCOUNT].regions["us-east-1"].kms.keys
    assert [k.description for k in keys.values()] == ["kept"]  # the failed CreateKey left nothing in memory
    assert endpoint.state.store.credentials()  # the rolled-back store still holds the rest
    # The next write succeeds and is kept, with the earlier one.
    after = kms.create_key(Description="after")["KeyMetadata"]["KeyId"]
    assert {k["KeyId"] for k in kms.list_keys()["Keys"]} == {kept, after}


# What a write writes ---------------------------------------------------------------------------------------------


def test_a_write_writes_only_the_rows_it_changed(endpoint: Endpoint) -> None:
    ec2 = endpoint.client("ec2")
    for _ in range(30):
        ec2.create_volume(AvailabilityZone="us-east-1a", Size=1)
    db = endpoint.state.store.db
    before = db.total_changes
    endpoint.client("ec2").create_volume(AvailabilityZone="us-east-1a", Size=1)
    written = db.total_changes - before
    # The new volume's row and the CloudTrail record (plus at most a head row): not the 30 other volumes.
    assert 2 <= written <= 4, written


def test_run_instances_serializes_as_much_however_many_instances_the_region_has(
    endpoint: Endpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    ec2 = endpoint.client("ec2")
    vol = ec2.create_volume(AvailabilityZone="us-east-1a", Size=8)["VolumeId"]
    snap = ec2.create_snapshot(VolumeId=vol)["SnapshotId"]
    mapping = [{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": snap}}]
    ami = ec2.register_image(Name="root", RootDeviceName="/dev/xvda", BlockDeviceMappings=mapping)["ImageId"]
    endpoint.state.store.verify = False  # the check's whole pass would count every instance
    serialized = [0]

    def counting(*args: Any) -> Any:
        serialized[0] += 1
        return save.reservation_json(*args)

    monkeypatch.setattr(delta, "reservation_json", counting)
    db = endpoint.state.store.db

    def launch() -> tuple[int, int]:
        # boto3 fills in a ClientToken (RunInstances' idempotency token): the handler looks for an earlier launch
        # with it, which must not make every instance of the region one to serialize again.
        serialized[0], before = 0, db.total_changes
        ec2.run_instances(ImageId=ami, InstanceType="t3.micro", MinCount=1, MaxCount=1)
        return serialized[0], int(db.total_changes - before)

    second = [launch(), launch()][1]
    for _ in range(20):
        launch()
    assert launch() == second
    assert second[0] == 1, second  # the new instance only


def test_a_write_serializes_only_the_entities_it_reached(endpoint: Endpoint, monkeypatch: pytest.MonkeyPatch) -> None:
    kms, ec2 = endpoint.client("kms"), endpoint.client("ec2")
    arns = [kms.create_key()["KeyMetadata"]["Arn"] for _ in range(20)]
    for _ in range(20):
        ec2.create_volume(AvailabilityZone="us-east-1a", Size=1)
    counts = {"key": 0, "volume": 0}

    def counting(name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def wrapped(*args: Any) -> Any:
            counts[name] += 1
            return real(*args)

        return wrapped

    endpoint.state.store.verify = False  # the check's whole pass would count every entity
    for module in (delta, save):
        monkeypatch.setattr(module, "key_files", counting("key", save.key_files))
        monkeypatch.setattr(module, "volume_json", counting("volume", save.volume_json))
    ec2.create_volume(AvailabilityZone="us-east-1a", Size=1, Encrypted=True, KmsKeyId=arns[3])
    # The new volume and the key it is encrypted with: not the 20 other keys nor the 20 other volumes.
    assert counts == {"key": 1, "volume": 1}


def test_the_cloudtrail_record_is_committed_before_the_answer(endpoint: Endpoint) -> None:
    endpoint.client("sts").get_caller_identity()
    # Another connection, as a process started after a kill -9 would read the file: the record is there at once.
    other = sqlite3.connect(str(endpoint.path))
    try:
        names = [r[0] for r in other.execute("SELECT event FROM trail ORDER BY id")]
    finally:
        other.close()
    assert any('"eventName":"GetCallerIdentity"' in n for n in names)


def test_export_and_reload_give_the_same_snapshot(endpoint: Endpoint, tmp_path: Path) -> None:
    kms, ec2, iam = endpoint.client("kms"), endpoint.client("ec2"), endpoint.client("iam")
    key = kms.create_key()["KeyMetadata"]
    kms.create_alias(AliasName="alias/app", TargetKeyId=key["KeyId"])
    kms.create_grant(KeyId=key["Arn"], GranteePrincipal=f"arn:aws:iam::{DEFAULT_ACCOUNT}:root", Operations=["Decrypt"])
    iam.create_user(UserName="ann")
    ec2.create_volume(AvailabilityZone="us-east-1a", Size=1, Encrypted=True, KmsKeyId=key["Arn"])
    endpoint.close()
    runner = CliRunner()
    out = tmp_path / "snap"
    res = runner.invoke(cli, ["serve", "--state", str(endpoint.path), "--export", str(out)])
    assert res.exit_code == 0, res.output
    world = load_snapshot(out).world
    region = world.accounts[DEFAULT_ACCOUNT].regions["us-east-1"]
    assert region.kms.aliases["alias/app"] == key["KeyId"]
    assert len(region.kms.keys[key["KeyId"]].grants) == 1
    assert "ann" in world.accounts[DEFAULT_ACCOUNT].iam.users
    assert any(v.kms_key_id == key["Arn"] for v in region.ec2.volumes.values())
    endpoint.state = State(Store(endpoint.path))
    # The records as the endpoint kept them, in their order (CloudTrail is appended rows, not in the world's rows).
    served = endpoint.state.world.accounts[DEFAULT_ACCOUNT].regions["us-east-1"].trail.events
    assert region.trail.events == served
    assert {"CreateKey", "CreateAlias", "CreateGrant", "CreateVolume"} <= {e["eventName"] for e in served}


# State files of other schemas ------------------------------------------------------------------------------------


def test_a_state_of_schema_1_is_converted_with_everything_it_held(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    shutil.copy(SCHEMA1, path)
    st = _reopen(path)
    try:
        region = st.world.accounts[DEFAULT_ACCOUNT].regions["us-east-1"]
        key_id = region.kms.aliases["alias/migrated"]
        key = region.kms.keys[key_id]
        assert key.description == "migrated key" and len(key.grants) == 1
        assert "carol" in st.world.accounts[DEFAULT_ACCOUNT].iam.users
        assert any(v.kms_key_id == key.arn for v in region.ec2.volumes.values())
        names = [e["eventName"] for e in region.trail.events]
        # The records made after schema 1's last save (only in its trail table) are kept, once each.
        assert names[-2:] == ["DescribeKey", "ListKeys"] and names.count("CreateKey") == 1
        assert st.lookup(DEFAULT_ACCESS_KEY) is not None
        assert st.store.get_meta("schema") == str(SCHEMA_VERSION)
    finally:
        st.store.close()
    tables = {r[0] for r in sqlite3.connect(str(path)).execute("SELECT name FROM sqlite_master")}
    assert "world_files" not in tables and "entities" in tables
    again = _reopen(path)  # and it opens again as it is now
    try:
        assert key_id in again.world.accounts[DEFAULT_ACCOUNT].regions["us-east-1"].kms.keys
    finally:
        again.store.close()


def test_a_state_of_a_newer_schema_is_refused_and_left_as_it_is(tmp_path: Path) -> None:
    path = tmp_path / "new.sqlite"
    Store(path).close()
    db = sqlite3.connect(str(path))
    db.execute("UPDATE meta SET v = '99' WHERE k = 'schema'")
    db.commit()
    db.close()
    before = path.read_bytes()
    with pytest.raises(StoreError, match="schema 99, written by a newer kmslaunch"):
        Store(path)
    assert path.read_bytes() == before


# kill -9 ---------------------------------------------------------------------------------------------------------


def _durability() -> Any:
    spec = importlib.util.spec_from_file_location("bench_durability", ROOT.parent / "bench" / "bench_durability.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_acknowledged_writes_survive_kill_9() -> None:
    result = _durability().run(clients=3, phase=1.5, kills=1, max_requests=400)
    assert result.acknowledged > 20, result
    assert result.present == result.acknowledged, result.lost
    assert not result.inconsistent and not result.untrailed, result
