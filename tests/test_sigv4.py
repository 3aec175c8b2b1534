"""SigV4 verification against botocore's own signer (botocore.auth.SigV4Auth / SigV4QueryAuth), the reference.

Requests are signed by botocore at a frozen instant (``botocore.auth.get_current_datetime`` patched), turned into
what goes on the wire (``AWSRequest.prepare``, plus the Host header urllib3 adds) and verified. End-to-end, a real
botocore client and the real AWS CLI talk to a local HTTP server with ``--endpoint-url`` and every request they
send must verify.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from unittest import mock
from urllib.parse import quote, urlsplit

import botocore.session
import pytest
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from hypothesis import given, settings
from hypothesis import strategies as st

from kmslaunch.wire.sigv4 import (
    ERRORS,
    Credential,
    SignedRequest,
    SigV4Error,
    error_response,
    service_from_request,
    verify,
)

FROZEN = datetime(2026, 1, 1, 0, 0, 0)  # what botocore sees as "now" (it formats it as UTC)
NOW = FROZEN.replace(tzinfo=UTC)

KEY = Credential("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
SESSION = Credential(
    "ASIAEXAMPLE",
    "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY",
    session_token="FwoGZXIvYXdzEXAMPLETOKEN//////////wEaDEXAMPLE",
    expires_at=NOW + timedelta(hours=1),
)
KNOWN = {KEY.access_key_id: KEY, SESSION.access_key_id: SESSION}
LOOKUP: Callable[[str], Credential | None] = KNOWN.get

FORM = "application/x-www-form-urlencoded; charset=utf-8"
MSG_INVALID = "The security token included in the request is invalid."
MSG_BAD_SIGNATURE = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
)


def _botocore(cred: Credential, *, token: str | None = None) -> Credentials:
    return Credentials(cred.access_key_id, cred.secret_access_key, token)


@dataclass(frozen=True)
class Wire:
    """A request as the endpoint receives it."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes

    def verify(self, now: datetime = NOW, lookup: Callable[[str], Credential | None] = LOOKUP) -> SignedRequest:
        return verify(self.method, self.path, self.query, self.headers, self.body, lookup, now)

    def with_headers(self, **changes: str | None) -> Wire:
        headers = {k: v for k, v in self.headers.items() if k.lower() not in {c.lower() for c in changes}}
        headers.update({k: v for k, v in changes.items() if v is not None})
        return replace(self, headers=headers)


def sign(
    url: str,
    *,
    method: str = "POST",
    body: bytes | dict[str, str] = b"",
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
    service: str = "kms",
    region: str = "us-east-1",
    creds: Credentials | None = None,
    presign_expires: int | None = None,
    at: datetime = FROZEN,
) -> Wire:
    """Sign with botocore at ``at`` and return what goes on the wire."""
    request = AWSRequest(method=method, url=url, data=body, headers=headers or {}, params=params or {})
    creds = creds or _botocore(KEY)
    signer = (
        SigV4Auth(creds, service, region)
        if presign_expires is None
        else SigV4QueryAuth(creds, service, region, expires=presign_expires)
    )
    with mock.patch("botocore.auth.get_current_datetime", return_value=at):
        signer.add_auth(request)
    prepared = request.prepare()
    parts = urlsplit(prepared.url)
    wire_headers = {"Host": parts.netloc}  # urllib3 adds it: host, and the port when not the scheme's default
    wire_headers.update(prepared.headers.items())
    raw = prepared.body or b""
    return Wire(prepared.method, parts.path, parts.query, wire_headers, raw.encode() if isinstance(raw, str) else raw)


def kms_encrypt(**kw: Any) -> Wire:
    body = json.dumps({"KeyId": "alias/ebs", "Plaintext": "aGVsbG8="}).encode()
    headers = {"X-Amz-Target": "TrentService.Encrypt", "Content-Type": "application/x-amz-json-1.1"}
    return sign("https://kms.us-east-1.amazonaws.com/", body=body, headers=headers, **kw)


def refused(wire: Wire, now: datetime = NOW, lookup: Callable[[str], Credential | None] = LOOKUP) -> SigV4Error:
    with pytest.raises(SigV4Error) as info:
        wire.verify(now, lookup)
    return info.value


# --- every protocol shape botocore produces verifies -------------------------------------------------------------

SHAPES: dict[str, dict[str, Any]] = {
    "sts-query-post": {
        "url": "https://sts.amazonaws.com/",
        "body": b"Action=GetCallerIdentity&Version=2011-06-15",
        "headers": {"Content-Type": FORM},
        "service": "sts",
    },
    "iam-query-post": {
        "url": "https://iam.amazonaws.com/",
        "body": (
            b"Action=PutRolePolicy&Version=2010-05-08&RoleName=launcher&PolicyName=kms"
            b"&PolicyDocument=%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%5D%7D"
        ),
        "headers": {"Content-Type": FORM},
        "service": "iam",
    },
    "ec2-form-post": {
        "url": "https://ec2.eu-west-1.amazonaws.com/",
        "body": b"Action=RunInstances&Version=2016-11-15&ImageId=ami-12345678&MinCount=1&MaxCount=1"
        b"&BlockDeviceMapping.1.Ebs.KmsKeyId=alias%2Febs&ClientToken=a+b",
        "headers": {"Content-Type": FORM},
        "service": "ec2",
        "region": "eu-west-1",
    },
    "kms-json-post": {
        "url": "https://kms.us-east-1.amazonaws.com/",
        "body": b'{"KeyId": "alias/ebs", "GrantTokens": ["  spaced   out  "]}',
        "headers": {"X-Amz-Target": "TrentService.CreateGrant", "Content-Type": "application/x-amz-json-1.1"},
        "service": "kms",
    },
    "get-with-params-needing-encoding": {
        "url": "https://example.us-east-1.amazonaws.com/a%20b/./c//d/../e",
        "method": "GET",
        "params": {"key with space": "v/a+l=ue~*", "ümlaut": "ß€", "empty": "", "Zeta": "1", "alpha": "&?#"},
        "service": "example",
    },
    "get-with-query-in-url": {
        "url": "https://example.us-east-1.amazonaws.com/x?b=2&a=1&a=0&c=%2Fx%20y&flag",
        "method": "GET",
        "service": "example",
    },
    "header-value-whitespace-folded": {
        "url": "https://kms.us-east-1.amazonaws.com/",
        "body": b"{}",
        "headers": {"X-Amz-Target": "TrentService.ListKeys", "X-Custom": "  a   b \t c  "},
    },
    "endpoint-url-with-port": {
        "url": "http://127.0.0.1:4566/",
        "body": b"Action=DescribeRegions&Version=2016-11-15",
        "headers": {"Content-Type": FORM},
        "service": "ec2",
        "region": "us-west-2",
    },
}


@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
def test_botocore_signed_requests_verify(shape: dict[str, Any]) -> None:
    wire = sign(**shape)
    result = wire.verify()
    assert result.access_key_id == KEY.access_key_id
    assert result.region == shape.get("region", "us-east-1")
    assert result.service == shape.get("service", "kms")
    assert "host" in result.signed_headers and "x-amz-date" in result.signed_headers


def test_endpoint_url_host_carries_the_port() -> None:
    wire = sign(**SHAPES["endpoint-url-with-port"])
    assert wire.headers["Host"] == "127.0.0.1:4566"
    wire.verify()
    # the same request arriving with the port stripped was signed for another host
    assert refused(wire.with_headers(Host="127.0.0.1")).kind == "bad_signature"


def test_header_names_in_any_case() -> None:
    wire = kms_encrypt()
    for transform in (str.lower, str.upper):
        replace(wire, headers={transform(k): v for k, v in wire.headers.items()}).verify()


def test_http_server_message_headers() -> None:
    """http.server hands over an email.message.Message; repeated headers are folded like botocore folds them."""
    wire = sign(SHAPES["kms-json-post"]["url"], body=b"{}", headers={"X-Amz-Target": "TrentService.ListKeys"})
    message = Message()
    for name, value in wire.headers.items():
        message[name] = value
    verify(wire.method, wire.path, wire.query, message, wire.body, LOOKUP, NOW)  # type: ignore[arg-type]


def test_date_header_instead_of_x_amz_date() -> None:
    """botocore keeps a caller's Date header (rewritten in RFC 1123) and then sends no X-Amz-Date."""
    wire = sign("https://kms.us-east-1.amazonaws.com/", body=b"{}", headers={"Date": "whatever"})
    assert "X-Amz-Date" not in wire.headers
    assert wire.headers["Date"] == "Thu, 01 Jan 2026 00:00:00 -0000"
    wire.verify()


def test_unsigned_payload_is_refused_outside_s3() -> None:
    # A correct signature over UNSIGNED-PAYLOAD still does not cover the body: only S3 accepts that, and the
    # endpoint serves no S3 (else the body below could be swapped at will).
    headers = {"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD", "X-Amz-Target": "TrentService.Encrypt"}
    signed = sign("https://kms.us-east-1.amazonaws.com/", body=b'{"KeyId": "k"}', headers=headers)
    for wire in (signed, replace(signed, body=b"anything at all")):
        err = refused(wire)
        assert err.kind == "bad_signature"
        assert "UNSIGNED-PAYLOAD" in err.message


def test_declared_payload_hash_must_match_the_body() -> None:
    body = b'{"KeyId": "k"}'
    wire = sign(
        "https://kms.us-east-1.amazonaws.com/",
        body=body,
        headers={"X-Amz-Content-SHA256": hashlib.sha256(body).hexdigest()},
    )
    wire.verify()
    assert refused(replace(wire, body=b'{"KeyId": "x"}')).kind == "bad_signature"


def test_session_credentials_verify() -> None:
    wire = kms_encrypt(creds=_botocore(SESSION, token=SESSION.session_token))
    assert wire.headers["X-Amz-Security-Token"] == SESSION.session_token
    assert wire.verify().access_key_id == SESSION.access_key_id


# --- presigned URLs ----------------------------------------------------------------------------------------------


def presigned_sts(expires: int = 900, creds: Credentials | None = None) -> Wire:
    return sign(
        "https://sts.amazonaws.com/",
        method="GET",
        params={"Action": "GetCallerIdentity", "Version": "2011-06-15"},
        service="sts",
        creds=creds,
        presign_expires=expires,
    )


def test_presigned_url_verifies_within_its_lifetime() -> None:
    wire = presigned_sts()
    assert "Authorization" not in wire.headers
    assert "X-Amz-Signature=" in wire.query
    assert wire.verify(NOW + timedelta(seconds=900)).service == "sts"


def test_presigned_url_with_session_token() -> None:
    wire = presigned_sts(creds=_botocore(SESSION, token=SESSION.session_token))
    assert "X-Amz-Security-Token=" in wire.query
    wire.verify(NOW + timedelta(minutes=5))


def test_presigned_post_moves_the_body_into_the_query() -> None:
    wire = sign(
        "https://sts.amazonaws.com/",
        body={"Action": "GetCallerIdentity", "Version": "2011-06-15"},  # what the query serializer hands over
        headers={"Content-Type": FORM},
        service="sts",
        presign_expires=60,
    )
    assert wire.body == b"" and "Action=GetCallerIdentity" in wire.query
    wire.verify()


def test_expired_presigned_url() -> None:
    error = refused(presigned_sts(expires=900), now=NOW + timedelta(seconds=901))
    assert error.kind == "expired_presign"
    assert error.message == "Request has expired."


def test_presigned_url_lives_beyond_the_skew_window_when_asked() -> None:
    presigned_sts(expires=3600).verify(NOW + timedelta(minutes=59))


def test_presigned_url_tampered_query() -> None:
    wire = presigned_sts()
    tampered = replace(wire, query=wire.query.replace("GetCallerIdentity", "GetSessionToken"))
    assert refused(tampered).kind == "bad_signature"


def test_presigned_url_missing_parameters() -> None:
    wire = presigned_sts()
    query = "&".join(p for p in wire.query.split("&") if not p.startswith(("X-Amz-Signature=", "X-Amz-Date=")))
    error = refused(replace(wire, query=query))
    assert error.kind == "incomplete"
    assert error.message == (
        "AWS query-string parameters must include 'X-Amz-Signature'. "
        "AWS query-string parameters must include 'X-Amz-Date'. Re-examine the query-string parameters."
    )


def test_presigned_and_authorization_header_together() -> None:
    wire = presigned_sts()
    error = refused(wire.with_headers(Authorization=kms_encrypt().headers["Authorization"]))
    assert error.kind == "bad_signature"
    assert "Found both 'X-Amz-Algorithm'" in error.message


# --- refusals ----------------------------------------------------------------------------------------------------


def test_wrong_secret() -> None:
    wire = kms_encrypt(creds=Credentials(KEY.access_key_id, "not-the-secret"))
    error = refused(wire)
    assert (error.kind, error.message) == ("bad_signature", MSG_BAD_SIGNATURE)


def test_tampered_body() -> None:
    wire = kms_encrypt()
    assert refused(replace(wire, body=wire.body.replace(b"ebs", b"ebz"))).kind == "bad_signature"


def test_tampered_signed_header() -> None:
    wire = kms_encrypt()
    assert refused(wire.with_headers(**{"X-Amz-Target": "TrentService.Decrypt"})).kind == "bad_signature"


def test_tampered_method_and_path() -> None:
    wire = kms_encrypt()
    assert refused(replace(wire, method="PUT")).kind == "bad_signature"
    assert refused(replace(wire, path="/other")).kind == "bad_signature"


def test_header_added_after_signing_is_ignored() -> None:
    wire = kms_encrypt().with_headers(**{"X-Forwarded-For": "10.0.0.1", "User-Agent": "proxy/1.0"})
    wire.verify()


def test_stale_date() -> None:
    error = refused(kms_encrypt(), now=NOW + timedelta(minutes=16))
    assert error.kind == "skew"
    assert error.message == (
        "Signature expired: 20260101T000000Z is now earlier than 20260101T000100Z (20260101T001600Z - 15 min.)"
    )


def test_stale_date_example_from_the_brief() -> None:
    error = refused(kms_encrypt(), now=NOW + timedelta(minutes=30))
    assert error.message == (
        "Signature expired: 20260101T000000Z is now earlier than 20260101T001500Z (20260101T003000Z - 15 min.)"
    )


def test_future_date() -> None:
    error = refused(kms_encrypt(), now=NOW - timedelta(minutes=16))
    assert error.kind == "skew"
    assert error.message == (
        "Signature not yet current: 20260101T000000Z is still later than 20251231T235900Z (20251231T234400Z + 15 min.)"
    )


@pytest.mark.parametrize("offset", [timedelta(minutes=15), -timedelta(minutes=15)], ids=["15m-late", "15m-early"])
def test_fifteen_minutes_either_way_is_accepted(offset: timedelta) -> None:
    kms_encrypt().verify(NOW + offset)


def test_unknown_key() -> None:
    error = refused(kms_encrypt(creds=Credentials("AKIDUNKNOWN", "secret")))
    assert error.kind == "unknown_key"
    assert error.message == "The security token included in the request is invalid."


def test_missing_authorization() -> None:
    error = refused(kms_encrypt().with_headers(Authorization=None))
    assert error.kind == "missing"
    assert error.message == "Request is missing Authentication Token"


@pytest.mark.parametrize(
    ("authorization", "message_start"),
    [
        ("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/us-east-1/kms/aws4_request, SignedHeaders=host;x-amz-date",
         "Authorization header requires 'Signature' parameter. Authorization=AWS4-HMAC-SHA256 Credential="),
        ("AWS4-HMAC-SHA256 garbage",
         "Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' "
         "parameter. Authorization header requires 'SignedHeaders' parameter. Authorization="),
        ("AWS AKIDEXAMPLE:c2lnbmF0dXJl", "Unsupported AWS 'algorithm': 'AWS'"),
        ("Bearer abc", "Unsupported AWS 'algorithm': 'Bearer'"),
        ("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/us-east-1/kms, SignedHeaders=host;x-amz-date, Signature=00",
         "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got "),
    ],
    ids=["no-signature", "no-parameters", "sigv2", "bearer", "short-credential"],
)  # fmt: skip
def test_malformed_authorization(authorization: str, message_start: str) -> None:
    error = refused(kms_encrypt().with_headers(Authorization=authorization))
    assert error.kind == "incomplete"
    assert error.message.startswith(message_start)


def test_commas_without_spaces_are_accepted() -> None:
    wire = kms_encrypt()
    wire.with_headers(Authorization=wire.headers["Authorization"].replace(", ", ",")).verify()


def test_no_date_header() -> None:
    error = refused(kms_encrypt().with_headers(**{"X-Amz-Date": None}))
    assert error.kind == "incomplete"
    assert "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header." in error.message


def test_unreadable_date() -> None:
    error = refused(kms_encrypt().with_headers(**{"X-Amz-Date": "2026-01-01T00:00:00Z"}))
    assert error.kind == "incomplete"
    assert error.message.startswith("Date must be in ISO-8601 'basic format'. Got '2026-01-01T00:00:00Z'.")


def _resigned_headers(wire: Wire, signed_headers: str) -> Wire:
    auth = wire.headers["Authorization"]
    start = auth.index("SignedHeaders=") + len("SignedHeaders=")
    end = auth.index(",", start)
    return wire.with_headers(Authorization=auth[:start] + signed_headers + auth[end:])


def test_host_must_be_signed() -> None:
    error = refused(_resigned_headers(kms_encrypt(), "content-type;x-amz-date;x-amz-target"))
    assert error.kind == "bad_signature"
    assert error.message == "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."


def test_date_must_be_signed() -> None:
    error = refused(_resigned_headers(kms_encrypt(), "content-type;host;x-amz-target"))
    assert error.kind == "bad_signature"
    assert error.message == "'X-Amz-Date' must be a 'SignedHeader' in the AWS Authorization."


def test_scope_date_must_be_the_request_date() -> None:
    wire = kms_encrypt()
    error = refused(wire.with_headers(Authorization=wire.headers["Authorization"].replace("/20260101/", "/20251231/")))
    assert error.kind == "bad_signature"
    assert error.message == (
        "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
        "'20251231' != '20260101', from 'X-Amz-Date'."
    )


def test_scope_terminator() -> None:
    wire = kms_encrypt()
    error = refused(wire.with_headers(Authorization=wire.headers["Authorization"].replace("aws4_request", "aws5")))
    assert error.kind == "bad_signature"
    assert "valid terminator" in error.message


# --- temporary credentials ---------------------------------------------------------------------------------------


def test_session_token_missing() -> None:
    error = refused(kms_encrypt(creds=_botocore(SESSION)))
    assert (error.kind, error.message) == ("missing_token", "The security token included in the request is invalid.")


def test_session_token_wrong() -> None:
    error = refused(kms_encrypt(creds=_botocore(SESSION, token="some-other-token")))
    assert error.kind == "bad_token"


def test_session_token_expired() -> None:
    wire = kms_encrypt(creds=_botocore(SESSION, token=SESSION.session_token))
    expired = replace(SESSION, expires_at=NOW - timedelta(seconds=1))
    error = refused(wire, lookup={SESSION.access_key_id: expired}.get)
    assert (error.kind, error.message) == ("expired_token", "The security token included in the request is expired")


def test_long_term_key_with_a_token() -> None:
    assert refused(kms_encrypt(creds=_botocore(KEY, token="stale-session-token"))).kind == "bad_token"


# --- error codes per protocol ------------------------------------------------------------------------------------

KINDS = {
    "missing",
    "incomplete",
    "unknown_key",
    "bad_signature",
    "skew",
    "expired_token",
    "missing_token",
    "bad_token",
    "expired_presign",
}


def test_every_protocol_names_every_kind() -> None:
    assert set(ERRORS) == {"ec2", "query", "json"}
    for table in ERRORS.values():
        assert set(table) == KINDS


@pytest.mark.parametrize(
    ("protocol", "kind", "expected"),
    [
        ("ec2", "bad_signature", ("AuthFailure", 401, "AWS was not able to validate the provided access credentials")),
        ("ec2", "skew", ("RequestExpired", 400, "Request has expired.")),
        ("query", "unknown_key", ("InvalidClientTokenId", 403, MSG_INVALID)),
        ("query", "bad_signature", ("SignatureDoesNotMatch", 403, MSG_BAD_SIGNATURE)),
        ("query", "expired_token", ("ExpiredToken", 403, "The security token included in the request is expired")),
        ("json", "unknown_key", ("UnrecognizedClientException", 400, MSG_INVALID)),
        ("json", "skew", ("InvalidSignatureException", 400, None)),
        ("json", "missing", ("MissingAuthenticationTokenException", 400, "Missing Authentication Token")),
    ],
)  # fmt: skip
def test_error_response(protocol: str, kind: str, expected: tuple[str, int, str | None]) -> None:
    wire = kms_encrypt()
    cases: dict[str, Callable[[], SigV4Error]] = {
        "bad_signature": lambda: refused(replace(wire, body=b"{}")),
        "skew": lambda: refused(wire, now=NOW + timedelta(hours=1)),
        "unknown_key": lambda: refused(wire, lookup=lambda _: None),
        "expired_token": lambda: refused(
            kms_encrypt(creds=_botocore(SESSION, token=SESSION.session_token)),
            lookup={SESSION.access_key_id: replace(SESSION, expires_at=NOW)}.get,
        ),
        "missing": lambda: refused(wire.with_headers(Authorization=None)),
    }
    error = cases[kind]()
    assert error.kind == kind
    code, status, message = error_response(protocol, error)
    assert (code, status) == expected[:2]
    assert message == (expected[2] if expected[2] is not None else error.message)


def test_service_from_request() -> None:
    assert service_from_request(kms_encrypt().headers, "") == "kms"
    ec2 = {"authorization": "AWS4-HMAC-SHA256 Credential=A/20260101/eu-west-1/ec2/aws4_request"}
    assert service_from_request(ec2, "") == "ec2"
    assert service_from_request({}, presigned_sts().query) == "sts"
    assert service_from_request({"Authorization": "Bearer x"}, "") is None
    assert service_from_request({}, "Action=ListUsers") is None


# --- properties --------------------------------------------------------------------------------------------------

TEXT = st.text(st.characters(codec="utf-8"), max_size=12)
SEGMENT = st.one_of(TEXT.map(lambda s: quote(s, safe="")), st.sampled_from(["", ".", "..", "a~b", "x*y"]))


@settings(max_examples=150, deadline=None)
@given(
    body=st.binary(max_size=256),
    segments=st.lists(SEGMENT, max_size=5),
    params=st.dictionaries(TEXT.filter(lambda k: not k.startswith("X-Amz-")), TEXT, max_size=5),
    flip=st.tuples(st.integers(min_value=0), st.integers(min_value=1, max_value=255)),
)
def test_random_requests_verify_and_any_body_byte_change_fails(
    body: bytes, segments: list[str], params: dict[str, str], flip: tuple[int, int]
) -> None:
    url = "https://kms.us-east-1.amazonaws.com/" + "/".join(segments)
    wire = sign(url, body=body, params=params, headers={"X-Amz-Target": "TrentService.Encrypt"})
    wire.verify()
    if body:
        position, delta = flip[0] % len(body), flip[1]
        changed = bytearray(body)
        changed[position] ^= delta
        assert refused(replace(wire, body=bytes(changed))).kind == "bad_signature"


# --- end to end: a real botocore client and the real AWS CLI, with --endpoint-url ---------------------------------

RESPONSES = {
    "kms": ("application/x-amz-json-1.1", b'{"Keys": [], "Truncated": false}'),
    "sts": (
        "text/xml",
        b'<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult>'
        b"<Arn>arn:aws:iam::123456789012:user/dev</Arn><UserId>AIDAEXAMPLE</UserId><Account>123456789012</Account>"
        b"</GetCallerIdentityResult><ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata>"
        b"</GetCallerIdentityResponse>",
    ),
    "ec2": (
        "text/xml",
        b'<DescribeRegionsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r-1</requestId>'
        b"<regionInfo/></DescribeRegionsResponse>",
    ),
}


def _live_lookup(access_key_id: str) -> Credential | None:
    """The known keys, with the session credentials valid for another hour of real time."""
    found = KNOWN.get(access_key_id)
    if found is not None and found.expires_at is not None:
        found = replace(found, expires_at=datetime.now(UTC) + timedelta(hours=1))
    return found


@dataclass
class Captured:
    method: str
    path: str
    query: str
    headers: Message
    body: bytes

    def verify(self) -> SignedRequest:
        headers: Any = self.headers  # email.message.Message, as http.server hands it over
        return verify(self.method, self.path, self.query, headers, self.body, _live_lookup, datetime.now(UTC))


@pytest.fixture
def endpoint() -> Iterator[tuple[str, list[Captured]]]:
    captured: list[Captured] = []

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            path, _, query = self.path.partition("?")
            captured.append(Captured(self.command, path, query, self.headers, body))
            content_type, payload = RESPONSES.get(service_from_request(self.headers, query) or "", RESPONSES["kms"])  # type: ignore[arg-type]
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = _serve

        def log_message(self, *args: Any) -> None:
            """Quiet: the tests read the captured requests, not the server's log."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", captured
    finally:
        server.shutdown()
        server.server_close()


def test_botocore_client_through_endpoint_url(endpoint: tuple[str, list[Captured]]) -> None:
    url, captured = endpoint
    session = botocore.session.get_session()
    config = Config(retries={"max_attempts": 1})
    calls: list[tuple[str, str, Callable[[Any], object]]] = [
        ("kms", "eu-west-1", lambda c: c.list_keys()),
        ("sts", "us-east-1", lambda c: c.get_caller_identity()),
        ("ec2", "ap-southeast-2", lambda c: c.describe_regions()),
    ]
    for service, region, call in calls:
        for cred, token in [(KEY, None), (SESSION, SESSION.session_token)]:
            client = session.create_client(
                service,
                region_name=region,
                endpoint_url=url,
                aws_access_key_id=cred.access_key_id,
                aws_secret_access_key=cred.secret_access_key,
                aws_session_token=token,
                config=config,
            )
            call(client)
            request = captured[-1]
            assert request.headers["Host"] == url.removeprefix("http://")
            result = request.verify()
            assert (result.service, result.region, result.access_key_id) == (service, region, cred.access_key_id)


@pytest.mark.skipif(shutil.which("aws") is None, reason="the AWS CLI is not installed")
def test_aws_cli_through_endpoint_url(endpoint: tuple[str, list[Captured]], tmp_path: Any) -> None:
    url, captured = endpoint
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "AWS_CONFIG_FILE": str(tmp_path / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "credentials"),
        "AWS_ACCESS_KEY_ID": SESSION.access_key_id,
        "AWS_SECRET_ACCESS_KEY": SESSION.secret_access_key,
        "AWS_SESSION_TOKEN": SESSION.session_token or "",
        "AWS_DEFAULT_REGION": "eu-central-1",
        "AWS_MAX_ATTEMPTS": "1",
    }
    for pyenv in ("PYENV_ROOT", "PYENV_VERSION"):
        if pyenv in os.environ:
            env[pyenv] = os.environ[pyenv]
    for args in (["kms", "list-keys"], ["sts", "get-caller-identity"], ["ec2", "describe-regions"]):
        run = subprocess.run(
            ["aws", "--endpoint-url", url, *args], env=env, capture_output=True, text=True, timeout=60, check=False
        )
        assert run.returncode == 0, run.stderr
        result = captured[-1].verify()
        assert (result.service, result.region, result.access_key_id) == (args[0], "eu-central-1", "ASIAEXAMPLE")
