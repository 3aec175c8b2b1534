"""AWS Signature Version 4, verified on the server side the way AWS verifies it.

The canonical request, string to sign and signing key mirror botocore's ``SigV4Auth`` (botocore/auth.py), the
signer the AWS CLI and boto3 use, so anything they sign verifies here and nothing else does. botocore itself is
not imported: this runs on every request the endpoint serves.

Checks, in order (AWS returns the first that fails):

1. no ``Authorization`` header and no ``X-Amz-Algorithm`` query parameter   -> ``missing``
2. Authorization / presign parameters incomplete, algorithm unknown, date unreadable -> ``incomplete``
3. ``host`` (and the date header used) not among the signed headers; credential scope date is not the request
   date -> ``bad_signature`` (AWS answers these with SignatureDoesNotMatch / InvalidSignatureException, not
   IncompleteSignature)
   A scope naming another service than the one the request addresses, or no region of AWS's partitions
   -> ``bad_signature`` ("Credential should be scoped to correct service / to a valid region")
4. access key unknown (or deleted, or Inactive: the lookup returns None) -> ``unknown_key``
5. request date more than 15 minutes from ``now`` -> ``skew``;
   presigned URL past ``X-Amz-Expires`` -> ``expired_presign``
6. session token: absent for temporary credentials -> ``missing_token``, different -> ``bad_token``,
   credentials past their expiry -> ``expired_token``
7. signature (compared in constant time) -> ``bad_signature``; so is ``X-Amz-Content-SHA256: UNSIGNED-PAYLOAD``
   (only S3 accepts a body the signature does not cover, and the endpoint serves no S3)

Reference: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from functools import lru_cache
from typing import Literal
from urllib.parse import quote, unquote_plus

__all__ = [
    "ERRORS",
    "Credential",
    "Kind",
    "SigV4Error",
    "SignedRequest",
    "error_response",
    "service_from_request",
    "valid_region",
    "verify",
]

ALGORITHM = "AWS4-HMAC-SHA256"
TERMINATOR = "aws4_request"
# AWS refuses a request whose date is more than 15 minutes from its clock, either way.
MAX_SKEW = timedelta(minutes=15)
# A presigned URL lives at most 7 days: the signing key is derived from one day's date.
MAX_PRESIGN_EXPIRES = 604800
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
# Values of X-Amz-Content-SHA256 that stand for "the body is not covered by the signature" (botocore auth.py).
UNSIGNED_PAYLOADS = frozenset({"UNSIGNED-PAYLOAD", "STREAMING-UNSIGNED-PAYLOAD-TRAILER"})
PRESIGN_REQUIRED = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature", "X-Amz-SignedHeaders", "X-Amz-Date")

Kind = Literal[
    "missing",
    "incomplete",
    "unknown_key",
    "bad_signature",
    "skew",
    "expired_token",
    "missing_token",
    "bad_token",
    "expired_presign",
]

# AWS's wording. Sources: the messages AWS returns, as recorded by emulators that replay them
# (dynalite/kinesalite, scratchstack-aws-signature) and seen in SDK issue threads.
MSG_MISSING = "Request is missing Authentication Token"
MSG_BAD_SIGNATURE = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
)
MSG_INVALID_TOKEN = "The security token included in the request is invalid."
MSG_EXPIRED_TOKEN = "The security token included in the request is expired"
MSG_REQUEST_EXPIRED = "Request has expired."
MSG_HOST_UNSIGNED = "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."
MSG_UNSIGNED_PAYLOAD = "X-Amz-Content-SHA256 UNSIGNED-PAYLOAD is accepted by Amazon S3 only: sign the payload's hash."
MSG_BOTH_FORMS = "Found both 'X-Amz-Algorithm' as a query-string param and 'Authorization' as HTTP header."


@dataclass(frozen=True, slots=True)
class Credential:
    """What the endpoint knows of an access key."""

    access_key_id: str
    secret_access_key: str
    session_token: str | None = None  # required for temporary (ASIA...) credentials
    expires_at: datetime | None = None  # temporary credentials expire


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """The facts a verified signature establishes."""

    access_key_id: str
    region: str  # from the credential scope
    service: str  # from the credential scope
    signed_headers: tuple[str, ...]


class SigV4Error(Exception):
    """A request refused for its signature; ``kind`` selects the AWS error code per protocol (``ERRORS``)."""

    def __init__(self, kind: Kind, message: str) -> None:
        super().__init__(message)
        self.kind: Kind = kind
        self.message = message

    def __repr__(self) -> str:
        return f"SigV4Error({self.kind!r}, {self.message!r})"


# protocol -> kind -> (AWS error code, HTTP status).
# Sources:
#   https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html (AuthFailure, IncompleteSignature,
#     MissingAuthenticationToken, RequestExpired; EC2 answers auth failures with 401, "400-series" in the doc)
#   https://docs.aws.amazon.com/IAM/latest/APIReference/CommonErrors.html (IncompleteSignature 400,
#     InvalidClientTokenId 403, MissingAuthenticationToken 403, ExpiredToken 403, RequestExpired 400: "more than
#     15 minutes after the request expiration date (such as for pre-signed URLs)")
#   json (KMS, CloudTrail): Coral services answer every client error with 400 and the ...Exception names
#     (UnrecognizedClientException, InvalidSignatureException, ExpiredTokenException, IncompleteSignatureException,
#     MissingAuthenticationTokenException), as AWS returns them and dynalite/kinesalite replay them.
# Clock skew is not a code of its own outside EC2: query and json services answer SignatureDoesNotMatch /
# InvalidSignatureException with "Signature expired: ..." (the team's reference: aws-wire-protocols.md, SigV4 table).
ERRORS: dict[str, dict[str, tuple[str, int]]] = {
    "ec2": {
        "missing": ("MissingAuthenticationToken", 401),
        "incomplete": ("IncompleteSignature", 400),
        "unknown_key": ("AuthFailure", 401),
        "bad_signature": ("AuthFailure", 401),
        "skew": ("RequestExpired", 400),
        "expired_token": ("RequestExpired", 400),
        "missing_token": ("AuthFailure", 401),
        "bad_token": ("AuthFailure", 401),
        "expired_presign": ("RequestExpired", 400),
    },
    "query": {
        "missing": ("MissingAuthenticationToken", 403),
        "incomplete": ("IncompleteSignature", 400),
        "unknown_key": ("InvalidClientTokenId", 403),
        "bad_signature": ("SignatureDoesNotMatch", 403),
        "skew": ("SignatureDoesNotMatch", 403),
        "expired_token": ("ExpiredToken", 403),
        "missing_token": ("InvalidClientTokenId", 403),
        "bad_token": ("InvalidClientTokenId", 403),
        "expired_presign": ("RequestExpired", 400),
    },
    "json": {
        "missing": ("MissingAuthenticationTokenException", 400),
        "incomplete": ("IncompleteSignatureException", 400),
        "unknown_key": ("UnrecognizedClientException", 400),
        "bad_signature": ("InvalidSignatureException", 400),
        "skew": ("InvalidSignatureException", 400),
        "expired_token": ("ExpiredTokenException", 400),
        "missing_token": ("UnrecognizedClientException", 400),
        "bad_token": ("UnrecognizedClientException", 400),
        "expired_presign": ("RequestExpired", 400),
    },
}

# Where a protocol words a kind differently from the message the verifier raised.
_EC2_CREDENTIALS = "AWS was not able to validate the provided access credentials"
_MESSAGES: dict[str, dict[str, str]] = {
    "ec2": {
        "unknown_key": _EC2_CREDENTIALS,
        "bad_signature": _EC2_CREDENTIALS,
        "missing_token": _EC2_CREDENTIALS,
        "bad_token": _EC2_CREDENTIALS,
        "skew": MSG_REQUEST_EXPIRED,
        "expired_token": MSG_REQUEST_EXPIRED,
    },
    "json": {"missing": "Missing Authentication Token"},
}


def error_response(protocol: str, error: SigV4Error) -> tuple[str, int, str]:
    """(AWS error code, HTTP status, message) for ``error`` as ``protocol`` ("ec2", "query", "json") reports it."""
    code, status = ERRORS[protocol][error.kind]
    return code, status, _MESSAGES.get(protocol, {}).get(error.kind, error.message)


@lru_cache(maxsize=1)
def _region_patterns() -> tuple[re.Pattern[str], ...]:
    """Every partition's region pattern from botocore's endpoint data (aws, aws-cn, aws-us-gov, ...): a region
    AWS opens later matches without a new list. Loaded on first use, once."""
    from botocore.loaders import Loader  # noqa: PLC0415 - data only, loaded on the first signed request

    data = Loader().load_data("endpoints")
    return tuple(re.compile(p["regionRegex"]) for p in data["partitions"] if p.get("regionRegex"))


@lru_cache(maxsize=256)
def valid_region(region: str) -> bool:
    """Whether ``region`` is a region name of one of AWS's partitions (``us-east-1``, ``cn-north-1``...)."""
    return any(p.match(region) for p in _region_patterns())


@lru_cache(maxsize=1024)
def _signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """kSigning = HMAC chain over date, region, service and the terminator; valid for one day, so cached."""
    key = hmac.new(f"AWS4{secret}".encode(), date.encode(), hashlib.sha256).digest()
    for part in (region, service, TERMINATOR):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


@lru_cache(maxsize=256)
def _canonical_path(path: str) -> str:
    """botocore for non-S3 services: remove dot segments and empty segments, then percent-encode the result.

    The raw path is encoded again, so ``%2F`` on the wire becomes ``%252F`` in the canonical request: AWS's
    double encoding for every service but S3.
    """
    segments: list[str] = []
    for part in path.split("/"):
        if part and part != ".":
            if part == "..":
                if segments:
                    segments.pop()
            else:
                segments.append(part)
    first = "/" if path.startswith("/") else ""
    last = "/" if path.endswith("/") and segments else ""
    normalized = first + "/".join(segments) + last
    return quote(normalized or "/", safe="/~")


def _split_query(query: str) -> list[tuple[str, str]]:
    """Decoded (key, value) pairs in wire order; ``+`` is a space, as the SDKs that urlencode queries mean it."""
    pairs = []
    for pair in query.split("&"):
        key, _, value = pair.partition("=")
        pairs.append((unquote_plus(key), unquote_plus(value)))
    return pairs


def _canonical_query(pairs: list[tuple[str, str]], skip_signature: bool) -> str:
    encoded = sorted(
        (quote(k, safe="-_.~"), quote(v, safe="-_.~"))
        for k, v in pairs
        if not (skip_signature and k == "X-Amz-Signature")
    )
    return "&".join(f"{k}={v}" for k, v in encoded)


def _lower_headers(headers: Mapping[str, str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    # .items() rather than a dict copy: email.message.Message (http.server) yields repeated headers one by one.
    for name, value in headers.items():
        out.setdefault(name.lower(), []).append(value)
    return out


def _header(headers: dict[str, list[str]], name: str) -> str | None:
    values = headers.get(name)
    return values[0] if values else None


def _parse_basic_date(value: str) -> datetime | None:
    """``YYYYMMDDTHHMMSSZ`` (ISO 8601 basic format, UTC) or None."""
    if len(value) != 16 or value[8] != "T" or value[15] != "Z" or not (value[:8] + value[9:15]).isdigit():
        return None
    try:
        return datetime(
            int(value[0:4]),
            int(value[4:6]),
            int(value[6:8]),
            int(value[9:11]),
            int(value[11:13]),
            int(value[13:15]),
            tzinfo=UTC,
        )
    except ValueError:
        return None


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%SZ")


def _bad_date(value: str) -> SigV4Error:
    return SigV4Error(
        "incomplete",
        f"Date must be in ISO-8601 'basic format'. Got '{value}'. See http://en.wikipedia.org/wiki/ISO_8601",
    )


@dataclass(frozen=True, slots=True)
class _Parsed:
    """The signature's parts, from either the Authorization header or the presign query parameters."""

    credential: str
    signed_headers: str
    signature: str
    amz_date: str  # basic format
    date_header: str | None  # the header the date came from; None for presigned URLs
    expires: int | None  # presigned URLs only
    token: str | None


def _parse_header(auth: str, headers: dict[str, list[str]]) -> _Parsed:
    algorithm, _, rest = auth.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise SigV4Error("incomplete", f"Unsupported AWS 'algorithm': '{algorithm}' (only {ALGORITHM} for now). ")
    # AWS accepts the parameters separated by commas, spaces or both.
    fields: dict[str, str] = {}
    for item in rest.replace(",", " ").split():
        name, sep, value = item.partition("=")
        if sep:
            fields[name] = value
    problems = [
        f"Authorization header requires '{name}' parameter."
        for name in ("Credential", "Signature", "SignedHeaders")
        if not fields.get(name)
    ]
    date_header = "x-amz-date" if "x-amz-date" in headers else "date" if "date" in headers else None
    if date_header is None:
        problems.append("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
    if problems:
        raise SigV4Error("incomplete", " ".join(problems) + f" Authorization={auth}")
    assert date_header is not None
    raw_date = _header(headers, date_header) or ""
    if date_header == "x-amz-date":
        if _parse_basic_date(raw_date) is None:
            raise _bad_date(raw_date)
        amz_date = raw_date
    else:
        # botocore sends an RFC 1123 Date header instead of X-Amz-Date when the request already had one; the
        # string to sign still carries the basic-format timestamp.
        try:
            parsed = parsedate_to_datetime(raw_date)
        except (TypeError, ValueError):
            raise _bad_date(raw_date) from None
        amz_date = _stamp(parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC))
    return _Parsed(
        credential=fields["Credential"],
        signed_headers=fields["SignedHeaders"],
        signature=fields["Signature"],
        amz_date=amz_date,
        date_header=date_header,
        expires=None,
        token=_header(headers, "x-amz-security-token"),
    )


def _parse_presigned(params: dict[str, str]) -> _Parsed:
    problems = [
        f"AWS query-string parameters must include '{name}'." for name in PRESIGN_REQUIRED if not params.get(name)
    ]
    if problems:
        raise SigV4Error("incomplete", " ".join(problems) + " Re-examine the query-string parameters.")
    algorithm = params["X-Amz-Algorithm"]
    if algorithm != ALGORITHM:
        raise SigV4Error("incomplete", f"Unsupported AWS 'algorithm': '{algorithm}' (only {ALGORITHM} for now). ")
    amz_date = params["X-Amz-Date"]
    if _parse_basic_date(amz_date) is None:
        raise _bad_date(amz_date)
    expires: int | None = None
    raw_expires = params.get("X-Amz-Expires")
    if raw_expires is not None:
        if not raw_expires.isdigit():
            raise SigV4Error("incomplete", "X-Amz-Expires should be a number")
        expires = int(raw_expires)
        if expires > MAX_PRESIGN_EXPIRES:
            raise SigV4Error("incomplete", "X-Amz-Expires must be less than a week (in seconds) that is 604800")
    return _Parsed(
        credential=params["X-Amz-Credential"],
        signed_headers=params["X-Amz-SignedHeaders"],
        signature=params["X-Amz-Signature"],
        amz_date=amz_date,
        date_header=None,
        expires=expires,
        token=params.get("X-Amz-Security-Token"),
    )


def _check_time(parsed: _Parsed, request_time: datetime, now: datetime) -> None:
    latest = now + MAX_SKEW
    if request_time > latest:
        raise SigV4Error(
            "skew",
            f"Signature not yet current: {parsed.amz_date} is still later than {_stamp(latest)} "
            f"({_stamp(now)} + 15 min.)",
        )
    if parsed.expires is not None:
        if now > request_time + timedelta(seconds=parsed.expires):
            raise SigV4Error("expired_presign", MSG_REQUEST_EXPIRED)
        return
    earliest = now - MAX_SKEW
    if request_time < earliest:
        raise SigV4Error(
            "skew",
            f"Signature expired: {parsed.amz_date} is now earlier than {_stamp(earliest)} ({_stamp(now)} - 15 min.)",
        )


def _check_token(credential: Credential, token: str | None, now: datetime) -> None:
    if credential.session_token is None:
        # A long-term key sent with a session token (a stale AWS_SESSION_TOKEN): AWS rejects the token.
        if token is not None:
            raise SigV4Error("bad_token", MSG_INVALID_TOKEN)
    elif token is None:
        raise SigV4Error("missing_token", MSG_INVALID_TOKEN)
    elif not hmac.compare_digest(token.encode(), credential.session_token.encode()):
        raise SigV4Error("bad_token", MSG_INVALID_TOKEN)
    if credential.expires_at is not None and now >= _utc(credential.expires_at):
        raise SigV4Error("expired_token", MSG_EXPIRED_TOKEN)


def _payload_hash(headers: dict[str, list[str]], body: bytes) -> str:
    """The body's line of the canonical request: X-Amz-Content-SHA256 if sent, else SHA-256 of the body."""
    declared = _header(headers, "x-amz-content-sha256")
    actual = hashlib.sha256(body).hexdigest() if body else EMPTY_SHA256
    if declared is None:
        return actual
    if declared in UNSIGNED_PAYLOADS:
        # Only Amazon S3 accepts a body the signature does not cover; every other service signs the body's hash
        # (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html, "Hashed
        # payload"). The endpoint serves no S3, so it refuses it everywhere. Assumption sigv4-unsigned-payload.
        raise SigV4Error("bad_signature", MSG_UNSIGNED_PAYLOAD)
    # botocore signs the declared hash without looking at the body; a server must check it against the body,
    # or the signature would cover a hash and not the bytes received.
    if not hmac.compare_digest(declared.encode(), actual.encode()):
        raise SigV4Error("bad_signature", MSG_BAD_SIGNATURE)
    return declared


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def verify(
    method: str,
    path: str,
    query: str,
    headers: Mapping[str, str],
    body: bytes,
    lookup: Callable[[str], Credential | None],
    now: datetime,
    *,
    addressed: str | None = None,
) -> SignedRequest:
    """Verify a SigV4-signed request (Authorization header or presigned URL); raise ``SigV4Error`` if it fails.

    ``path`` and ``query`` are as received (still percent-encoded), ``headers`` in any case, ``lookup`` maps an
    access key id to what the endpoint knows of it, ``now`` is the endpoint's clock (naive means UTC), ``addressed``
    the signing name of the service the request addresses when the request says (its X-Amz-Target or Version):
    the credential scope must name it (``addressed``).
    """
    now = _utc(now)
    lower = _lower_headers(headers)
    auth = _header(lower, "authorization")
    pairs = _split_query(query) if query else []
    params = dict(pairs)
    presigned = "X-Amz-Algorithm" in params
    if auth is None and not presigned:
        raise SigV4Error("missing", MSG_MISSING)
    if auth is not None and presigned:
        raise SigV4Error("bad_signature", MSG_BOTH_FORMS)
    parsed = _parse_presigned(params) if auth is None else _parse_header(auth, lower)

    scope = parsed.credential.split("/")
    if len(scope) != 5:
        raise SigV4Error(
            "incomplete",
            "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, "
            f"got '{parsed.credential}'",
        )
    access_key_id, scope_date, region, service, terminator = scope
    if terminator != TERMINATOR:
        raise SigV4Error(
            "bad_signature",
            f"Credential should be scoped with a valid terminator: '{TERMINATOR}', not '{terminator}'.",
        )
    # AWS's words for a scope that names another service or no region of AWS's (seen from every regional
    # endpoint; the local endpoint has one address for all regions, so any region AWS has is accepted).
    if addressed is not None and addressed != service:
        raise SigV4Error("bad_signature", f"Credential should be scoped to correct service: '{addressed}'. ")
    if not valid_region(region):
        raise SigV4Error("bad_signature", f"Credential should be scoped to a valid region, not '{region}'. ")
    signed = parsed.signed_headers.split(";")
    if "host" not in signed and ":authority" not in signed:
        raise SigV4Error("bad_signature", MSG_HOST_UNSIGNED)
    if parsed.date_header is not None and parsed.date_header not in signed:
        name = "X-Amz-Date" if parsed.date_header == "x-amz-date" else "Date"
        raise SigV4Error("bad_signature", f"'{name}' must be a 'SignedHeader' in the AWS Authorization.")
    if scope_date != parsed.amz_date[:8]:
        source = "Date" if parsed.date_header == "date" else "X-Amz-Date"
        raise SigV4Error(
            "bad_signature",
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
            f"'{scope_date}' != '{parsed.amz_date[:8]}', from '{source}'.",
        )

    credential = lookup(access_key_id)
    if credential is None:
        raise SigV4Error("unknown_key", MSG_INVALID_TOKEN)
    request_time = _parse_basic_date(parsed.amz_date)
    assert request_time is not None  # checked by the parsers
    _check_time(parsed, request_time, now)
    _check_token(credential, parsed.token, now)

    canonical_headers = "".join(
        f"{name}:{','.join(' '.join(v.split()) for v in lower.get(name, ()))}\n" for name in signed
    )
    canonical_request = "\n".join(
        (
            method.upper(),
            "/" if path == "/" else _canonical_path(path),
            _canonical_query(pairs, presigned),
            canonical_headers,
            parsed.signed_headers,
            _payload_hash(lower, body),
        )
    )
    string_to_sign = "\n".join(
        (
            ALGORITHM,
            parsed.amz_date,
            f"{scope_date}/{region}/{service}/{TERMINATOR}",
            hashlib.sha256(canonical_request.encode()).hexdigest(),
        )
    )
    key = _signing_key(credential.secret_access_key, scope_date, region, service)
    expected = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), parsed.signature.encode()):
        raise SigV4Error("bad_signature", MSG_BAD_SIGNATURE)
    return SignedRequest(access_key_id, region, service, tuple(signed))


def service_from_request(headers: Mapping[str, str], query: str) -> str | None:
    """The credential scope's service, unverified: to pick the error envelope before authentication."""
    for name, value in headers.items():
        if name.lower() == "authorization":
            start = value.find("Credential=")
            if start < 0:
                return None
            credential = value[start + len("Credential=") :].replace(",", " ").split(" ", 1)[0]
            return _scope_service(credential)
    if "X-Amz-Credential=" in query:
        for pair in query.split("&"):
            key, _, value = pair.partition("=")
            if key == "X-Amz-Credential":
                return _scope_service(unquote_plus(value))
    return None


def _scope_service(credential: str) -> str | None:
    parts = credential.split("/")
    return parts[3] if len(parts) == 5 and parts[3] else None
