"""SARIF as code-scanning services take it: each result names the snapshot file holding the deciding statement,
relative to the SNAPSHOT base, with the line of its Sid; fingerprints that outlive a launch; sentences.

No package on PyPI ships the SARIF 2.1.0 JSON schema, so the checks below are the parts of it (and of what
code-scanning uploads require) that these reports use."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from click.testing import CliRunner

from kmslaunch.cli.main import cli
from kmslaunch.doctor.diagnose import diagnose
from kmslaunch.doctor.sarif import render_sarif
from kmslaunch.scenarios import by_name

EXAMPLES = Path(__file__).parent.parent / "examples"
INSTANCE = "i-056cc6fd323c6308f"
KEY_POLICY = "111122223333/us-east-1/kms/keys/3ff5ba93-a89b-4ec2-a7a8-23aefad6c857/get-key-policy.json"
IAM = "111122223333/iam/get-account-authorization-details.json"
LEVELS = {"none", "note", "warning", "error"}


def _sarif(*args: str) -> dict[str, Any]:
    res = CliRunner().invoke(cli, [*args, "--format", "sarif"])
    assert res.exit_code in (0, 1, 3), res.output
    doc: dict[str, Any] = json.loads(res.output)
    return doc


def check(doc: dict[str, Any], snapshot: Path | None) -> list[dict[str, Any]]:
    """The structure SARIF 2.1.0 and code scanning ask for; the results."""
    assert doc["version"] == "2.1.0" and doc["$schema"].endswith("sarif-2.1.0.json")
    (run,) = doc["runs"]
    driver = run["tool"]["driver"]
    assert isinstance(driver["name"], str) and driver["name"]
    rules = {r["id"]: r for r in driver["rules"]}
    assert len(rules) == len(driver["rules"])
    assert all(r["shortDescription"]["text"] for r in rules.values())
    base = run["originalUriBaseIds"]["SNAPSHOT"]["uri"]
    assert urlparse(base).scheme == "file" and base.endswith("/")
    assert run["columnKind"] == "unicodeCodePoints"
    for r in run["results"]:
        assert r["ruleId"] in rules and r["level"] in LEVELS
        text = r["message"]["text"]
        first = text.split(" ", 1)[0]
        assert not (first.isalpha() and first.islower()), text  # a sentence, unless it opens with a name
        assert text.endswith("."), text
        assert r["partialFingerprints"] and all(isinstance(v, str) and v for v in r["partialFingerprints"].values())
        for loc in r["locations"]:
            art = loc["physicalLocation"]["artifactLocation"]
            assert art["uriBaseId"] == "SNAPSHOT"
            assert not urlparse(art["uri"]).scheme and not art["uri"].startswith("/"), art
            if snapshot is not None:
                assert (snapshot / art["uri"]).is_file(), art["uri"]
            region = loc["physicalLocation"].get("region")
            if region is not None:
                assert isinstance(region["startLine"], int) and region["startLine"] >= 1
                assert isinstance(region["startColumn"], int) and region["startColumn"] >= 1
    results: list[dict[str, Any]] = run["results"]
    return results


def _at(snapshot: Path, loc: dict[str, Any]) -> str:
    """The file's text from the location's line and column on."""
    phys = loc["physicalLocation"]
    line = (snapshot / phys["artifactLocation"]["uri"]).read_text().splitlines()[phys["region"]["startLine"] - 1]
    return line[phys["region"]["startColumn"] - 1 :]


def test_doctor_points_at_the_deny_statement_in_the_key_policy_file() -> None:
    snap = EXAMPLES / "kc-source-ip" / "snapshot"
    [result] = check(_sarif("doctor", str(snap), "--instance", INSTANCE), snap)
    [loc] = result["locations"]
    assert loc["physicalLocation"]["artifactLocation"]["uri"] == KEY_POLICY
    assert loc["physicalLocation"]["region"]["startLine"] == 2  # the Policy member: the document is a string
    assert _at(snap, loc).startswith('\\"Sid\\": \\"Deny use outside the corporate network\\"')
    # The instance identity is named by its role, not its session (a new instance each launch).
    assert "i-0" not in json.dumps(result["partialFingerprints"])


def test_doctor_points_at_the_caller_where_no_iam_policy_allows() -> None:
    snap = EXAMPLES / "kc-iam-user" / "snapshot"
    [result] = check(_sarif("doctor", str(snap), "--instance", INSTANCE), snap)
    [loc] = result["locations"]
    assert loc["physicalLocation"]["artifactLocation"]["uri"] == IAM
    assert _at(snap, loc).startswith('"Arn": "arn:aws:iam::111122223333:user/alice"')


def test_doctor_key_state_points_at_the_key_description() -> None:
    snap = EXAMPLES / "disabled-key" / "snapshot"
    [result] = check(_sarif("doctor", str(snap), "--instance", INSTANCE), snap)
    [loc] = result["locations"]
    assert loc["physicalLocation"]["artifactLocation"]["uri"].endswith("/describe-key.json")
    assert _at(snap, loc).startswith('"KeyState"')


def test_a_service_linked_role_points_at_the_key_policy() -> None:
    """Its IAM policies cannot change: the key policy that only lets IAM decide is what refuses it."""
    snap = EXAMPLES / "asg-slr-missing" / "snapshot"
    [result] = check(_sarif("doctor", str(snap), "--asg", "web-asg"), snap)
    [loc] = result["locations"]
    assert loc["physicalLocation"]["artifactLocation"]["uri"].endswith("/get-key-policy.json")
    assert "region" in loc["physicalLocation"]


def test_fingerprints_are_stable_and_a_world_in_memory_has_files_but_no_lines() -> None:
    world, req = by_name("kc-source-ip").build()
    first = check(render_sarif(diagnose(world, req), uri="snapshot"), None)
    world, req = by_name("kc-source-ip").build()
    again = check(render_sarif(diagnose(world, req), uri="snapshot"), None)
    assert [r["partialFingerprints"] for r in first] == [r["partialFingerprints"] for r in again]
    [loc] = first[0]["locations"]
    assert loc["physicalLocation"]["artifactLocation"]["uri"].endswith("/get-key-policy.json")
    assert "region" not in loc["physicalLocation"]


def test_audit_results_point_at_files_and_statements() -> None:
    snap = EXAMPLES / "kc-source-ip" / "snapshot"
    results = check(_sarif("audit", str(snap)), snap)
    assert len(results) == 3
    assert len({json.dumps(r["partialFingerprints"]) for r in results}) == 3
    for r in results:
        [loc] = r["locations"]
        assert loc["physicalLocation"]["artifactLocation"]["uri"] == KEY_POLICY
    lint = [r for r in results if r["ruleId"].startswith("KMSL")]
    # The lint names Statement[1]: its Sid, in the policy string.
    assert _at(snap, lint[0]["locations"][0]).startswith('\\"Sid\\": \\"Deny use outside the corporate network\\"')


def test_every_example_gives_sarif_that_checks() -> None:
    for name, args in (
        ("cross-account-ami", ["--asg", "golden-asg"]),
        ("success", ["--instance", INSTANCE]),
        ("public-ami-default-key", ["--instance", INSTANCE]),
    ):
        snap = EXAMPLES / name / "snapshot"
        check(_sarif("doctor", str(snap), *args), snap)


def test_a_role_session_points_at_its_role() -> None:
    """The role's entry, by its ARN (or, where a session's ARN does not show the role's path, its name)."""
    snap = EXAMPLES / "karpenter-create-fleet" / "snapshot"
    args = ["--create-fleet", str(EXAMPLES / "karpenter-create-fleet" / "create-fleet.json")]
    args += ["--as", "arn:aws:sts::111122223333:assumed-role/KarpenterControllerRole/karpenter"]
    [result] = check(_sarif("doctor", str(snap), *args), snap)
    at = _at(snap, result["locations"][0])
    assert at.startswith(('"Arn": "arn:aws:iam::111122223333:role/KarpenterControllerRole"', '"RoleName": "Karp'))
