"""Hostile traffic against ``kmslaunch serve``'s HTTP side, small and fast: the limits and timeouts are set short.

Slow clients (a byte at a time) and idle connections must not stall others or cost a thread each; limits are
checked before what they limit is read; bytes that are not HTTP get a 400, never silence; every refusal, and every
500, is in the error envelope of the protocol the request was for, read back with botocore's parser. KMS's
documented input bounds are enforced from the model.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.parsers import create_parser
from click.testing import CliRunner

from kmslaunch.cli.main import cli
from kmslaunch.server import dispatch
from kmslaunch.server.app import Limits, Server
from kmslaunch.server.handlers import HANDLERS
from kmslaunch.server.state import DEFAULT_ACCESS_KEY, DEFAULT_SECRET, State
from kmslaunch.server.store import Store

LIMITS = Limits(
    max_body=64 * 1024,
    request_timeout=1.0,
    idle_timeout=1.0,
    write_timeout=2.0,
    workers=4,
    max_connections=300,
)


class Endpoint:
    def __init__(self, path: Path, limits: Limits = LIMITS) -> None:
        self.state = State(Store(path))
        self.server = Server("127.0.0.1", 0, self.state, limits=limits)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"

    def client(self, service: str = "kms", *, validate: bool = True) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id=DEFAULT_ACCESS_KEY,
            aws_secret_access_key=DEFAULT_SECRET,
            config=Config(
                retries={"total_max_attempts": 1}, connect_timeout=2, read_timeout=5, parameter_validation=validate
            ),
        )

    def connect(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        return sock

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.state.store.close()


@pytest.fixture
def endpoint(tmp_path: Path) -> Iterator[Endpoint]:
    ep = Endpoint(tmp_path / "s.sqlite")
    try:
        yield ep
    finally:
        ep.close()


def read_response(sock: socket.socket, timeout: float = 5.0) -> tuple[int, dict[str, str], bytes]:
    """One HTTP response (status, headers, body); AssertionError when the server says nothing in time."""
    sock.settimeout(timeout)
    reader = _READERS.get(sock)
    if reader is None:
        reader = _READERS[sock] = sock.makefile("rb")
    first = reader.readline()
    assert first, "connection closed without an answer"
    status = int(first.split(b" ")[1])
    headers: dict[str, str] = {}
    while (line := reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    body = reader.read(int(headers.get("content-length", "0")))
    return status, headers, body


# One buffered reader per socket (pipelined answers may arrive in one segment), forgotten with its socket.
_READERS: weakref.WeakKeyDictionary[socket.socket, Any] = weakref.WeakKeyDictionary()


def parsed_error(protocol: str, status: int, headers: dict[str, str], body: bytes) -> dict[str, str]:
    """The error as botocore reads it: proof the body is in the protocol's envelope."""
    out = create_parser(protocol).parse({"status_code": status, "headers": headers, "body": body}, None)
    error: dict[str, str] = out["Error"]
    return error


KMS_HEAD = (
    "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Amz-Target: TrentService.ListKeys\r\n"
    "Content-Type: application/x-amz-json-1.1\r\n"
)


# Slow and idle clients ------------------------------------------------------------------------------------------


def test_a_byte_a_second_client_does_not_stall_others_and_is_cut_off(endpoint: Endpoint) -> None:
    slow = [endpoint.connect() for _ in range(LIMITS.workers * 2)]  # more slow clients than workers
    stop = threading.Event()

    def drip() -> None:
        for i, byte in enumerate(KMS_HEAD.encode()):
            if stop.is_set():
                return
            for sock in slow:
                try:
                    sock.send(bytes([byte]))
                except OSError:
                    return
            time.sleep(0.05 if i else 0)

    dripper = threading.Thread(target=drip, daemon=True)
    dripper.start()
    time.sleep(0.2)
    kms = endpoint.client()
    started = time.monotonic()
    for _ in range(5):
        kms.list_keys()
    assert time.monotonic() - started < 2.0  # served while every slow client is still sending its headers
    # Cut off after request_timeout with a 408; it has not said which service it is for yet: the default envelope.
    status, headers, body = read_response(slow[0], timeout=LIMITS.request_timeout + 3)
    stop.set()
    assert status == 408
    assert parsed_error("query", status, headers, body)["Code"] == "RequestTimeout"
    for sock in slow:
        sock.close()


def test_idle_connections_cost_no_thread_and_are_closed_after_the_idle_timeout(endpoint: Endpoint) -> None:
    threads_before = threading.active_count()
    idle = [endpoint.connect() for _ in range(200)]
    deadline = time.monotonic() + 3
    while endpoint.server.open_connections < 200 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert endpoint.server.open_connections == 200
    # Served at once, by the bounded pool: 200 idle connections are 200 sockets, not 200 threads.
    endpoint.client().list_keys()
    assert threading.active_count() <= threads_before + LIMITS.workers
    time.sleep(LIMITS.idle_timeout + 0.5)
    assert endpoint.server.open_connections == 0
    for sock in idle:
        sock.settimeout(1)
        assert sock.recv(1) == b""  # closed by the server
        sock.close()


def test_connections_beyond_the_limit_are_refused_with_503(tmp_path: Path) -> None:
    ep = Endpoint(tmp_path / "s.sqlite", Limits(max_connections=3, idle_timeout=5.0, request_timeout=5.0))
    try:
        held = [ep.connect() for _ in range(3)]
        time.sleep(0.2)
        extra = ep.connect()
        status, headers, body = read_response(extra)
        assert status == 503
        assert parsed_error("query", status, headers, body)["Code"] == "ServiceUnavailable"
        for sock in [*held, extra]:
            sock.close()
    finally:
        ep.close()


# Limits checked before reading ---------------------------------------------------------------------------------


def test_a_body_over_the_limit_is_refused_from_its_content_length(endpoint: Endpoint) -> None:
    sock = endpoint.connect()
    # The headers only: the 413 comes before a byte of the body is sent, so the body was never read.
    sock.sendall((KMS_HEAD + f"Content-Length: {60 * 1024 * 1024}\r\n\r\n").encode())
    status, headers, body = read_response(sock)
    assert status == 413
    assert parsed_error("json", status, headers, body)["Code"] == "RequestEntityTooLarge"
    sock.close()


def _peak_rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM in /proc/self/status")


def test_six_60_mb_bodies_sent_in_full_do_not_grow_the_process(tmp_path: Path) -> None:
    # Long enough for a loaded machine to push 360 MB through loopback; the drain ends when each body is in.
    endpoint = Endpoint(tmp_path / "s.sqlite", Limits(max_body=64 * 1024, request_timeout=20.0))
    try:
        _six_bodies(endpoint)
    finally:
        endpoint.close()


def _six_bodies(endpoint: Endpoint) -> None:
    # The peak (VmHWM) is reset first, so the figure is this test's alone (Linux: clear_refs "5").
    Path("/proc/self/clear_refs").write_text("5")
    before = _peak_rss_kib()
    chunk = b"x" * (1024 * 1024)

    def send_one(statuses: list[int]) -> None:
        sock = endpoint.connect()
        sock.sendall((KMS_HEAD + f"Content-Length: {60 * len(chunk)}\r\n\r\n").encode())
        try:
            for _ in range(60):
                sock.sendall(chunk)  # the client goes on sending: the server must not keep what it gets
        except OSError:
            pass  # the server closed once it had refused and drained for a moment
        statuses.append(read_response(sock)[0])
        sock.close()

    statuses: list[int] = []
    senders = [threading.Thread(target=send_one, args=(statuses,)) for _ in range(6)]
    for t in senders:
        t.start()
    for t in senders:
        t.join(30)
    assert statuses == [413] * 6
    assert _peak_rss_kib() - before < 60 * 1024  # under one body's size, for six of them


def test_a_body_within_the_limit_is_served(endpoint: Endpoint) -> None:
    kms = endpoint.client()
    key = kms.create_key(Description="d" * 8000)["KeyMetadata"]["KeyId"]  # well under 64 KiB, over one recv
    assert kms.describe_key(KeyId=key)["KeyMetadata"]["Description"] == "d" * 8000


def test_a_header_line_over_64_kib_is_refused_not_split(endpoint: Endpoint) -> None:
    sock = endpoint.connect()
    # Before: the line was cut at 64 KiB and its tail parsed as a header of its own ("X-Injected: yes").
    long_value = "a" * (64 * 1024) + "\r\nX-Injected: yes"
    sock.sendall((KMS_HEAD + f"X-Long: {long_value}\r\nContent-Length: 0\r\n\r\n").encode())
    status, headers, body = read_response(sock)
    assert status == 431
    assert parsed_error("json", status, headers, body)["Code"] == "RequestHeaderFieldsTooLarge"
    sock.close()


def test_a_thousand_headers_are_refused(endpoint: Endpoint) -> None:
    sock = endpoint.connect()
    many = "".join(f"X-H{i}: v\r\n" for i in range(1000))
    sock.sendall((KMS_HEAD + many + "\r\n").encode())
    status, headers, body = read_response(sock)
    assert status == 431
    assert parsed_error("json", status, headers, body)["Code"] == "RequestHeaderFieldsTooLarge"
    sock.close()


def test_a_one_megabyte_header_block_is_refused_before_it_ends(endpoint: Endpoint) -> None:
    sock = endpoint.connect()
    sock.sendall(KMS_HEAD.encode())
    status: int | None = None
    sent = 0
    for i in range(1024):  # 1 MB of 1 KiB header lines, never finished
        try:
            sock.sendall(f"X-P{i}: {'b' * 1000}\r\n".encode())
        except OSError:
            # The server answered past its 128 KiB of headers and closed: the 431 is read if the reset left it.
            break
        sent = i + 1
        if i == 200:
            break
    try:
        status = read_response(sock)[0]
    except (OSError, AssertionError):
        status = None  # closed with a reset before the answer could be read: refused all the same
    assert sent <= 201, "the server went on reading the header block"
    assert status in (431, None)
    sock.close()
    endpoint.client().list_keys()  # and it serves the next client


def test_random_bytes_get_a_400_at_once(endpoint: Endpoint) -> None:
    samples = [
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",  # a TLS ClientHello on the plain port
        b"hello there\r\n\r\n",
        b"D \x0b\xb7^\x0bM\x8b\xe8X",  # a method-like start, then no line end: once waited for the timeout
        b"\n\xce\xd1o~K\xe4\xe7",  # an empty first line, then garbage without a line end
        *(os.urandom(512) for _ in range(200)),
    ]
    for payload in samples:
        sock = endpoint.connect()
        sock.sendall(payload)
        status, headers, body = read_response(sock, timeout=2)
        assert status == 400
        assert parsed_error("query", status, headers, body)["Code"] == "BadRequest"
        sock.close()


def test_a_content_length_of_other_digits_is_a_400_and_the_endpoint_lives_on(endpoint: Endpoint) -> None:
    sock = endpoint.connect()
    sock.sendall((KMS_HEAD + "Content-Length: \u00b2\r\n\r\n").encode("latin-1"))  # "²".isdigit() is true
    assert read_response(sock)[0] == 400
    sock.close()
    endpoint.client().list_keys()


def test_keep_alive_and_pipelined_requests_still_work(endpoint: Endpoint) -> None:
    kms = endpoint.client()
    for _ in range(20):
        kms.list_keys()  # one connection, kept alive by botocore's pool
    sock = endpoint.connect()
    req = (KMS_HEAD + "Content-Length: 2\r\n\r\n{}").encode()
    sock.sendall(req + req)  # two unsigned requests in one write: each is answered, in order
    for _ in range(2):
        status, headers, body = read_response(sock)
        assert parsed_error("json", status, headers, body)["Code"] == "MissingAuthenticationTokenException"
    sock.close()


# Bodies the parsers must not choke on ---------------------------------------------------------------------------


def _code(call: Callable[[], Any]) -> tuple[str, int]:
    with pytest.raises(ClientError) as err:
        call()
    return err.value.response["Error"]["Code"], err.value.response["ResponseMetadata"]["HTTPStatusCode"]


def _before_send(client: Any, event: str, change: Callable[[Any], None]) -> None:
    client.meta.events.register_first(event, lambda request, **_: change(request))


def test_json_nested_a_thousand_deep_is_a_serialization_exception(endpoint: Endpoint) -> None:
    kms = endpoint.client()
    deep = '{"KeyId": "x", "Extra": ' + "[" * 1000 + "]" * 1000 + "}"

    def swap(request: Any) -> None:
        request.data = deep.encode()

    _before_send(kms, "before-sign.kms.DescribeKey", swap)  # signed as sent: it reaches the parser
    assert _code(lambda: kms.describe_key(KeyId="x")) == ("SerializationException", 400)


def test_invalid_utf8_in_a_signed_form_body_is_a_400(endpoint: Endpoint) -> None:
    iam = endpoint.client("iam")

    def corrupt(request: Any) -> None:
        # botocore holds the form as a dict until it prepares the request: encode it here, then break it.
        request.data = urlencode(request.data).encode() + b"&UserName=\xff\xfe"

    _before_send(iam, "before-sign.iam.GetUser", corrupt)
    assert _code(iam.get_user) == ("InvalidQueryParameter", 400)


def test_a_nested_required_member_left_out_is_a_validation_error(endpoint: Endpoint) -> None:
    iam = endpoint.client("iam", validate=False)  # botocore would stop it; a hand-made request would not be
    code, status = _code(lambda: iam.create_user(UserName="u", Tags=[{"Value": "v"}]))
    assert (code, status) == ("ValidationError", 400)  # was a KeyError in the handler: a 500


@pytest.mark.parametrize(
    ("service", "operation", "call", "code"),
    [
        ("kms", "ListKeys", lambda c: c.list_keys(), "InternalFailure"),
        ("iam", "ListUsers", lambda c: c.list_users(), "InternalFailure"),
        ("ec2", "DescribeVolumes", lambda c: c.describe_volumes(), "InternalError"),
    ],
)
def test_a_500_is_in_the_protocol_shape(
    endpoint: Endpoint, monkeypatch: pytest.MonkeyPatch, service: str, operation: str, call: Any, code: str
) -> None:
    def broken(ctx: Any, params: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setitem(HANDLERS[service], operation, broken)
    assert _code(lambda: call(endpoint.client(service))) == (code, 500)


def test_recursion_anywhere_is_a_400_in_the_protocol_shape(monkeypatch: pytest.MonkeyPatch) -> None:
    def deep(*args: Any) -> Any:
        raise RecursionError

    monkeypatch.setattr(dispatch, "_handle", deep)
    status, _, body = dispatch.handle(
        None,
        "POST",
        "/",
        "",
        {"X-Amz-Target": "TrentService.ListKeys"},
        b"{}",
        "127.0.0.1",  # type: ignore[arg-type]
    )
    assert (status, json.loads(body)["__type"]) == (400, "SerializationException")


# KMS's documented bounds ----------------------------------------------------------------------------------------


@pytest.fixture
def kms(endpoint: Endpoint) -> tuple[Any, str]:
    # botocore checks lower bounds itself: without its check, what it would stop reaches the endpoint.
    client = endpoint.client(validate=False)
    return client, client.create_key()["KeyMetadata"]["KeyId"]


@pytest.mark.parametrize(
    ("name", "call", "fragment"),
    [
        (
            "GenerateDataKey 0 bytes",
            lambda c, k: c.generate_data_key(KeyId=k, NumberOfBytes=0),
            "greater than or equal to 1",
        ),
        (
            "GenerateDataKey 1025 bytes",
            lambda c, k: c.generate_data_key(KeyId=k, NumberOfBytes=1025),
            "less than or equal to 1024",
        ),
        (
            "GenerateDataKey both",
            lambda c, k: c.generate_data_key(KeyId=k, NumberOfBytes=32, KeySpec="AES_256"),
            "either",
        ),
        ("GenerateDataKey neither", lambda c, k: c.generate_data_key(KeyId=k), "either"),
        ("Encrypt 4097 bytes", lambda c, k: c.encrypt(KeyId=k, Plaintext=b"p" * 4097), "less than or equal to 4096"),
        ("Decrypt 6145 bytes", lambda c, k: c.decrypt(CiphertextBlob=b"c" * 6145), "less than or equal to 6144"),
        ("GenerateRandom 1025", lambda c, k: c.generate_random(NumberOfBytes=1025), "less than or equal to 1024"),
        ("GenerateRandom 0", lambda c, k: c.generate_random(NumberOfBytes=0), "greater than or equal to 1"),
    ],
)
def test_kms_bounds(kms: tuple[Any, str], name: str, call: Any, fragment: str) -> None:
    client, key = kms
    with pytest.raises(ClientError) as err:
        call(client, key)
    assert err.value.response["Error"]["Code"] == "ValidationException", name
    assert fragment in err.value.response["Error"]["Message"], name


def test_kms_bounds_allow_the_documented_maxima(kms: tuple[Any, str]) -> None:
    client, key = kms
    assert len(client.generate_data_key(KeyId=key, NumberOfBytes=1024)["Plaintext"]) == 1024
    assert len(client.generate_random(NumberOfBytes=1024)["Plaintext"]) == 1024
    blob = client.encrypt(KeyId=key, Plaintext=b"p" * 4096)["CiphertextBlob"]
    assert client.decrypt(CiphertextBlob=blob)["Plaintext"] == b"p" * 4096


def test_serve_options_set_the_limits(tmp_path: Path) -> None:
    """`kmslaunch serve --max-body --request-timeout` as a user starts it: the limits given are the ones kept."""
    py = [sys.executable, "-c", "from kmslaunch.cli.main import main; main()"]
    argv = ["serve", "--port", "0", "--state", str(tmp_path / "s.sqlite"), "--max-body", "2000"]
    argv += ["--request-timeout", "0.5", "--max-connections", "5", "--workers", "2"]
    server = subprocess.Popen([*py, *argv], cwd=tmp_path, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        m = re.match(r"kmslaunch endpoint on http://127\.0\.0\.1:(\d+) ", server.stdout.readline())
        assert m
        port = int(m.group(1))
        with socket.create_connection(("127.0.0.1", port), timeout=10) as big:
            big.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2001\r\n\r\n")
            assert big.recv(4096).startswith(b"HTTP/1.1 413 ")
        with socket.create_connection(("127.0.0.1", port), timeout=10) as slow:
            slow.sendall(b"POST / HTTP/1.1\r\nHost: x\r\n")  # and nothing more: cut off after 0.5 s
            t = time.monotonic()
            assert slow.recv(4096).startswith(b"HTTP/1.1 408 ")
            assert time.monotonic() - t < 5
        held = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(5)]
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as extra:
                assert extra.recv(4096).startswith(b"HTTP/1.1 503 ")
        finally:
            for c in held:
                c.close()
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.parametrize(("option", "value"), [("--max-body", "0"), ("--request-timeout", "0"), ("--workers", "1000")])
def test_serve_refuses_limits_out_of_range(option: str, value: str, tmp_path: Path) -> None:
    res = CliRunner().invoke(cli, ["serve", "--port", "0", "--state", str(tmp_path / "s.sqlite"), option, value])
    assert res.exit_code == 2 and option in res.output
    assert not (tmp_path / "s.sqlite").exists()
