"""Requests per second through boto3: kmslaunch's endpoint against moto's server, on this machine, in one run.

Run by hand: ``.venv/bin/python bench/bench_serve.py`` (needs ``pip install 'moto[server]'``).

Each server runs as its users run it, in its own process on loopback (`kmslaunch serve`, `moto_server`); the
client is one boto3 client per service, reused (keep-alive), one thread. For each server:
``ec2.describe_instances`` with 5 instances and ``kms.encrypt`` of 64
bytes. kmslaunch verifies every signature and authorizes every call with its engine and writes CloudTrail;
moto's server (5.x) does neither by default, which favours moto. Figures are best-of-N requests per second, and
the ratio kmslaunch / moto from the same run, which is what to read on a shared, noisy machine.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from kmslaunch.server.state import DEFAULT_ACCESS_KEY, DEFAULT_SECRET


def _client(service: str, url: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=DEFAULT_ACCESS_KEY,
        aws_secret_access_key=DEFAULT_SECRET,
        config=Config(retries={"max_attempts": 1}),
    )


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


def _wait(url: str, proc: subprocess.Popen[bytes]) -> None:
    for _ in range(200):
        if proc.poll() is not None:
            raise SystemExit(f"server exited: {proc.args}")
        try:
            urllib.request.urlopen(url, timeout=0.2)
            return
        except urllib.error.HTTPError:
            return  # it answered
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"server did not start: {proc.args}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(cmd: list[str], port: int) -> tuple[str, Callable[[], None]]:
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    _wait(url, proc)

    def stop() -> None:
        proc.terminate()
        proc.wait(10)

    return url, stop


def _start_kmslaunch(tmp: Path) -> tuple[str, Callable[[], None]]:
    port = _free_port()
    exe = str(Path(sys.executable).with_name("kmslaunch"))
    return _start([exe, "serve", "--port", str(port), "--state", str(tmp / "state.sqlite")], port)


def _start_moto() -> tuple[str, Callable[[], None]]:
    port = _free_port()
    exe = str(Path(sys.executable).with_name("moto_server"))
    return _start([exe, "-H", "127.0.0.1", "-p", str(port)], port)


def _round(fn: Callable[[], Any], n: int) -> float:
    t = time.perf_counter()
    for _ in range(n):
        fn()
    return n / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=300, help="requests per round")
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        servers = {"moto": _start_moto(), "kmslaunch": _start_kmslaunch(Path(tmp))}
        try:
            calls = {name: _prepare(url) for name, (url, _) in servers.items()}
            names = ["ec2.describe_instances (5 instances)", "kms.encrypt (64 bytes)"]
            rates: dict[tuple[str, str], list[float]] = {}
            for _ in range(args.rounds):
                # Rounds alternate between the servers, so that a noisy moment on this shared machine falls on both.
                for i, req in enumerate(names):
                    for server in servers:
                        fn = calls[server][i]
                        fn()
                        rates.setdefault((server, req), []).append(_round(fn, args.n))
        finally:
            for _, stop in servers.values():
                stop()
    print(f"boto3 requests/s, {args.rounds} alternating rounds of {args.n}, one client thread, loopback")
    print(f"{'request':<40}{'moto':>10}{'kmslaunch':>12}{'median ratio':>14}")
    for req in names:
        m, k = rates[("moto", req)], rates[("kmslaunch", req)]
        ratios = sorted(b / a for a, b in zip(m, k, strict=True))
        print(f"{req:<40}{max(m):>10.0f}{max(k):>12.0f}{statistics.median(ratios):>13.2f}x")
    print("(moto and kmslaunch columns: best round; ratio: median over rounds of kmslaunch / moto)")


if __name__ == "__main__":
    main()
