"""SigV4 negative suite: tests/cases/sigv4/negative.yaml, each case against a JSON, two query and the EC2 protocol.

A request is serialized by botocore's own serializer for the operation, signed by botocore's SigV4 signer, changed
by the case's mutation and sent through the endpoint's dispatcher (no sockets). The answer is read with botocore's
response parser for the protocol, so a code the SDK could not parse fails the test as surely as a wrong one. The
credentials behind the cases are made through the endpoint itself: a user and its key (CreateUser,
CreateAccessKey), then DeleteAccessKey or UpdateAccessKey Status=Inactive.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from botocore.credentials import Credentials

from kmslaunch.server.state import DEFAULT_ACCOUNT, State
from kmslaunch.server.store import Store
from wirecalls import ROOT, Wire, build, call, send

CASES = yaml.safe_load((Path(__file__).parent / "cases" / "sigv4" / "negative.yaml").read_text())
SESSION_TOKEN = "FwoGZXIvYXdzEXAMPLETOKEN//////////wEaDEXAMPLE"

# service -> (operation, params, protocol): one call each protocol serves that any caller may be refused.
TARGETS = {
    "kms": ("ListKeys", {}, "json"),
    "iam": ("ListUsers", {}, "query"),
    "sts": ("GetCallerIdentity", {}, "query"),
    "ec2": ("DescribeInstances", {}, "ec2"),
}


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[State]:
    st = State(Store(tmp_path_factory.mktemp("sigv4") / "s.sqlite"))
    yield st
    st.store.close()


def _user_key(state: State, name: str) -> Credentials:
    call(state, "iam", "CreateUser", {"UserName": name})
    key = call(state, "iam", "CreateAccessKey", {"UserName": name})["AccessKey"]
    return Credentials(key["AccessKeyId"], key["SecretAccessKey"])


@pytest.fixture(scope="module")
def keys(state: State) -> dict[str, Credentials]:
    deleted = _user_key(state, "gone")
    call(state, "iam", "DeleteAccessKey", {"UserName": "gone", "AccessKeyId": deleted.access_key})
    inactive = _user_key(state, "paused")
    call(
        state,
        "iam",
        "UpdateAccessKey",
        {"UserName": "paused", "AccessKeyId": inactive.access_key, "Status": "Inactive"},
    )
    now = datetime.now(UTC)
    role = f"arn:aws:iam::{DEFAULT_ACCOUNT}:role/r"
    session = f"arn:aws:sts::{DEFAULT_ACCOUNT}:assumed-role/r/s"
    state.add_credential(
        "ASIAEXAMPLELIVE",
        "live-secret",
        session,
        session_token=SESSION_TOKEN,
        expires_at=now + timedelta(hours=1),
        role_arn=role,
    )
    state.add_credential(
        "ASIAEXAMPLEOLD",
        "old-secret",
        session,
        session_token=SESSION_TOKEN,
        expires_at=now - timedelta(minutes=1),
        role_arn=role,
    )
    return {
        "deleted": deleted,
        "inactive": inactive,
        "live": Credentials("ASIAEXAMPLELIVE", "live-secret", SESSION_TOKEN),
        "old": Credentials("ASIAEXAMPLEOLD", "old-secret", SESSION_TOKEN),
    }


def _resign_without_token(creds: Credentials) -> Credentials:
    return Credentials(creds.access_key, creds.secret_key, None)


def _flip(hexdigits: str) -> str:
    return hexdigits[:-1] + ("0" if hexdigits[-1] != "0" else "1")


def _header(wire: Wire, name: str) -> str:
    return next(v for k, v in wire.headers.items() if k.lower() == name)


def _with_header(wire: Wire, name: str, value: str | None) -> Wire:
    headers = {k: v for k, v in wire.headers.items() if k.lower() != name.lower()}
    if value is not None:
        headers[name] = value
    return replace(wire, headers=headers)


Mutation = Callable[[str, dict[str, Credentials]], Wire]


def _signed(service: str, creds: Credentials = ROOT, **kw: Any) -> Wire:
    operation, params, _ = TARGETS[service]
    return build(service, operation, params, creds, **kw)


def _signature(service: str, keys: dict[str, Credentials]) -> Wire:
    wire = _signed(service)
    auth = _header(wire, "authorization")
    return _with_header(wire, "Authorization", _flip(auth))


def _signed_header(service: str, keys: dict[str, Credentials]) -> Wire:
    wire = _signed(service)
    return _with_header(wire, "Host", "127.0.0.1:4567")  # host is always among the signed headers


def _query(service: str, keys: dict[str, Credentials]) -> Wire:
    wire = _signed(service)
    return replace(wire, query=(wire.query + "&" if wire.query else "") + "Extra=1")


def _body(service: str, keys: dict[str, Credentials]) -> Wire:
    wire = _signed(service)
    body = wire.body + b" " if wire.body.startswith(b"{") else wire.body + b"&Extra=1"
    return replace(wire, body=body)


MUTATIONS: dict[str, Mutation] = {
    "signature": _signature,
    "signed_header": _signed_header,
    "query": _query,
    "body": _body,
    "date_old": lambda s, k: _signed(s, at=datetime.now(UTC) - timedelta(minutes=16)),
    "date_ahead": lambda s, k: _signed(s, at=datetime.now(UTC) + timedelta(minutes=16)),
    "unknown_key": lambda s, k: _signed(s, Credentials("AKIAUNKNOWNKEY000000", "secret")),
    "deleted_key": lambda s, k: _signed(s, k["deleted"]),
    "inactive_key": lambda s, k: _signed(s, k["inactive"]),
    "wrong_region": lambda s, k: _signed(s, scope_region="mars-east-1"),
    "wrong_service": lambda s, k: _signed(s, scope_service="sts" if s != "sts" else "kms"),
    "no_authorization": lambda s, k: _with_header(_signed(s), "Authorization", None),
    "incomplete": lambda s, k: _with_header(
        _signed(s), "Authorization", _header(_signed(s), "authorization").split(", SignedHeaders=")[0]
    ),
    "unsigned_payload": lambda s, k: _signed(s, headers={"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"}),
    "expired_presign": lambda s, k: _signed(s, at=datetime.now(UTC) - timedelta(minutes=2), presign_expires=60),
    "token_missing": lambda s, k: _signed(s, _resign_without_token(k["live"])),
    "token_tampered": lambda s, k: _with_header(_signed(s, k["live"]), "X-Amz-Security-Token", SESSION_TOKEN + "x"),
    "token_expired": lambda s, k: _signed(s, k["old"]),
}


def test_every_case_names_a_known_mutation_and_every_protocol() -> None:
    assert {c["mutation"] for c in CASES} == set(MUTATIONS)
    for case in CASES:
        assert set(case["expect"]) == {"json", "query", "ec2"}, case["name"]
        assert case["doc"].startswith("https://docs.aws.amazon.com/"), case["name"]


@pytest.mark.parametrize("service", sorted(TARGETS))
def test_the_unchanged_request_succeeds(state: State, keys: dict[str, Credentials], service: str) -> None:
    operation, _, _ = TARGETS[service]
    for creds in (ROOT, keys["live"]):
        status, parsed = send(state, service, operation, _signed(service, creds))
        # The role session's role does not exist, so it may be refused: but never for its signature.
        assert status == 200 or parsed["Error"]["Code"] in (
            "AccessDenied",
            "AccessDeniedException",
            "UnauthorizedOperation",
        ), parsed


@pytest.mark.parametrize("service", sorted(TARGETS))
@pytest.mark.parametrize("case", CASES, ids=[c["mutation"] for c in CASES])
def test_refused(state: State, keys: dict[str, Credentials], case: dict[str, Any], service: str) -> None:
    operation, _, protocol = TARGETS[service]
    wire = MUTATIONS[case["mutation"]](service, keys)
    status, parsed = send(state, service, operation, wire)
    code, expected_status = case["expect"][protocol]
    assert (parsed.get("Error", {}).get("Code"), status) == (code, expected_status), parsed
    if protocol != "ec2":
        assert case["message"] in parsed["Error"]["Message"], parsed
