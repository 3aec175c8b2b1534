"""Write latency of ``kmslaunch serve`` as its state grows 10x: whole-snapshot saves against per-entity rows.

Run by hand: ``.venv/bin/python bench/bench_store.py`` (about a minute; ``-n`` writes per measure).

A state of 1x holds, in one account and region, 100 KMS keys, 100 EBS volumes, 25 IAM users and 2,000
CloudTrail records (CloudTrail is most of a state under load: every call, reads included, adds one); 10x holds ten
times each. For each size, the same in-process endpoint (``Server`` on loopback, one boto3 client, keep-alive,
no retries) makes N writes (``ec2.create_volume``, one new row) with each design:

- ``whole`` re-serializes the whole world, CloudTrail included, as snapshot files at every write and replaces
  them in one transaction: the design of state schema 1 (``Store.save_world`` before per-entity rows);
- ``rows`` (the endpoint's design) writes the rows whose JSON changed and appends the call's CloudTrail record.

Printed: p50 and p95 write latency in milliseconds, and the 10x / 1x ratio of p50 for each design. Read the
ratios: the absolute figures depend on this shared machine's load.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path

import boto3
from botocore.config import Config

from kmslaunch.server.app import Server
from kmslaunch.server.state import DEFAULT_ACCESS_KEY, DEFAULT_ACCOUNT, DEFAULT_SECRET, State
from kmslaunch.server.store import Store
from kmslaunch.snapshot.save import save_snapshot
from kmslaunch.world.clock import Clock, Ids
from kmslaunch.world.ec2 import Volume
from kmslaunch.world.iam import User
from kmslaunch.world.kms import Key, default_key_policy, key_document
from kmslaunch.world.world import World

REGION = "us-east-1"


class WholeSnapshotStore(Store):
    """Schema 1's write: the whole world, CloudTrail included, serialized as snapshot files at every change."""

    def _write_world(self, world: World) -> None:
        with tempfile.TemporaryDirectory(prefix="kmslaunch-bench-") as tmp:
            root = Path(tmp) / "snap"
            save_snapshot(world, root, meta={"source": "kmslaunch serve"})
            files = [(str(p.relative_to(root)), p.read_text(encoding="utf-8")) for p in root.rglob("*") if p.is_file()]
        self.db.execute("CREATE TABLE IF NOT EXISTS world_files_bench (path TEXT PRIMARY KEY, content TEXT)")
        self.db.execute("DELETE FROM world_files_bench")
        self.db.executemany("INSERT INTO world_files_bench VALUES (?, ?)", files)


def populate(world: World, scale: int) -> None:
    acct = world.account(DEFAULT_ACCOUNT)
    region = acct.region(REGION)
    for i in range(100 * scale):
        key_id = f"{i:08d}-0000-4000-8000-000000000000"
        arn = f"arn:aws:kms:{REGION}:{DEFAULT_ACCOUNT}:key/{key_id}"
        policy = key_document(default_key_policy(DEFAULT_ACCOUNT), arn)
        created = "2026-01-15T09:30:00Z"
        region.kms.keys[key_id] = Key(key_id, arn, DEFAULT_ACCOUNT, REGION, policy, creation_date=created)
        vid = f"vol-0{i:016x}"
        region.ec2.volumes[vid] = Volume(vid, 8, "gp3", f"{REGION}a", True, arn, create_time="2026-01-15T09:30:00Z")
    for i in range(25 * scale):
        name = f"user{i:05d}"
        acct.iam.users[name] = User(f"arn:aws:iam::{DEFAULT_ACCOUNT}:user/{name}", name, f"AIDA{i:017d}")
    record = {
        "eventVersion": "1.08",
        "userIdentity": {"type": "Root", "arn": f"arn:aws:iam::{DEFAULT_ACCOUNT}:root", "accountId": DEFAULT_ACCOUNT},
        "eventTime": "2026-01-15T09:30:00Z",
        "eventSource": "kms.amazonaws.com",
        "eventName": "DescribeKey",
        "awsRegion": REGION,
        "sourceIPAddress": "127.0.0.1",
        "userAgent": "Boto3/1.40 md/Botocore#1.40 ua/2.1 os/linux#6 lang/python#3.11 cfg/retry-mode#legacy",
        "requestParameters": {"keyId": "00000000-0000-4000-8000-000000000000"},
        "responseElements": None,
        "readOnly": True,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": DEFAULT_ACCOUNT,
    }
    region.trail.events.extend({**record, "eventID": f"{i:08d}", "requestID": f"{i:08d}"} for i in range(2000 * scale))


def measure(store_class: type[Store], scale: int, n: int) -> list[float]:
    with tempfile.TemporaryDirectory(prefix="kmslaunch-bench-") as tmp:
        path = Path(tmp) / "state.sqlite"
        seed = Store(path)
        world = World(clock=Clock(real=True), ids=Ids())
        populate(world, scale)
        seed.save_world(world)
        seed.close()
        state = State(store_class(path))
        state.add_credential(DEFAULT_ACCESS_KEY, DEFAULT_SECRET, f"arn:aws:iam::{DEFAULT_ACCOUNT}:root")
        server = Server("127.0.0.1", 0, state)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            ec2 = boto3.client(
                "ec2",
                endpoint_url=f"http://127.0.0.1:{server.server_address[1]}",
                region_name=REGION,
                aws_access_key_id=DEFAULT_ACCESS_KEY,
                aws_secret_access_key=DEFAULT_SECRET,
                config=Config(retries={"total_max_attempts": 1}),
            )
            ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=1)  # warm: the connection, the caches
            out = []
            for _ in range(n):
                t = time.perf_counter()
                ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=1)
                out.append((time.perf_counter() - t) * 1000)
            return out
        finally:
            server.shutdown()
            server.server_close()
            state.store.close()


def _p(xs: list[float], q: float) -> float:
    return sorted(xs)[min(len(xs) - 1, int(q * len(xs)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=40, help="writes per design and size")
    args = ap.parse_args()
    designs: dict[str, type[Store]] = {"whole": WholeSnapshotStore, "rows": Store}
    got: dict[tuple[str, int], list[float]] = {}
    for scale in (1, 10):
        for name, cls in designs.items():
            got[(name, scale)] = measure(cls, scale, args.n)
    print(f"ec2.create_volume write latency (ms), {args.n} writes each, one boto3 client, in-process server")
    print(f"{'design':<8}{'1x p50':>9}{'1x p95':>9}{'10x p50':>10}{'10x p95':>10}{'10x/1x p50':>12}")
    for name in designs:
        one, ten = got[(name, 1)], got[(name, 10)]
        ratio = statistics.median(ten) / statistics.median(one)
        cells = f"{_p(one, 0.5):>9.1f}{_p(one, 0.95):>9.1f}{_p(ten, 0.5):>10.1f}{_p(ten, 0.95):>10.1f}"
        print(f"{name:<8}{cells}{ratio:>11.1f}x")
    whole, rows = statistics.median(got[("whole", 10)]), statistics.median(got[("rows", 10)])
    print(f"at 10x, whole / rows p50: {whole / rows:.1f}x")


if __name__ == "__main__":
    main()
