"""Requests per second through boto3: kmslaunch's endpoint against moto's server, on this machine, in one run.

Run by hand: ``.venv/bin/python bench/bench_serve.py`` (needs ``pip install 'moto[server]'``).

Both servers run in this process's threads on loopback; the client is one boto3 client per service, reused
(keep-alive), one thread. For each server: ``ec2.describe_instances`` with 5 instances and ``kms.encrypt`` of 64
bytes. kmslaunch verifies every signature and authorizes every call with its engine and writes CloudTrail;
moto's server (5.x) does neither by default, which favours moto. Figures are best-of-N requests per second, and
the ratio kmslaunch / moto from the same run, which is what to read on a shared, noisy machine.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from moto.server import ThreadedMotoServer

from kmslaunch.server.app import Server
from kmslaunch.server.state import DEFAULT_ACCESS_KEY, DEFAULT_SECRET, State
from kmslaunch.server.store import Store


def _client(service: str, url: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=DEFAULT_ACCESS_KEY,
        aws_secret_access_key=DEFAULT_SECRET,
        config=Config(retries={"max_attempts": 1}),
    )


def _rate(fn: Callable[[], Any], n: int, rounds: int) -> float:
    fn()
    best = 0.0
    for _ in range(rounds):
        t = time.perf_counter()
        for _ in range(n):
            fn()
        best = max(best, n / (time.perf_counter() - t))
    return best


def _prepare(url: str) -> tuple[Callable[[], Any], Callable[[], Any]]:
    ec2 = _client("ec2", url)
    kms = _client("kms", url)
    image = ec2.register_image(
        Name="bench",
        RootDeviceName="/dev/xvda",
        BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8}}],
    )["ImageId"]
    ec2.run_instances(ImageId=image, MinCount=5, MaxCount=5, InstanceType="t3.micro")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    payload = b"x" * 64
    return ec2.describe_instances, (lambda: kms.encrypt(KeyId=key, Plaintext=payload))


def _start_kmslaunch(tmp: Path) -> tuple[str, Callable[[], None]]:
    server = Server("127.0.0.1", 0, State(Store(tmp / "state.sqlite")))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}", server.shutdown


def _start_moto() -> tuple[str, Callable[[], None]]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return f"http://{host}:{port}", server.stop


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=300, help="requests per round")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, start in (("moto", _start_moto), ("kmslaunch", lambda: _start_kmslaunch(Path(tmp)))):
            url, stop = start()
            try:
                describe, encrypt = _prepare(url)
                results[name] = {
                    "ec2.describe_instances (5 instances)": _rate(describe, args.n, args.rounds),
                    "kms.encrypt (64 bytes)": _rate(encrypt, args.n, args.rounds),
                }
            finally:
                stop()
    print(f"boto3 requests/s, best of {args.rounds} x {args.n}, one client thread, loopback")
    print(f"{'request':<40}{'moto':>10}{'kmslaunch':>12}{'ratio':>8}")
    for req in results["moto"]:
        m, k = results["moto"][req], results["kmslaunch"][req]
        print(f"{req:<40}{m:>10.0f}{k:>12.0f}{k / m:>7.2f}x")


if __name__ == "__main__":
    main()
