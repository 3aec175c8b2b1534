"""The HTTP side of ``kmslaunch serve``: HTTP/1.1 on loopback, keep-alive, no Nagle delay, hostile clients bounded.

One thread reads every connection without blocking (``selectors``) and hands only complete requests to a bounded
pool of workers, so a client that sends a byte a second (slowloris) or keeps a connection open and idle costs a
socket and a small buffer, never a thread: 2,000 idle connections are 2,000 sockets and ``Limits.workers``
threads. Requests are read with a small parser of our own instead of ``http.server``'s, whose header parsing
(through ``email.parser``) cost more than the rest of a KMS request. It reads what the AWS SDKs and CLI send: a
request line, headers, and a body of Content-Length bytes (no chunked bodies: botocore sends none for these
services).

Every limit is checked before what it limits is read: a Content-Length over ``Limits.max_body`` is refused from the
headers, before a byte of the body is kept; a header line, the header block and the header count are checked as the
bytes arrive. Each refusal is an HTTP error in the error envelope of the protocol the request seems to be for
(``dispatch.refusal``), so an SDK reports it as an error code rather than a parse failure.
"""

from __future__ import annotations

import contextlib
import logging
import re
import resource
import select
import selectors
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.parse import urlsplit

from .dispatch import handle, internal_failure, refusal
from .state import State

log = logging.getLogger("kmslaunch.serve")

_REASONS = {s.value: s.phrase for s in HTTPStatus}
# Every prefix of a request line "METHOD target HTTP/1.x\r": a byte that cannot continue one is refused at once.
_REQUEST_LINE_PREFIX = re.compile(
    rb"[A-Z]{0,16}|[A-Z]{1,16} [!-~]*|[A-Z]{1,16} [!-~]+ (?:H|HT|HTT|HTTP|HTTP/|HTTP/1|HTTP/1\.|HTTP/1\.[01]\r?)?"
)
_CHECKED_PREFIX = 1024
_REQUEST_LINE = re.compile(rb"[A-Z]{1,16} [!-~]+ HTTP/1\.[01]\r?\n")


@dataclass(frozen=True, slots=True)
class Limits:
    """What one client may make the endpoint hold. The defaults suit the AWS CLI and SDKs with a wide margin; the
    tests use short timeouts.

    ``max_body``: 1 MiB. AWS documents no byte limit on a KMS, IAM, STS or EC2 API request, but every input these
    services take is far smaller: KMS Encrypt's plaintext is at most 4,096 bytes and a key policy 32 KB
    (https://docs.aws.amazon.com/kms/latest/developerguide/resource-limits.html), an IAM managed policy 6,144
    characters (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html), EC2 user data 16 KB
    (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/user-data.html). Assumption ``serve-request-limits``.
    """

    max_body: int = 1024 * 1024
    max_line: int = 64 * 1024  # a request line or one header line, CRLF included
    max_head: int = 128 * 1024  # request line and every header line together
    max_headers: int = 100  # as Python's http.client (_MAXHEADERS)
    request_timeout: float = 10.0  # from a request's first byte to its last: a byte-a-second client is cut off
    idle_timeout: float = 60.0  # a keep-alive connection with no request under way is closed after this
    write_timeout: float = 10.0  # a client that does not read its response frees its worker after this
    linger: float = 0.005  # a worker waits this long for a keep-alive client's next request before handing back
    workers: int = 8
    max_connections: int = 1000  # beyond: accepted, answered 503 and closed at once


class _Refused(Exception):
    """A request refused before dispatch: HTTP status, AWS-style code and message."""

    def __init__(self, status: int, code: str, message: str, *, declared: int = 0) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.declared = declared  # a refused body's Content-Length: what the client may still send


@dataclass(eq=False, slots=True)
class _Head:
    method: str
    target: str
    version: str
    headers: dict[str, str]
    lower: dict[str, str]
    length: int
    end: int  # offset of the body in the buffer


@dataclass(eq=False, slots=True)
class _Conn:
    """One client connection while the reader owns it."""

    sock: socket.socket
    peer: str
    buf: bytearray = field(default_factory=bytearray)
    last: float = 0.0  # last activity: for the idle timeout
    started: float | None = None  # first byte of the request under way: for the request timeout
    scanned: int = 0  # bytes of the head already looked at for line ends
    line_start: int = 0
    lines: int = 0
    head: _Head | None = None
    draining: float | None = None  # refused and answered: reading and dropping what the client still sends until
    drain_left: int = 0  # bytes of a refused body still to drop before closing


class Server:
    """Bind ``host:port`` (OSError when it cannot be). ``state`` may be set after binding, so that a busy port is
    found before the state file is opened or created. ``serve_forever`` runs the reader; ``shutdown`` stops it from
    another thread; ``server_close`` closes every socket."""

    def __init__(self, host: str, port: int, state: State | None = None, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self.socket = socket.create_server((host, port), backlog=1024, reuse_port=False)
        self.socket.setblocking(False)
        self.server_address: tuple[str, int] = self.socket.getsockname()[:2]
        if state is not None:
            self.state = state
        self._selector = selectors.DefaultSelector()
        # Below the process's file descriptor limit (1,024 on many systems), so that accept never fails with
        # EMFILE, which would leave the listening socket readable and the reader spinning.
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        room = soft - 64 if soft != resource.RLIM_INFINITY else self.limits.max_connections
        self._max_connections = max(1, min(self.limits.max_connections, room))
        self._pool = ThreadPoolExecutor(max_workers=self.limits.workers, thread_name_prefix="kmslaunch-serve")
        self._conns: dict[int, _Conn] = {}  # every open connection, the reader's or a worker's, by fd
        # Handed back by workers (with "close it"): only the reader registers, closes and counts connections.
        self._returned: list[tuple[_Conn, bool]] = []
        self._returned_lock = threading.Lock()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._accept_paused: float | None = None  # accept failed (EMFILE): listening again from then on
        self._stop = threading.Event()
        self._stopped = threading.Event()
        self._stopped.set()

    state: State

    @property
    def open_connections(self) -> int:
        return len(self._conns)

    # The reader ------------------------------------------------------------------------------------------------

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        self._stop.clear()
        self._stopped.clear()
        sel = self._selector
        sel.register(self.socket, selectors.EVENT_READ, None)
        sel.register(self._wake_r, selectors.EVENT_READ, None)
        tick = min(poll_interval, self.limits.request_timeout / 4, self.limits.idle_timeout / 4)
        try:
            while not self._stop.is_set():
                for key, _ in sel.select(tick):
                    if key.fileobj is self.socket:
                        self._accept()
                    elif key.fileobj is self._wake_r:
                        self._take_back()
                    else:
                        conn: _Conn = key.data
                        try:
                            self._readable(conn)
                        except Exception:  # a bug in reading one connection closes it, never the endpoint
                            log.exception("reading from %s failed", conn.peer)
                            self._close(conn)
                now = time.monotonic()
                self._expire(now)
                if self._accept_paused is not None and now >= self._accept_paused:
                    self._accept_paused = None
                    sel.register(self.socket, selectors.EVENT_READ, None)
        finally:
            for obj in (self.socket, self._wake_r):
                with contextlib.suppress(KeyError, ValueError):
                    sel.unregister(obj)
            self._stopped.set()

    def shutdown(self) -> None:
        self._stop.set()
        self._wake()
        self._stopped.wait()

    def server_close(self) -> None:
        self._stop.set()
        self._pool.shutdown(wait=True, cancel_futures=True)
        for conn in list(self._conns.values()):
            self._close(conn)
        self.socket.close()
        self._wake_r.close()
        self._wake_w.close()
        self._selector.close()

    def _wake(self) -> None:
        # OSError: the pipe is full (the reader is already awake) or closed.
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")

    def _accept(self) -> None:
        for _ in range(64):
            try:
                sock, addr = self.socket.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # out of file descriptors: stop accepting for a moment, the backlog waits
                log.warning("accept failed: %s", exc)
                self._selector.unregister(self.socket)
                self._accept_paused = time.monotonic() + 0.1
                return
            sock.setblocking(False)
            # Without TCP_NODELAY, Nagle and delayed ACK hold each response ~40 ms.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = _Conn(sock, str(addr[0]), last=time.monotonic())
            if len(self._conns) >= self._max_connections:
                self._answer_and_close(conn, _Refused(503, "ServiceUnavailable", "Too many open connections"))
                continue
            self._conns[sock.fileno()] = conn
            self._selector.register(sock, selectors.EVENT_READ, conn)

    def _take_back(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except (BlockingIOError, InterruptedError):
            pass
        with self._returned_lock:
            back, self._returned = self._returned, []
        for conn, close in back:
            if close or self._stop.is_set():
                self._close(conn)
                continue
            self._selector.register(conn.sock, selectors.EVENT_READ, conn)
            if conn.buf:  # a pipelined request arrived with the last one
                self._advance(conn)

    def _readable(self, conn: _Conn) -> None:
        try:
            data = conn.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._close(conn)
            return
        if not data:
            self._close(conn)
            return
        now = time.monotonic()
        conn.last = now
        if conn.draining is not None:
            # Dropped: the answer is sent; closed when the refused body is all in, the client stops, or time is up.
            conn.drain_left -= len(data)
            if conn.drain_left <= 0:
                self._close(conn)
            return
        if conn.started is None:
            conn.started = now
        conn.buf += data
        self._advance(conn)

    def _expire(self, now: float) -> None:
        limits = self.limits
        # Only the connections the reader holds: one a worker is answering is not idle.
        for key in list(self._selector.get_map().values()):
            conn = key.data
            if not isinstance(conn, _Conn):
                continue
            if conn.draining is not None:
                if now >= conn.draining:
                    self._close(conn)
            elif conn.started is not None and now - conn.started > limits.request_timeout:
                self._refuse(conn, _Refused(408, "RequestTimeout", "The request was not received in time"))
            elif conn.started is None and now - conn.last > limits.idle_timeout:
                self._close(conn)

    # Reading one request ----------------------------------------------------------------------------------------

    def _advance(self, conn: _Conn) -> None:
        try:
            request = self._complete(conn)
        except _Refused as exc:
            self._refuse(conn, exc)
            return
        except OSError:
            self._close(conn)
            return
        if request is not None:
            self._selector.unregister(conn.sock)
            self._pool.submit(self._serve, conn, *request)

    def _complete(self, conn: _Conn) -> tuple[_Head, bytes] | None:
        """The connection's next request, taken out of its buffer, once all of it is there; else None."""
        if conn.head is None:
            conn.head = self._scan_head(conn)
            if conn.head is None:
                return None
            if conn.head.length and conn.head.lower.get("expect", "").lower() == "100-continue":
                conn.sock.send(b"HTTP/1.1 100 Continue\r\n\r\n")  # curl asks before sending over 1 KB
        head = conn.head
        if len(conn.buf) - head.end < head.length:
            return None
        body = bytes(conn.buf[head.end : head.end + head.length])
        del conn.buf[: head.end + head.length]
        conn.head, conn.scanned, conn.line_start, conn.lines = None, 0, 0, 0
        conn.started = time.monotonic() if conn.buf else None
        return head, body

    def _scan_head(self, conn: _Conn) -> _Head | None:
        """The request's head once complete, else None; _Refused as soon as the bytes so far break a limit."""
        limits, buf = self.limits, conn.buf
        # Not HTTP at all (random bytes, TLS to a plain port): say so at once instead of waiting for a line end.
        # The request line so far must begin a valid one; its first KiB is enough to tell.
        if conn.lines == 0:
            first = bytes(buf[:_CHECKED_PREFIX]).split(b"\n", 1)[0]
            if _REQUEST_LINE_PREFIX.fullmatch(first) is None:
                raise _Refused(400, "BadRequest", "Not an HTTP request")
        pos = conn.scanned
        while True:
            nl = buf.find(b"\n", pos)
            if nl < 0:
                break
            line = bytes(buf[conn.line_start : nl + 1])
            pos = conn.line_start = nl + 1
            if len(line) > limits.max_line:
                raise _too_long(conn.lines)
            if conn.lines == 0 and _REQUEST_LINE.fullmatch(line) is None:
                raise _Refused(400, "BadRequest", "Malformed request line")
            if line in (b"\r\n", b"\n") and conn.lines > 0:
                return _parse_head(bytes(buf[: nl + 1]), nl + 1, limits)
            conn.lines += 1
            if conn.lines > limits.max_headers + 1:
                raise _Refused(431, "RequestHeaderFieldsTooLarge", f"More than {limits.max_headers} header lines")
        conn.scanned = len(buf)
        if len(buf) - conn.line_start > limits.max_line:
            raise _too_long(conn.lines)
        if len(buf) > limits.max_head:
            raise _Refused(431, "RequestHeaderFieldsTooLarge", f"Request headers over {limits.max_head} bytes")
        return None

    def _refuse(self, conn: _Conn, exc: _Refused) -> None:
        """Answer a refusal, then read and drop what the client still sends: closing with unread bytes would make
        the kernel reset the connection, and a client that sends its whole body before reading (urllib, curl
        without Expect) would never see the answer. A refused body is dropped as it comes, never kept, until its
        declared length is in or ``request_timeout`` has passed; anything else for a second."""
        headers = conn.head.lower if conn.head is not None else _partial_headers(conn.buf)
        if exc.declared:  # the body's first bytes may have come with the head
            conn.drain_left = max(0, exc.declared - max(0, len(conn.buf) - _head_end(conn.buf)))
        status, out, payload = refusal(headers, exc.status, exc.code, exc.message)
        log.debug("%s refused: %d %s", conn.peer, exc.status, exc.message)
        conn.buf.clear()
        conn.head = None
        try:
            conn.sock.sendall(_response(status, out, payload, close=True))
            conn.sock.shutdown(socket.SHUT_WR)
        except OSError:
            self._close(conn)
            return
        conn.draining = time.monotonic() + (self.limits.request_timeout if exc.declared else 1.0)

    def _answer_and_close(self, conn: _Conn, exc: _Refused) -> None:
        status, out, payload = refusal({}, exc.status, exc.code, exc.message)
        with contextlib.suppress(OSError):
            conn.sock.send(_response(status, out, payload, close=True))
        conn.sock.close()

    def _close(self, conn: _Conn) -> None:
        fd = conn.sock.fileno()
        if fd >= 0:
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(conn.sock)
            self._conns.pop(fd, None)
            conn.sock.close()

    # A worker: one complete request ------------------------------------------------------------------------------

    def _serve(self, conn: _Conn, head: _Head, body: bytes) -> None:
        """Answer a request, then the ones that follow at once on the same connection, then hand it back."""
        request: tuple[_Head, bytes] | None = (head, body)
        close = False
        while request is not None and not close and not self._stop.is_set():
            close = self._answer(conn, *request)
            request = None if close else self._next(conn)
        conn.last = time.monotonic()
        with self._returned_lock:
            self._returned.append((conn, close))
        self._wake()

    def _answer(self, conn: _Conn, head: _Head, body: bytes) -> bool:
        """Send the response to one request; True when the connection is to be closed."""
        split = urlsplit(head.target)
        try:
            status, out_headers, payload = handle(
                self.state, head.method, split.path or "/", split.query, head.headers, body, conn.peer
            )
        except Exception:  # dispatch answers its own failures; this is the last line, still in the protocol's shape
            log.exception("request failed")
            status, out_headers, payload = internal_failure(head.lower)
        log.debug('%s "%s %s" %d', conn.peer, head.method, head.target, status)
        close = head.lower.get("connection", "").lower() == "close" or head.version == "HTTP/1.0"
        try:
            conn.sock.settimeout(self.limits.write_timeout)
            conn.sock.sendall(_response(status, out_headers, payload, close=close))
            conn.sock.setblocking(False)
        except OSError:
            return True
        return close

    def _next(self, conn: _Conn) -> tuple[_Head, bytes] | None:
        """The next request on a keep-alive connection if it arrives within ``Limits.linger``: an SDK in a loop
        sends it at once, and answering it here saves two thread hand-offs (about 0.7 ms a request on 2 cores).
        Anything else (nothing yet, a partial or refused request, a closed connection) goes back to the reader."""
        deadline = time.monotonic() + self.limits.linger
        try:
            while True:
                request = self._complete(conn)
                wait = deadline - time.monotonic()
                if request is not None or wait <= 0:
                    return request
                # botocore writes the headers and the body apart: wait for the rest within the same linger.
                ready, _, _ = select.select([conn.sock], [], [], wait)
                if not ready:
                    return None
                data = conn.sock.recv(65536)
                if not data:
                    return None  # the reader sees the close on its next read
                conn.buf += data
                conn.started = conn.started or time.monotonic()
        except (_Refused, OSError):
            return None  # refused or broken: the reader parses the buffer again and answers or closes it


def _too_long(lines: int) -> _Refused:
    if lines == 0:
        return _Refused(414, "RequestURITooLong", "Request line too long")
    return _Refused(431, "RequestHeaderFieldsTooLarge", "A header line is longer than 65536 bytes")


def _parse_head(raw: bytes, end: int, limits: Limits) -> _Head:
    lines = raw.decode("latin-1").split("\n")
    parts = lines[0].rstrip("\r").split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise _Refused(400, "BadRequest", "Malformed request line")
    method, target, version = parts
    headers: dict[str, str] = {}
    for raw_line in lines[1:]:
        line = raw_line.rstrip("\r")
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name.strip() or name != name.strip():
            raise _Refused(400, "BadRequest", "Malformed header line")
        # Repeated headers fold into one comma-separated value, as HTTP defines (SigV4 canonicalizes so).
        headers[name] = f"{headers[name]},{value.strip()}" if name in headers else value.strip()
    lower = {k.lower(): v for k, v in headers.items()}
    if "chunked" in lower.get("transfer-encoding", "").lower():
        raise _Refused(411, "MissingContentLength", "Chunked request bodies are not accepted: send Content-Length")
    raw_length = lower.get("content-length") or "0"
    if not (raw_length.isascii() and raw_length.isdigit()):  # "²".isdigit() is true, int("²") is not
        raise _Refused(400, "BadRequest", "Bad Content-Length")
    length = int(raw_length)
    if length > limits.max_body:
        raise _Refused(
            413, "RequestEntityTooLarge", f"Request body of {length} bytes is over {limits.max_body}", declared=length
        )
    return _Head(method, target, version, headers, lower, length, end)


def _head_end(buf: bytearray) -> int:
    end = buf.find(b"\r\n\r\n")
    return end + 4 if end >= 0 else len(buf)


def _partial_headers(buf: bytearray) -> dict[str, str]:
    """The headers a refused, incomplete head has so far (to choose the error envelope), without a new limit."""
    out: dict[str, str] = {}
    for line in bytes(buf[:8192]).decode("latin-1").split("\n")[1:]:
        name, sep, value = line.partition(":")
        if sep:
            out[name.strip().lower()] = value.strip()
    return out


def _response(status: int, headers: dict[str, str], payload: bytes, *, close: bool) -> bytes:
    head = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}"]
    head += [f"{k}: {v}" for k, v in headers.items()]
    head.append(f"Content-Length: {len(payload)}")
    if close:
        head.append("Connection: close")
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + payload
