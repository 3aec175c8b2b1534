"""Durability of ``kmslaunch serve`` under load: is every acknowledged write still there after ``kill -9``?

Run by hand: ``.venv/bin/python bench/bench_durability.py`` (about 30 s; ``--clients``, ``--phase``, ``--kills``).

One server process on loopback (``kmslaunch serve --state FILE``) and N client threads (boto3, one set of clients
each, no SDK retries, so that one try is one request). Each client makes mixed writes in a loop: CreateKey,
CreateGrant and PutKeyPolicy on a key it made, CreateUser, CreateVolume encrypted with a key it made, RunInstances
of the example AMI. After each phase the server is killed with SIGKILL mid-load and restarted on the same state
file; clients see the connection fail and carry on. At the end the state file is opened and checked:

- every write the server acknowledged (a 2xx response received) is in the state (a key policy: the policy
  present is the last acknowledged one or one tried after it);
- the state is consistent: every volume's key, every alias's key and every instance's volumes exist;
- CloudTrail holds a record of every acknowledged call.

Printed: tried / acknowledged / present / lost, inconsistencies, and CloudTrail records missing. The loop is
bounded in time and count and sends traffic to 127.0.0.1 only. ``tests/test_serve_store.py`` runs a small one.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from kmslaunch.server.examples import PLAIN
from kmslaunch.server.state import DEFAULT_ACCESS_KEY, DEFAULT_ACCOUNT, DEFAULT_SECRET, State
from kmslaunch.server.store import Store
from kmslaunch.world.clock import Clock

REGION = "us-east-1"
OPERATIONS = ("CreateKey", "CreateGrant", "PutKeyPolicy", "CreateUser", "CreateVolume", "RunInstances")


@dataclass(frozen=True)
class Ack:
    """One acknowledged write: the operation, the id it made (or the key it changed), and a marker to find it."""

    operation: str
    ident: str
    marker: str
    key: str = ""  # PutKeyPolicy: the key whose policy it set


@dataclass
class Client:
    n: int
    tried: int = 0
    acks: list[Ack] = field(default_factory=list)
    policy_tries: dict[str, list[str]] = field(default_factory=dict)  # key id -> policy markers tried, in order
    keys: list[str] = field(default_factory=list)
    refused: dict[str, int] = field(default_factory=dict)  # AWS error code -> count
    unanswered: int = 0  # the connection failed (the server was down)


@dataclass(frozen=True)
class Result:
    tried: int
    acknowledged: int
    present: int
    lost: tuple[str, ...]
    inconsistent: tuple[str, ...]
    untrailed: tuple[str, ...]
    kills: int
    refused: dict[str, int]
    unanswered: int


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(state: Path, port: int) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-c", "from kmslaunch.cli.main import main; main()"]
    cmd += ["serve", "--host", "127.0.0.1", "--port", str(port), "--state", str(state)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ))
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited ({proc.returncode}) on {state}")
        try:
            urllib.request.urlopen(url, timeout=0.5)
            return proc
        except urllib.error.HTTPError:
            return proc  # it answered
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("the server did not start within 30 s")


def _policy(marker: str) -> str:
    root = f"arn:aws:iam::{DEFAULT_ACCOUNT}:root"
    statement = {"Sid": marker, "Effect": "Allow", "Principal": {"AWS": root}, "Action": "kms:*", "Resource": "*"}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def _one(c: Client, i: int, kms: Any, iam: Any, ec2: Any) -> Ack | None:
    """Make the client's i-th write; the Ack when the server answered 2xx."""
    op = OPERATIONS[i % len(OPERATIONS)] if c.keys else "CreateKey"
    key = c.keys[i % len(c.keys)] if c.keys else ""
    tag = f"c{c.n}-{i}"
    if op == "CreateKey":
        got = kms.create_key(Description=tag)["KeyMetadata"]["KeyId"]
        c.keys.append(got)
        return Ack(op, got, got)
    if op == "CreateGrant":
        grantee = f"arn:aws:iam::{DEFAULT_ACCOUNT}:root"
        grant = kms.create_grant(KeyId=key, GranteePrincipal=grantee, Operations=["Decrypt"])["GrantId"]
        return Ack(op, grant, grant, key)
    if op == "PutKeyPolicy":
        marker = f"mark{c.n}x{i}"
        c.policy_tries.setdefault(key, []).append(marker)
        kms.put_key_policy(KeyId=key, PolicyName="default", Policy=_policy(marker))
        return Ack(op, key, marker, key)
    if op == "CreateUser":
        iam.create_user(UserName=f"user-{tag}")
        return Ack(op, f"user-{tag}", f"user-{tag}")
    if op == "CreateVolume":
        arn = f"arn:aws:kms:{REGION}:{DEFAULT_ACCOUNT}:key/{key}"
        vol = ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=1, Encrypted=True, KmsKeyId=arn)["VolumeId"]
        return Ack(op, vol, vol, key)
    got = ec2.run_instances(ImageId=PLAIN.image_id, MinCount=1, MaxCount=1, InstanceType="t3.micro")
    iid = got["Instances"][0]["InstanceId"]
    return Ack(op, iid, iid)


def _client_loop(c: Client, url: str, stop: threading.Event, max_requests: int) -> None:
    config = Config(retries={"total_max_attempts": 1}, connect_timeout=2, read_timeout=10)
    make = lambda s: boto3.client(  # noqa: E731
        s,
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id=DEFAULT_ACCESS_KEY,
        aws_secret_access_key=DEFAULT_SECRET,
        config=config,
    )
    kms, iam, ec2 = make("kms"), make("iam"), make("ec2")
    i = 0
    while not stop.is_set() and c.tried < max_requests:
        c.tried += 1
        try:
            ack = _one(c, i, kms, iam, ec2)
        except ClientError as exc:
            ack = None  # an AWS error: not a 2xx, so not acknowledged
            code = str(exc.response.get("Error", {}).get("Code"))
            c.refused[code] = c.refused.get(code, 0) + 1
        except Exception:  # the connection failed: the server is down or being killed
            ack = None
            c.unanswered += 1
            time.sleep(0.05)
        if ack is not None:
            c.acks.append(ack)
        i += 1


def run(clients: int = 8, phase: float = 5.0, kills: int = 3, max_requests: int = 2000) -> Result:
    """Load, ``kill -9`` ``kills`` times with a restart on the same state, then check the state file."""
    with tempfile.TemporaryDirectory(prefix="kmslaunch-durability-") as tmp:
        state = Path(tmp) / "state.sqlite"
        port = _free_port()
        proc = _start(state, port)
        url = f"http://127.0.0.1:{port}"
        stop = threading.Event()
        cs = [Client(n) for n in range(clients)]
        threads = [threading.Thread(target=_client_loop, args=(c, url, stop, max_requests)) for c in cs]
        for t in threads:
            t.start()
        try:
            for _ in range(kills):
                time.sleep(phase)
                proc.send_signal(signal.SIGKILL)  # mid-load: requests are in flight
                proc.wait(10)
                proc = _start(state, port)
            time.sleep(phase)
        finally:
            stop.set()
            for t in threads:
                t.join(30)
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        return check(state, cs, kills)


def check(path: Path, cs: list[Client], kills: int) -> Result:
    """Open the state file and look for every acknowledged write, the state's consistency and CloudTrail."""
    st = State(Store(path), clock=Clock(real=True))
    try:
        world = st.world
        acct = world.accounts[DEFAULT_ACCOUNT]
        region = acct.regions[REGION]
        kms, ec2 = region.kms, region.ec2
        trail: dict[str, list[str]] = {}
        for e in region.trail.events:
            trail.setdefault(str(e.get("eventName")), []).append(json.dumps(e))
        texts = {name: "\n".join(items) for name, items in trail.items()}
        lost: list[str] = []
        untrailed: list[str] = []
        acks = [a for c in cs for a in c.acks]
        for c in cs:
            for a in c.acks:
                if not _present(a, c, acct, kms, ec2):
                    lost.append(f"{a.operation} {a.ident}")
        for a in acks:
            if a.marker not in texts.get(a.operation, ""):
                untrailed.append(f"{a.operation} {a.ident}")
        inconsistent: list[str] = []
        for v in ec2.volumes.values():
            if v.kms_key_id and world.key_by_arn(v.kms_key_id) is None and kms.resolve(v.kms_key_id) is None:
                inconsistent.append(f"volume {v.volume_id}: its key {v.kms_key_id} does not exist")
        for alias, target in kms.aliases.items():
            if target not in kms.keys:
                inconsistent.append(f"{alias}: its key {target} does not exist")
        for inst in ec2.instances.values():
            for device, vol in inst.block_devices:
                if vol not in ec2.volumes:
                    inconsistent.append(f"instance {inst.instance_id}: its volume {vol} ({device}) does not exist")
        return Result(
            tried=sum(c.tried for c in cs),
            acknowledged=len(acks),
            present=len(acks) - len(lost),
            lost=tuple(lost),
            inconsistent=tuple(inconsistent),
            untrailed=tuple(untrailed),
            kills=kills,
            refused={k: sum(c.refused.get(k, 0) for c in cs) for k in sorted({k for c in cs for k in c.refused})},
            unanswered=sum(c.unanswered for c in cs),
        )
    finally:
        st.store.close()


def _present(a: Ack, c: Client, acct: Any, kms: Any, ec2: Any) -> bool:
    if a.operation == "CreateKey":
        return a.ident in kms.keys
    if a.operation == "CreateGrant":
        key = kms.keys.get(a.key)
        return key is not None and any(g.grant_id == a.ident for g in key.grants)
    if a.operation == "PutKeyPolicy":
        key = kms.keys.get(a.key)
        if key is None:
            return False
        tries = c.policy_tries[a.key]
        sids = {s.get("Sid") for s in key.policy.raw.get("Statement", []) if isinstance(s, dict)}
        # A later PutKeyPolicy may have been applied and its answer lost in the kill: that one is there instead.
        return any(m in sids for m in tries[tries.index(a.marker) :])
    if a.operation == "CreateUser":
        return a.ident in acct.iam.users
    if a.operation == "CreateVolume":
        return a.ident in ec2.volumes
    return a.ident in ec2.instances


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--phase", type=float, default=6.0, help="seconds of load before each kill -9, and after the last")
    ap.add_argument("--kills", type=int, default=3)
    ap.add_argument("--max-requests", type=int, default=2000, help="per client: the loop's bound")
    args = ap.parse_args()
    r = run(args.clients, args.phase, args.kills, args.max_requests)
    print(f"{args.clients} clients, {r.kills} kill -9 and restarts, {args.phase:g} s of load around each")
    print(f"tried {r.tried}  acknowledged {r.acknowledged}  present {r.present}  lost {len(r.lost)}")
    print(f"not acknowledged: {r.unanswered} without an answer (server down), refused {r.refused or 'none'}")
    print(f"inconsistencies {len(r.inconsistent)}  acknowledged calls without a CloudTrail record {len(r.untrailed)}")
    for line in (*r.lost, *r.inconsistent, *r.untrailed)[:20]:
        print("  " + line)
    sys.exit(1 if r.lost or r.inconsistent or r.untrailed else 0)


if __name__ == "__main__":
    main()
