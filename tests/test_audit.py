"""``kmslaunch audit``: the bundled examples' known failures, one table-driven case per lint rule
(tests/cases/audit/lint.yaml), a small synthetic organization whose grouped results match per-principal
simulation, and the output formats."""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from kmslaunch.audit.engine import PRINCIPAL_KEY, TERMINATED, audit
from kmslaunch.audit.lint import RULES, lint_world
from kmslaunch.cli.audit import audit_command
from kmslaunch.launch.request import LaunchRequest, simulate
from kmslaunch.launch.result import LaunchKind
from kmslaunch.snapshot import load_snapshot
from kmslaunch.world import builder as b
from kmslaunch.world.world import World

ROOT = Path(__file__).parent.parent
EXAMPLES = ROOT / "examples"
CASES = yaml.safe_load((Path(__file__).parent / "cases" / "audit" / "lint.yaml").read_text())
sys.path.insert(0, str(ROOT / "bench"))

from make_org import build  # noqa: E402 - the bench's generator, importable once bench/ is on the path

A, B, R = "111122223333", "444455556666", "us-east-1"


def _audit(example: str) -> Any:
    snap = load_snapshot(EXAMPLES / example / "snapshot")
    return audit(snap.world, snapshot=example, unknown=snap.unknown)


def test_asg_slr_missing_group_fails_with_a_key_policy_fix() -> None:
    report = _audit("asg-slr-missing")
    [group] = [p for p in report.paths if p.kind == "auto-scaling-group"]
    assert group.target == "web-asg" and group.outcome.fails and group.outcome.state == "terminated"
    assert "service-linked role" in (group.outcome.headline or "")
    assert group.outcome.fix is not None and group.outcome.fix["verified"]
    assert [f["kind"] for f in group.outcome.fix["fixes"]] == ["key-policy"]
    assert report.exit_code == 1


def test_kc_source_ip_lint_flags_the_deny_and_the_launch_fails() -> None:
    report = _audit("kc-source-ip")
    assert [f.rule for f in report.lint] == ["source-ip-deny"]
    assert report.lint[0].path.startswith("Statement[1].Condition")
    failing = report.failing
    assert failing and failing[0].outcome.cause == "key-policy"
    assert failing[0].principal == f"arn:aws:iam::{A}:user/alice"
    # One statement, one recommendation: the doctor's fix (not alias/aws/ebs) says what the lint suggests.
    fix = failing[0].outcome.fix
    assert fix is not None and fix["verified"] and not fix["alternative"]
    [change] = fix["fixes"]
    assert change["kind"] == "key-policy" and (report.lint[0].suggestion or "") in change["rationale"]


def test_kc_iam_user_fails_on_iam_with_an_identity_fix() -> None:
    report = _audit("kc-iam-user")
    # The principal's launch with its key, and the instance that already failed that way.
    assert [p.kind for p in report.failing] == [PRINCIPAL_KEY, TERMINATED]
    for fail in report.failing:
        assert fail.outcome.cause == "identity-policy"
        assert fail.outcome.fix and fail.outcome.fix["verified"]
        assert fail.outcome.fix["fixes"][0]["kind"] == "identity-policy"


def test_disabled_key_audit_sees_the_instance_that_already_failed() -> None:
    report = _audit("disabled-key")
    [fail] = report.failing
    assert fail.kind == TERMINATED and fail.target == "i-056cc6fd323c6308f"
    assert fail.principal == f"arn:aws:iam::{A}:user/alice"
    assert fail.outcome.cause == "key-state" and fail.outcome.fix and fail.outcome.fix["verified"]
    assert "aws kms enable-key" in fail.outcome.fix["fixes"][0]["commands"][0]
    assert report.exit_code == 1


def test_success_example_has_nothing_failing() -> None:
    report = _audit("success")
    assert report.paths and not report.failing and not report.lint and report.exit_code == 0


def test_audit_does_not_change_the_world() -> None:
    snap = load_snapshot(EXAMPLES / "asg-slr-missing" / "snapshot")
    before = copy.deepcopy(snap.world)
    audit(snap.world)
    region = snap.world.accounts[A].regions[R]
    assert region.ec2.instances.keys() == before.accounts[A].regions[R].ec2.instances.keys()
    assert len(region.trail.events) == len(before.accounts[A].regions[R].trail.events)
    assert [len(k.grants) for k in region.kms.keys.values()] == [
        len(k.grants) for k in before.accounts[A].regions[R].kms.keys.values()
    ]


# -- lint: one case per rule ------------------------------------------------------------------------------------


def _lint_world(case: dict[str, Any]) -> World:
    w = World()
    b.add_role(w, A, "app")
    b.add_user(w, A, "alice", inline={"policy": case["identity_policy"]} if "identity_policy" in case else None)
    w.account(B)  # collected, with no principals
    if "key_policy" in case:
        b.add_key(w, A, R, policy=case["key_policy"])
    return w


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_lint_rule(case: dict[str, Any]) -> None:
    findings = lint_world(_lint_world(case))
    assert sorted(f.rule for f in findings) == sorted(case["expect"]), [f.to_json() for f in findings]
    for f in findings:
        assert f.path.startswith("Statement[") and f.message
    if "suggestion" in case:
        [finding] = findings
        assert (finding.suggestion or "").startswith(case["suggestion"]), finding.suggestion


def test_every_rule_has_a_case() -> None:
    covered = {r for c in CASES for r in c["expect"]}
    assert covered >= set(RULES) - {"policy-warning"}


# -- a small synthetic organization -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def org() -> tuple[World, Any]:
    w = build(0.06, accounts=3)  # 3 accounts, 8 principals and 2 keys... each (rounded up)
    return w, audit(w)


def test_org_failures_are_the_ones_built_in(org: tuple[World, Any]) -> None:
    _, report = org
    by_kind = report.by_kind()
    # Each account's first group uses a key with AWS's default policy: Auto Scaling's role is not in it.
    asg = [p for p in report.paths if p.kind == "auto-scaling-group"]
    assert len(asg) == 6 and sum(p.outcome.fails for p in asg) == 6
    assert all(p.outcome.fix and p.outcome.fix["verified"] for p in asg)
    # EC2-only principals fail on IAM with the default-policy key; full ones do not.
    pk = [p for p in report.paths if p.kind == PRINCIPAL_KEY]
    assert any(p.outcome.cause == "identity-policy" for p in pk)
    assert any(not p.outcome.fails for p in pk)
    assert by_kind[PRINCIPAL_KEY]["paths"] == len(pk)
    assert report.simulations < len(report.paths)  # grouping shares simulations


def test_grouped_results_match_per_principal_simulation(org: tuple[World, Any]) -> None:
    w, report = org
    shared = [p for p in report.paths if p.representative and p.kind == PRINCIPAL_KEY]
    assert shared
    for p in shared[:20]:
        work = copy.deepcopy(w)
        image = b.add_image(work, p.account, p.region, name="check")
        # aws/ebs was created in the audit's copy of the world (on first use, as AWS does): name it by alias.
        key = p.key if w.key_by_arn(p.key or "") else "alias/aws/ebs"
        params = {
            "ImageId": image.image_id,
            "MinCount": 1,
            "MaxCount": 1,
            "BlockDeviceMappings": [{"DeviceName": "/dev/xvda", "Ebs": {"Encrypted": True, "KmsKeyId": key}}],
        }
        result = simulate(work, LaunchRequest(LaunchKind.RUN_INSTANCES, p.account, p.region, params, p.principal))
        assert result.outcome.state != "rejected", result.outcome
        assert (not result.succeeded) == p.outcome.fails, p


# -- output formats ---------------------------------------------------------------------------------------------


def _run(*args: str) -> Any:
    return CliRunner().invoke(audit_command, list(args))


def test_json_shape() -> None:
    res = _run(str(EXAMPLES / "kc-source-ip" / "snapshot"), "--format", "json")
    assert res.exit_code == 1, res.output
    doc = json.loads(res.output)
    assert doc["format"] == "kmslaunch-audit/1"
    assert set(doc) == {"format", "snapshot", "summary", "paths", "lint", "unknown"}
    s = doc["summary"]
    assert {"paths", "failing", "simulations", "diagnoses", "by_cause", "by_kind", "lint"} <= set(s)
    assert s["paths"] == len(doc["paths"]) and s["failing"] == sum(p["fails"] for p in doc["paths"])
    path_keys = {"kind", "account", "region", "target", "principal", "key", "state", "fails", "cause", "headline"}
    assert all(path_keys | {"fix", "note", "representative"} == set(p) for p in doc["paths"])
    assert {"rule", "id", "severity", "path", "message", "suggestion", "doc"} <= set(doc["lint"][0])


def test_sarif_markdown_text() -> None:
    snapshot = str(EXAMPLES / "kc-source-ip" / "snapshot")
    sarif = json.loads(_run(snapshot, "--format", "sarif").output)
    assert sarif["version"] == "2.1.0"
    results = sarif["runs"][0]["results"]
    # The failing principal path, the instance that already failed, and the lint finding.
    assert len(results) == 3 and {r["level"] for r in results} == {"error"}
    rule_ids = {r["id"] for r in sarif["runs"][0]["tool"]["driver"]["rules"]}
    assert {r["ruleId"] for r in results} <= rule_ids
    md = _run(snapshot, "--format", "markdown").output
    assert md.startswith("## kmslaunch audit: 2 of 3 launch paths fail")
    text = _run(snapshot).output.splitlines()
    assert text[2].startswith("launch paths") and any(line.startswith("== lint") for line in text)
    assert _run(str(EXAMPLES / "success" / "snapshot")).exit_code == 0
    assert _run(str(ROOT / "no-such-snapshot")).exit_code == 2
