"""Input Python's own JSON decoder cannot take, and names a snapshot cannot hold: a number of more than 4,300
digits (ValueError), arrays and objects nested a thousand deep (RecursionError), ARNs in a partition AWS does not
have, an id too long to be a file name. Each through the command line: exit 2, one line naming the file, the
element and what was expected, no traceback."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kmslaunch.cli.main import cli

ROOT = Path(__file__).parent.parent
EXAMPLE = ROOT / "examples" / "success"
ACCOUNT, REGION = "111122223333", "us-east-1"
RUN = ["--run-instances", str(EXAMPLE / "run-instances.json"), "--as", f"arn:aws:iam::{ACCOUNT}:user/alice"]
KEY_DIR = f"{ACCOUNT}/{REGION}/kms/keys/3ff5ba93-a89b-4ec2-a7a8-23aefad6c857"


def _edit(snap: Path, rel: str, change: Callable[[Any], Any]) -> None:
    path = snap / rel
    path.write_text(json.dumps(change(json.loads(path.read_text()))))


def _text(snap: Path, rel: str, text: str) -> None:
    (snap / rel).write_text(text)


def _big_number(snap: Path) -> None:
    _text(snap, f"{ACCOUNT}/{REGION}/ec2/describe-volumes.json", '{"Volumes": [{"Size": ' + "9" * 4301 + "}]}")


def _deep_file(snap: Path) -> None:
    _text(snap, f"{ACCOUNT}/{REGION}/ec2/describe-volumes.json", '{"Volumes": ' + "[" * 1000 + "]" * 1000 + "}")


def _deep_event(snap: Path) -> None:
    # Deep enough to pass Python's decoder (about 990 levels), deep enough to break any walk of it afterwards.
    def change(doc: Any) -> Any:
        event = json.loads(doc["Events"][0]["CloudTrailEvent"])
        event["requestParameters"] = json.loads("[" * 900 + "]" * 900)
        doc["Events"][0]["CloudTrailEvent"] = json.dumps(event)
        return doc

    _edit(snap, f"{ACCOUNT}/{REGION}/cloudtrail/lookup-events.json", change)


def _deep_policy(snap: Path) -> None:
    def change(doc: Any) -> Any:
        doc["Policy"] = '{"Version": "2012-10-17", "Statement": ' + "[" * 1200 + "]" * 1200 + "}"
        return doc

    _edit(snap, f"{KEY_DIR}/get-key-policy.json", change)


def _long_policy_number(snap: Path) -> None:
    def change(doc: Any) -> Any:
        doc["Policy"] = '{"Version": "2012-10-17", "Statement": [], "X": ' + "1" * 5000 + "}"
        return doc

    _edit(snap, f"{KEY_DIR}/get-key-policy.json", change)


def _bogus_partition(snap: Path) -> None:
    _edit(snap, "snapshot.json", lambda d: {**d, "partition": "bogus"})


def _bogus_user_arn(snap: Path) -> None:
    def change(doc: Any) -> Any:
        doc["UserDetailList"][0]["Arn"] = doc["UserDetailList"][0]["Arn"].replace("arn:aws:", "arn:bogus:")
        return doc

    _edit(snap, f"{ACCOUNT}/iam/get-account-authorization-details.json", change)


def _long_template_id(snap: Path) -> None:
    tid = "lt-" + "0" * 300  # 303 characters: with .json, longer than a file name may be
    versions = snap / f"{ACCOUNT}/{REGION}/ec2/describe-launch-template-versions"
    versions.mkdir(parents=True, exist_ok=True)
    _edit(
        snap,
        f"{ACCOUNT}/{REGION}/ec2/describe-launch-templates.json",
        lambda d: {"LaunchTemplates": [{"LaunchTemplateId": tid, "LaunchTemplateName": "web"}]},
    )


def _key_arn_not_an_arn(snap: Path) -> None:
    _edit(snap, f"{KEY_DIR}/describe-key.json", lambda d: {**d, "KeyMetadata": {**d["KeyMetadata"], "Arn": ACCOUNT}})


@dataclass(frozen=True)
class Case:
    id: str
    setup: Callable[[Path], None]
    file: str  # the file the line names (relative to the snapshot)
    says: str  # the element and what was expected


CASES = [
    Case(
        "number-of-4301-digits",
        _big_number,
        f"{ACCOUNT}/{REGION}/ec2/describe-volumes.json",
        "Volumes[0].Size: a number of 4,301 digits at line 1 column 23: expected a number of at most 4,300 digits",
    ),
    Case(
        "file-nested-1000-deep",
        _deep_file,
        f"{ACCOUNT}/{REGION}/ec2/describe-volumes.json",
        "Volumes[0][0][0]… (60 more levels): nested more than 64 levels deep at line 1 column 76: expected at most "
        "64 levels of arrays and objects",
    ),
    Case(
        "cloudtrail-record-nested-900-deep",
        _deep_event,
        f"{ACCOUNT}/{REGION}/cloudtrail/lookup-events.json",
        "Events[0].CloudTrailEvent: requestParameters[0][0][0]… (60 more levels): nested more than 64 levels deep",
    ),
    Case(
        "key-policy-nested-1200-deep",
        _deep_policy,
        f"{KEY_DIR}/get-key-policy.json",
        "Policy: Statement[0][0][0]… (60 more levels): nested more than 64 levels deep at line 1 column 103",
    ),
    Case(
        "key-policy-number-of-5000-digits",
        _long_policy_number,
        f"{KEY_DIR}/get-key-policy.json",
        "Policy: X: a number of 5,000 digits at line 1 column 49: expected a number of at most 4,300 digits",
    ),
    Case(
        "bogus-partition",
        _bogus_partition,
        "snapshot.json",
        "partition: 'bogus' is not one of aws, aws-cn, aws-us-gov",
    ),
    Case(
        "user-arn-in-a-bogus-partition",
        _bogus_user_arn,
        f"{ACCOUNT}/iam/get-account-authorization-details.json",
        "UserDetailList[0].Arn: 'arn:bogus:iam::111122223333:user/alice' names the partition 'bogus': expected an "
        "ARN in one of aws, aws-cn",
    ),
    Case(
        "launch-template-id-of-303-characters",
        _long_template_id,
        f"{ACCOUNT}/{REGION}/ec2/describe-launch-templates.json",
        "LaunchTemplates[0].LaunchTemplateId: 'lt-00000000000000000'… (303 characters) is not a launch template id "
        "(expected lt- and 17 hex digits)",
    ),
    Case(
        "key-arn-that-is-an-account-id",
        _key_arn_not_an_arn,
        f"{KEY_DIR}/describe-key.json",
        "KeyMetadata.Arn: '111122223333' is not the ARN of key 3ff5ba93-a89b-4ec2-a7a8-23aefad6c857 (expected "
        "arn:aws:kms:us-east-1:111122223333:key/3ff5ba93-a89b-4ec2-a7a8-23aefad6c857)",
    ),
]


@pytest.fixture
def snap(tmp_path: Path) -> Path:
    out = tmp_path / "snapshot"
    shutil.copytree(EXAMPLE / "snapshot", out)
    return out


@pytest.mark.parametrize("command", ["simulate", "audit"])
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_snapshot_file_exits_2_naming_file_element_and_expected(snap: Path, case: Case, command: str) -> None:
    case.setup(snap)
    args = [command, str(snap), *(RUN if command == "simulate" else [])]
    res = CliRunner().invoke(cli, args)
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exc_info
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    assert f"{snap / case.file}: {case.says}" in res.stderr, res.stderr


def _request(tmp_path: Path, change: Callable[[Any], Any]) -> str:
    doc = json.loads((ROOT / "examples" / "requests" / "create-grant-no-iam.json").read_text())
    path = tmp_path / "request.json"
    changed = change(doc)
    path.write_text(changed if isinstance(changed, str) else json.dumps(changed))
    return str(path)


def _as_text(doc: Any, tail: str) -> str:
    return json.dumps(doc)[:-1] + ", " + tail + "}"


REQUESTS = [
    ("request-nested-1000-deep", lambda d: _as_text(d, '"deep": ' + "[" * 1000 + "]" * 1000), "deep[0][0][0]… ("),
    ("request-number-of-4400-digits", lambda d: _as_text(d, '"n": ' + "7" * 4400), "n: a number of 4,400 digits"),
    (
        "policy-text-nested-1000-deep",
        lambda d: {
            **d,
            "resource_policy": '{"Version": "2012-10-17", "Statement": ' + "[" * 1000 + "]" * 1000 + "}",
        },
        "resource_policy: Statement[0][0][0]… (60 more levels): nested more than 64 levels deep",
    ),
    (
        "policy-text-number-of-5000-digits",
        lambda d: {**d, "resource_policy": '{"Version": "2012-10-17", "Statement": [], "N": ' + "3" * 5000 + "}"},
        "resource_policy: N: a number of 5,000 digits",
    ),
    (
        "resource-with-a-lone-surrogate",
        lambda d: json.dumps(d).replace('"resource": "', '"resource": "\\ud800', 1),
        "resource: a string with an unpaired UTF-16 surrogate (\\ud800-\\udfff): expected Unicode text",
    ),
]


@pytest.mark.parametrize(("name", "change", "says"), REQUESTS, ids=[r[0] for r in REQUESTS])
def test_bad_authorize_request_exits_2(tmp_path: Path, name: str, change: Callable[[Any], Any], says: str) -> None:
    path = _request(tmp_path, change)
    res = CliRunner().invoke(cli, ["authorize", path])
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exc_info
    assert res.exit_code == 2, res.output
    assert f"kmslaunch: {path}: {says}" in res.stderr, res.stderr
