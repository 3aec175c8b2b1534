"""Requests as botocore's client sends them, signed by botocore, answered by the endpoint's dispatcher (no sockets)
and read back with botocore's response parser: shared by the SigV4 negative suite and the authorization sweep."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from unittest import mock
from urllib.parse import urlsplit

import botocore.session
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest, prepare_request_dict
from botocore.credentials import Credentials
from botocore.parsers import create_parser
from botocore.serialize import create_serializer

from kmslaunch.server.dispatch import handle
from kmslaunch.server.state import DEFAULT_ACCESS_KEY, DEFAULT_SECRET, State

URL = "http://127.0.0.1:4566"
REGION = "us-east-1"
ROOT = Credentials(DEFAULT_ACCESS_KEY, DEFAULT_SECRET)
_SESSION = botocore.session.get_session()


@dataclass(frozen=True)
class Wire:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes


def _model(service: str) -> Any:
    return _SESSION.get_service_model(service)


def build(
    service: str,
    operation: str,
    params: dict[str, Any],
    creds: Credentials,
    *,
    at: datetime | None = None,
    scope_region: str = REGION,
    scope_service: str | None = None,
    headers: dict[str, str] | None = None,
    presign_expires: int | None = None,
) -> Wire:
    """The request botocore's client would send for ``operation``, signed at ``at`` (now by default)."""
    op = _model(service).operation_model(operation)
    request_dict = create_serializer(op.metadata["protocol"], include_validation=True).serialize_to_request(
        copy.deepcopy(params), op
    )
    prepare_request_dict(request_dict, endpoint_url=URL)
    request = AWSRequest(
        method=request_dict["method"],
        url=request_dict["url"],
        data=request_dict["body"],
        headers={**request_dict["headers"], **(headers or {})},
    )
    name = scope_service or service
    signer = (
        SigV4Auth(creds, name, scope_region)
        if presign_expires is None
        else SigV4QueryAuth(creds, name, scope_region, expires=presign_expires)
    )
    moment = (at or datetime.now(UTC)).replace(tzinfo=None)
    with mock.patch("botocore.auth.get_current_datetime", return_value=moment):
        signer.add_auth(request)
    prepared = request.prepare()
    parts = urlsplit(prepared.url)
    wire_headers = {"Host": parts.netloc, **dict(prepared.headers.items())}
    raw = prepared.body or b""
    return Wire(prepared.method, parts.path, parts.query, wire_headers, raw.encode() if isinstance(raw, str) else raw)


def send(state: State, service: str, operation: str, wire: Wire) -> tuple[int, dict[str, Any]]:
    """(HTTP status, what botocore's parser makes of the answer)."""
    status, headers, body = handle(state, wire.method, wire.path, wire.query, wire.headers, wire.body, "127.0.0.1")
    op = _model(service).operation_model(operation)
    parsed = create_parser(op.metadata["protocol"]).parse(
        {"status_code": status, "headers": headers, "body": body}, op.output_shape
    )
    return status, parsed


def call(state: State, service: str, operation: str, params: dict[str, Any], creds: Credentials = ROOT) -> Any:
    status, parsed = send(state, service, operation, build(service, operation, params, creds))
    assert status == 200, parsed
    return parsed
