"""The HTTP side of ``kmslaunch serve``: a threaded HTTP/1.1 server on loopback, keep-alive, no Nagle delay.

Requests are read with a small parser of our own instead of ``http.server``'s, whose header parsing (through
``email.parser``) cost more than the rest of a KMS request. It reads what the AWS SDKs and CLI send: a request
line, headers, and a body of Content-Length bytes (no chunked bodies: botocore sends none for these services).
"""

from __future__ import annotations

import logging
import socketserver
from http import HTTPStatus
from urllib.parse import urlsplit

from .dispatch import handle
from .state import State

log = logging.getLogger("kmslaunch.serve")

_MAX_HEADER_LINES = 200
_MAX_LINE = 65536
_MAX_BODY = 64 * 1024 * 1024
_REASONS = {s.value: s.phrase for s in HTTPStatus}


class _BadRequest(Exception):
    pass


class _Handler(socketserver.StreamRequestHandler):
    disable_nagle_algorithm = True  # without it, Nagle and delayed ACK hold each response ~40 ms
    server: Server

    def handle(self) -> None:
        while True:
            try:
                if not self._one():
                    return
            except (ConnectionError, TimeoutError):
                return
            except _BadRequest as exc:
                self._send(400, {"Content-Type": "text/plain"}, str(exc).encode(), close=True)
                return

    def _one(self) -> bool:
        """Serve one request; False when the connection is done."""
        line = self.rfile.readline(_MAX_LINE + 1)
        if not line:
            return False
        if len(line) > _MAX_LINE:
            raise _BadRequest("request line too long")
        parts = line.decode("latin-1").rstrip("\r\n").split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            raise _BadRequest("malformed request line")
        method, target, version = parts
        headers: dict[str, str] = {}
        for _ in range(_MAX_HEADER_LINES):
            h = self.rfile.readline(_MAX_LINE + 1)
            if h in (b"\r\n", b"\n", b""):
                break
            name, sep, value = h.decode("latin-1").partition(":")
            if not sep:
                raise _BadRequest("malformed header line")
            key = name.strip()
            # Repeated headers fold into one comma-separated value, as HTTP defines (SigV4 canonicalizes so).
            headers[key] = f"{headers[key]},{value.strip()}" if key in headers else value.strip()
        else:
            raise _BadRequest("too many header lines")
        lower = {k.lower(): v for k, v in headers.items()}
        if "chunked" in lower.get("transfer-encoding", "").lower():
            raise _BadRequest("chunked request bodies are not supported")
        try:
            length = int(lower.get("content-length") or 0)
        except ValueError as exc:
            raise _BadRequest("bad Content-Length") from exc
        if length < 0 or length > _MAX_BODY:
            raise _BadRequest("request body too large")
        if lower.get("expect", "").lower() == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        body = self.rfile.read(length) if length else b""
        split = urlsplit(target)
        try:
            status, out_headers, payload = handle(
                self.server.state, method, split.path or "/", split.query, headers, body, self.client_address[0]
            )
        except Exception:  # a bug answers 500 rather than dropping the connection
            log.exception("request failed")
            status, out_headers, payload = 500, {"Content-Type": "text/plain"}, b"InternalFailure"
        log.debug('%s "%s %s" %d', self.client_address[0], method, target, status)
        close = lower.get("connection", "").lower() == "close" or version == "HTTP/1.0"
        self._send(status, out_headers, payload, close=close)
        return not close

    def _send(self, status: int, headers: dict[str, str], payload: bytes, *, close: bool) -> None:
        head = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}"]
        head += [f"{k}: {v}" for k, v in headers.items()]
        head.append(f"Content-Length: {len(payload)}")
        if close:
            head.append("Connection: close")
        self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + payload)


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    state: State

    def __init__(self, host: str, port: int, state: State | None = None) -> None:
        """Bind ``host:port`` (OSError when it cannot be). ``state`` may be set after binding, so that a busy
        port is found before the state file is opened or created."""
        super().__init__((host, port), _Handler)
        if state is not None:
            self.state = state
