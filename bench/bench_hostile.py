"""Hostile clients against ``kmslaunch serve`` on loopback: does the endpoint hold, and what does it cost?

Run by hand: ``.venv/bin/python bench/bench_hostile.py`` (about a minute; loopback only, every loop bounded).

The endpoint runs as its users run it, ``kmslaunch serve`` in its own process with its default limits. Scenarios:

- normal clients' latency (boto3 ``kms.list_keys``, one client, keep-alive) alone, then alongside slowloris clients
  sending their headers a byte every half second: the ratio of the two medians is what to read;
- 200 connections held open and idle while a normal client is served;
- 6 requests declaring a 50 MB body and sending it;
- a 1 MB header block, 1,000 headers, 100 connections of random bytes.

For each: tried, held (served, or refused with the right HTTP status), broke (no answer, or a wrong one). Then the
server's resident memory before and its peak (VmHWM) after: a body read in full would show as 50 MB a request.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from kmslaunch.server.state import DEFAULT_ACCESS_KEY, DEFAULT_SECRET

KMS_HEAD = (
    "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Amz-Target: TrentService.ListKeys\r\n"
    "Content-Type: application/x-amz-json-1.1\r\n"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(tmp: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = _free_port()
    # This interpreter and its sys.path (PYTHONPATH=src runs the working tree's endpoint, not an installed one).
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    cmd = [
        sys.executable,
        "-c",
        "from kmslaunch.cli.main import main; main()",
        "serve",
        "--port",
        str(port),
        "--state",
        str(tmp / "state.sqlite"),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    for _ in range(200):
        if proc.poll() is not None:
            raise SystemExit(f"server exited: {cmd}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"server did not start: {cmd}")


def _memory(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of ``pid`` in KiB, from /proc."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        fields[name] = value.strip()
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


def _client(port: int) -> Any:
    return boto3.client(
        "kms",
        endpoint_url=f"http://127.0.0.1:{port}",
        region_name="us-east-1",
        aws_access_key_id=DEFAULT_ACCESS_KEY,
        aws_secret_access_key=DEFAULT_SECRET,
        config=Config(retries={"total_max_attempts": 1}, read_timeout=15),
    )


def _latencies(fn: Callable[[], Any], n: int) -> tuple[list[float], list[bool]]:
    """Seconds per call, and whether each call was served."""
    times, served = [], []
    for _ in range(n):
        t = time.perf_counter()
        try:
            fn()
            served.append(True)
        except Exception:  # any failure to serve is what this counts
            served.append(False)
        times.append(time.perf_counter() - t)
    return times, served


def _status(sock: socket.socket, timeout: float) -> int | None:
    """The HTTP status of the first answer on ``sock``, None for no answer (closed, reset or timed out)."""
    sock.settimeout(timeout)
    data = b""
    try:
        while b"\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                return None
            data += chunk
    except OSError:
        return None
    parts = data.split(b" ", 2)
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None


class Tally:
    def __init__(self) -> None:
        self.rows: list[tuple[str, int, int, int]] = []

    def add(self, name: str, outcomes: list[bool]) -> None:
        held = sum(outcomes)
        self.rows.append((name, len(outcomes), held, len(outcomes) - held))

    def print(self) -> None:
        print(f"{'scenario':<44} {'tried':>6} {'held':>6} {'broke':>6}")
        for name, tried, held, broke in self.rows:
            print(f"{name:<44} {tried:>6} {held:>6} {broke:>6}")


def _slowloris(port: int, clients: int, stop: threading.Event) -> list[socket.socket]:
    socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(clients)]

    def drip() -> None:
        payload = KMS_HEAD.encode()
        for i in range(len(payload)):
            if stop.wait(0.5):
                return
            for s in socks:
                with contextlib.suppress(OSError):
                    s.send(payload[i : i + 1])

    threading.Thread(target=drip, daemon=True).start()
    return socks


def _big_body(port: int, size: int) -> bool:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall((KMS_HEAD + f"Content-Length: {size}\r\n\r\n").encode())

    def send_body() -> None:
        chunk = b"x" * (1024 * 1024)
        try:
            for _ in range(size // len(chunk)):
                sock.sendall(chunk)
        except OSError:
            pass  # the server stopped reading once it had answered: expected

    sender = threading.Thread(target=send_body, daemon=True)
    sender.start()
    ok = _status(sock, 10) == 413
    sender.join(15)
    sock.close()
    return ok


def _one_shot(port: int, payload: bytes, expected: int) -> bool:
    sock = socket.create_connection(("127.0.0.1", port))
    with contextlib.suppress(OSError):  # refused mid-send: the answer may still be there
        sock.sendall(payload)
    ok = _status(sock, 10) == expected
    sock.close()
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=200, help="normal requests per latency run")
    parser.add_argument("--slow", type=int, default=50, help="slowloris clients")
    args = parser.parse_args()
    tally = Tally()
    with tempfile.TemporaryDirectory() as tmp:
        proc, port = _start(Path(tmp))
        try:
            kms = _client(port)
            kms.list_keys()
            rss_before, _ = _memory(proc.pid)

            alone, alone_ok = _latencies(kms.list_keys, args.n)
            tally.add("normal requests alone", alone_ok)
            stop = threading.Event()
            slow = _slowloris(port, args.slow, stop)
            time.sleep(1)
            beside, beside_ok = _latencies(kms.list_keys, args.n)
            # The slow clients are cut off at the request timeout (10 s) with 408: held; no answer: broke.
            tally.add("slowloris clients (1 byte / 0.5 s), 408", [_status(s, 15) == 408 for s in slow])
            stop.set()
            for s in slow:
                s.close()
            tally.add("normal requests beside slowloris", beside_ok)

            held = [socket.create_connection(("127.0.0.1", port)) for _ in range(200)]
            time.sleep(0.5)
            _, served = _latencies(kms.list_keys, 20)
            tally.add("normal requests beside 200 idle connections", served)
            for s in held:
                s.close()

            bodies: list[bool] = []
            threads = [
                threading.Thread(target=lambda: bodies.append(_big_body(port, 50 * 1024 * 1024))) for _ in range(6)
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
            tally.add("50 MB bodies, 413", bodies)

            header_mb = (
                KMS_HEAD.encode() + b"".join(f"X-P{i}: {'b' * 1000}\r\n".encode() for i in range(1024)) + b"\r\n"
            )
            tally.add("1 MB header block, 431", [_one_shot(port, header_mb, 431)])
            many = KMS_HEAD.encode() + b"".join(f"X-H{i}: v\r\n".encode() for i in range(1000)) + b"\r\n"
            tally.add("1,000 headers, 431", [_one_shot(port, many, 431)])
            tally.add("random bytes, 400", [_one_shot(port, os.urandom(512), 400) for _ in range(100)])

            _, after_ok = _latencies(kms.list_keys, 20)
            tally.add("normal requests after it all", after_ok)
            rss_after, peak = _memory(proc.pid)
        finally:
            proc.terminate()
            proc.wait(10)
    tally.print()
    med_alone, med_beside = statistics.median(alone), statistics.median(beside)
    p99 = lambda xs: sorted(xs)[int(len(xs) * 0.99) - 1]  # noqa: E731 - a one-line statistic
    print()
    print(f"normal list_keys alone:            median {med_alone * 1000:.2f} ms, p99 {p99(alone) * 1000:.2f} ms")
    print(f"normal list_keys beside slowloris: median {med_beside * 1000:.2f} ms, p99 {p99(beside) * 1000:.2f} ms")
    print(f"ratio beside / alone (median): {med_beside / med_alone:.2f}")
    print(
        f"server RSS before {rss_before / 1024:.1f} MiB, after {rss_after / 1024:.1f} MiB, peak {peak / 1024:.1f} MiB"
    )


if __name__ == "__main__":
    main()
