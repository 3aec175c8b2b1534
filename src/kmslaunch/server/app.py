"""The HTTP side of ``kmslaunch serve``: a threaded server on loopback, keep-alive, no Nagle delay."""

from __future__ import annotations

import logging
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from .dispatch import handle
from .state import State

log = logging.getLogger("kmslaunch.serve")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: boto3 and the CLI reuse connections
    disable_nagle_algorithm = True  # without it, Nagle and delayed ACK hold each response ~40 ms
    server: Server

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        try:
            status, headers, payload = handle(
                self.server.state,
                self.command,
                parts.path or "/",
                parts.query,
                dict(self.headers.items()),
                body,
                self.client_address[0],
            )
        except Exception:  # a bug must answer 500 in AWS's shape, not drop the connection
            log.exception("request failed")
            status, headers, payload = 500, {"Content-Type": "text/plain"}, b"InternalFailure"
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = _serve
    do_POST = _serve

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, host: str, port: int, state: State) -> None:
        super().__init__((host, port), _Handler)
        self.state = state
