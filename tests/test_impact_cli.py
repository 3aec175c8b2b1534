"""`kmslaunch impact` through the command line: exit statuses, every format, bad input, several changes at once,
the README's commands, and the filtered run against the exhaustive one."""

from __future__ import annotations

import json
import re
import shlex
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kmslaunch.cli.main import cli
from kmslaunch.impact.changes import parse_changes
from kmslaunch.impact.compare import impact
from kmslaunch.policy.model import PolicyType
from kmslaunch.snapshot import save_snapshot
from kmslaunch.world.documents import Document
from kmslaunch.world.organizations import SCP, OrgPolicy

ROOT = Path(__file__).parent.parent
SUCCESS = str(ROOT / "examples/success/snapshot")
DENY = f"alias/app-data={ROOT}/examples/changes/key-deny-outside-network.json"
sys.path.insert(0, str(ROOT / "bench"))
from make_org import build as build_org  # noqa: E402 - bench/ is not a package


def _run(*args: str) -> Any:
    res = CliRunner().invoke(cli, ["impact", *args])
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    return res


def test_a_break_exits_1_and_names_the_statement_in_the_change_file() -> None:
    res = _run(SUCCESS, "--key-policy", DENY)
    assert res.exit_code == 1, res.output
    assert "== paths that break" in res.output
    assert "DenyOutsideCorporateNetwork" in res.output and "key-deny-outside-network.json line 13" in res.output


def test_a_fix_exits_0() -> None:
    fix = f"alias/asg-data={ROOT}/examples/changes/asg-key-fix.json"
    res = _run(str(ROOT / "examples/asg-slr-missing/snapshot"), "--key-policy", fix)
    assert res.exit_code == 0, res.output
    assert "== paths that start to work" in res.output and "Auto Scaling group web-asg" in res.output


def test_no_change_is_exit_2() -> None:
    res = _run(SUCCESS)
    assert res.exit_code == 2 and "name at least one change" in res.output


@pytest.mark.parametrize("fmt", ["json", "markdown", "sarif", "html"])
def test_every_format(fmt: str) -> None:
    res = _run(SUCCESS, "--key-policy", DENY, "--format", fmt)
    assert res.exit_code == 1, res.output
    if fmt == "json":
        out = json.loads(res.output)
        assert out["format"] == "kmslaunch-impact/1" and out["exit_code"] == 1
        assert [m["move"] for m in out["moves"]] == ["breaks"]
        assert out["moves"][0]["cause"]["location"]["line"] == 13
    elif fmt == "markdown":
        assert res.output.startswith("# kmslaunch impact:") and "## Paths that break" in res.output
    elif fmt == "sarif":
        run = json.loads(res.output)["runs"][0]
        (result,) = run["results"]
        loc = result["locations"][0]["physicalLocation"]
        # In the change's file, where the deciding Deny is; an absolute path is given as a file: URI.
        assert loc["artifactLocation"]["uri"].endswith("examples/changes/key-deny-outside-network.json")
        assert loc["region"]["startLine"] == 13 and result["level"] == "error"
        assert {"SNAPSHOT", "CHANGES"} <= set(run["originalUriBaseIds"])
    else:
        assert res.output.startswith("<!DOCTYPE html>") and "<script" not in res.output
        assert not re.search(r"(src|href)=\"https?:", res.output)
        assert "breaks" in res.output and "DenyOutsideCorporateNetwork" in res.output


def test_a_relative_change_file_is_relative_to_changes_in_sarif(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    res = CliRunner().invoke(
        cli,
        [
            "impact",
            "examples/success/snapshot",
            "--key-policy",
            "alias/app-data=examples/changes/key-deny-outside-network.json",
            "--format",
            "sarif",
        ],
    )
    loc = json.loads(res.output)["runs"][0]["results"][0]["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"] == {"uri": "examples/changes/key-deny-outside-network.json", "uriBaseId": "CHANGES"}


def test_several_changes_at_once_each_break_named_by_its_change(tmp_path: Path) -> None:
    app_data = "arn:aws:kms:us-east-1:111122223333:key/3ff5ba93-a89b-4ec2-a7a8-23aefad6c857"
    only_app_data = {
        "Version": "2012-10-17",
        "Statement": [{"Sid": "OnlyAppData", "Effect": "Deny", "Action": "kms:*", "NotResource": app_data}],
    }
    (tmp_path / "only.json").write_text(json.dumps(only_app_data))
    res = _run(
        SUCCESS,
        "--key-policy",
        DENY,
        "--identity-policy",
        f"arn:aws:iam::111122223333:user/alice#only-app-data={tmp_path / 'only.json'}",
        "--format",
        "json",
    )
    assert res.exit_code == 1, res.output
    moves = json.loads(res.output)["moves"]
    got = sorted(
        (m["key"] == app_data, m["cause"]["change"]["kind"], m["cause"]["statement"]["statement"]) for m in moves
    )
    assert got == [(False, "identity-policy", "OnlyAppData"), (True, "key-policy", "DenyOutsideCorporateNetwork")]


def test_an_aws_managed_key_cannot_be_changed() -> None:
    res = _run(SUCCESS, "--disable-key", "alias/aws/ebs")
    # aws/ebs is not in this snapshot (EBS creates it on first use): unknown to the snapshot, exit 2.
    assert res.exit_code == 2 and "alias/aws/ebs" in res.output


def _bad(tmp: Path, name: str, text: str) -> str:
    (tmp / name).write_text(text)
    return str(tmp / name)


@pytest.mark.parametrize(
    ("option", "value", "wanted"),
    [
        ("--key-policy", "alias/app-dat={deny}", ["alias/app-dat", "did you mean alias/app-data"]),
        ("--key-policy", "alias/app-data={badjson}", ["badjson.json", "not valid JSON", "line 1 column 2"]),
        ("--key-policy", "alias/app-data={badpolicy}", ["badpolicy.json", "Statement[0].Actin", "unknown statement"]),
        ("--key-policy", "alias/app-data", ["expected KEY=FILE"]),
        (
            "--identity-policy",
            "arn:aws:iam::111122223333:user/alise#p={deny}",
            ["did you mean arn:aws:iam::111122223333:user/alice"],
        ),
        ("--identity-policy", "arn:aws:iam::aws:policy/AmazonEC2FullAccess={deny}", ["AWS managed policy"]),
        ("--scp", "root={deny}", ["holds no organization"]),
        ("--revoke-grant", "alias/app-data:0123", ["has no grant with this id"]),
        ("--default-key", "us-west-2=alias/app-data", ["no account of the snapshot has this region", "us-east-1"]),
        ("--default-key", "us-east-1=alias/nope", ["alias/nope"]),
        ("--disable-key", "3ff5ba93-a89b-4ec2-a7a8-23aefad6c85", ["did you mean 3ff5ba93-a89b-4ec2-a7a8-23aefad6c857"]),
    ],
)
def test_bad_input_is_exit_2_naming_it(option: str, value: str, wanted: list[str], tmp_path: Path) -> None:
    files = {
        "deny": str(ROOT / "examples/changes/key-deny-outside-network.json"),
        "badjson": _bad(tmp_path, "badjson.json", "{bad"),
        "badpolicy": _bad(
            tmp_path, "badpolicy.json", '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Actin": "*"}]}'
        ),
    }
    res = _run(SUCCESS, option, value.format(**files))
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    for w in wanted:
        assert w in res.output, res.output


def _org_world() -> Any:
    w = build_org(0.05, accounts=4)
    org = w.organization
    org.parents["ou-bnch-apps"] = "r-bnch"
    for a in sorted(w.accounts)[:2]:
        org.parents[a] = "ou-bnch-apps"
    doc = Document.parse(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]},
        PolicyType.SCP,
        "AppsAllow",
    )
    org.policies["p-appsallow"] = OrgPolicy("p-appsallow", "AppsAllow", SCP, doc)
    org.attachments["ou-bnch-apps"] = ["p-FullAWSAccess", "p-appsallow"]
    # One account's template launches with another account's key, named by ARN (the key policy lets it):
    # a change to that key must reach the other account's launches too.
    accounts = sorted(w.accounts)
    key = w.accounts[accounts[1]].regions["us-east-1"].kms.resolve("alias/app-000")
    assert key is not None
    raw = json.loads(key.policy.text())
    raw["Statement"].append(
        {
            "Sid": "Partner",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{accounts[3]}:root"},
            "Action": "kms:*",
            "Resource": "*",
        }
    )
    key.policy = Document.parse(raw, PolicyType.KEY, key.arn)
    lt = next(iter(w.accounts[accounts[3]].regions["us-east-1"].ec2.launch_templates.values()))
    lt.versions[1]["BlockDeviceMappings"][0]["Ebs"]["KmsKeyId"] = key.arn
    return w


def _write(tmp: Path, name: str, doc: dict[str, Any]) -> str:
    (tmp / name).write_text(json.dumps(doc))
    return str(tmp / name)


def _key_arn(w: Any, i: int, alias: str) -> str:
    a = sorted(w.accounts)[i]
    key = w.accounts[a].regions["us-east-1"].kms.resolve(alias)
    return str(key.arn)


def test_the_filtered_run_finds_what_simulating_everything_finds(tmp_path: Path) -> None:
    w = _org_world()
    accounts = sorted(w.accounts)
    key = _key_arn(w, 1, "alias/app-000")
    deny = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Admin",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{accounts[1]}:root"},
                "Action": "kms:*",
                "Resource": "*",
            },
            {"Sid": "NoGrants", "Effect": "Deny", "Principal": "*", "Action": "kms:CreateGrant", "Resource": "*"},
        ],
    }
    scp = {
        "Version": "2012-10-17",
        "Statement": [{"Sid": "NoKms", "Effect": "Deny", "Action": "kms:Decrypt", "Resource": "*"}],
    }
    ec2_only = {
        "Version": "2012-10-17",
        "Statement": [{"Sid": "Ec2", "Effect": "Allow", "Action": "kms:DescribeKey", "Resource": "*"}],
    }
    rcp = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Outside",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "kms:*",
                "Resource": "*",
                "Condition": {"StringNotEqualsIfExists": {"aws:PrincipalOrgID": "o-other"}},
            }
        ],
    }
    specs: list[dict[str, list[str]]] = [
        {"key_policy": [f"{key}={_write(tmp_path, 'k.json', deny)}"]},
        {"scp": [f"ou-bnch-apps={_write(tmp_path, 's.json', scp)}"]},
        {"scp": [f"p-appsallow={_write(tmp_path, 's2.json', scp)}"]},
        {"rcp": [f"{accounts[2]}={_write(tmp_path, 'r.json', rcp)}"]},
        {
            "identity_policy": [
                f"arn:aws:iam::{accounts[0]}:policy/kms-ebs-users={_write(tmp_path, 'i.json', ec2_only)}"
            ]
        },
        {"default_key": [f"{accounts[0]}:us-east-1={_key_arn(w, 0, 'alias/app-002')}"]},
        {"disable_key": [_key_arn(w, 3, "alias/app-000")]},
        {
            "key_policy": [f"{key}={tmp_path / 'k.json'}"],
            "disable_key": [_key_arn(w, 3, "alias/app-000")],
        },
    ]
    for spec in specs:
        changes = parse_changes(w, **spec)  # type: ignore[arg-type]
        filtered = impact(w, changes)
        reference = impact(w, changes, exhaustive=True)
        # The filter left launches alone (not simulated, or not simulated again), and found the same moves.
        assert filtered.left_alone + filtered.reused > 0 and reference.left_alone == 0, spec
        got = [(m.path, m.move, m.before, m.after) for m in filtered.moves]
        want = [(m.path, m.move, m.before, m.after) for m in reference.moves]
        assert got == want, spec
        assert filtered.paths == reference.paths == reference.reached > filtered.reached, spec
        assert filtered.failing_after - filtered.failing_before == reference.failing_after - reference.failing_before
        assert filtered.moves, spec  # each change moves something: the comparison is not vacuous
        if "key_policy" in spec:
            # The other account's template launch with this key breaks too.
            assert any(m.path.account == accounts[3] and m.path.kind == "launch-template" for m in filtered.moves)


def _readme_commands() -> list[list[str]]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## What a change breaks: kmslaunch impact", 1)[1].split("\n## ", 1)[0]
    return [shlex.split(line)[1:] for line in section.splitlines() if line.startswith(".venv/bin/kmslaunch impact ")]


def test_readme_commands_run(monkeypatch: pytest.MonkeyPatch) -> None:
    commands = _readme_commands()
    assert len(commands) >= 3
    monkeypatch.chdir(ROOT)  # the README's commands run from the repository root
    for args in commands:
        res = CliRunner().invoke(cli, args)
        assert res.exit_code in (0, 1, 3), (args, res.output)
        assert res.exception is None or isinstance(res.exception, SystemExit), res.exception


def test_an_unknown_target_or_policy_id_is_exit_2_with_close_matches(tmp_path: Path) -> None:
    out = tmp_path / "org"
    save_snapshot(_org_world(), out, meta={"collected_at": "2026-01-15T09:30:00Z"})
    doc = _write(
        tmp_path,
        "deny.json",
        {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "kms:*", "Resource": "*"}]},
    )
    res = _run(str(out), "--scp", f"ou-bnch-aps={doc}")
    assert res.exit_code == 2 and "ou-bnch-aps" in res.output and "did you mean ou-bnch-apps" in res.output
    res = _run(str(out), "--scp", f"p-appsalow={doc}")
    assert res.exit_code == 2 and "did you mean p-appsallow" in res.output
    res = _run(str(out), "--scp", f"p-FullAWSAccess={doc}")
    assert res.exit_code == 2 and "AWS managed policy" in res.output
    # The same SCP on a real target is accepted, and denying all of KMS breaks launches there.
    res = _run(str(out), "--scp", f"ou-bnch-apps={doc}")
    assert res.exit_code == 1, res.output


def test_the_bundled_asg_fix_is_the_doctors(tmp_path: Path) -> None:
    """examples/changes/asg-key-fix.json is the key policy `kmslaunch fix` writes for examples/asg-slr-missing."""
    out = tmp_path / "fixed"
    res = CliRunner().invoke(
        cli, ["fix", str(ROOT / "examples/asg-slr-missing/snapshot"), "--asg", "web-asg", "--out", str(out)]
    )
    assert res.exit_code == 0, res.output
    (written,) = (out / "commands").glob("key-policy-*.json")
    bundled = ROOT / "examples/changes/asg-key-fix.json"
    assert json.loads(written.read_text()) == json.loads(bundled.read_text())
