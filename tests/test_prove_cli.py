"""``kmslaunch prove-no-new-access`` and ``--prove``: exit statuses, the counterexample printed as a request, the
``proof`` object in JSON, and the message when z3 is not installed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from kmslaunch.cli import proving
from kmslaunch.cli.main import cli

pytest.importorskip("z3")

KEY = "arn:aws:kms:us-east-1:111122223333:key/3ff5ba93-a89b-4ec2-a7a8-23aefad6c857"
PROVE = ["prove-no-new-access", "examples/prove/key-before.json"]
ALLOWING = ["--allowing", "examples/prove/launch-requests.json", "--key", KEY]
KC = ["examples/kc-iam-user/snapshot", "--instance", "i-056cc6fd323c6308f"]


def test_a_narrow_statement_proves() -> None:
    got = CliRunner().invoke(cli, [*PROVE, "examples/prove/key-after.json", *ALLOWING])
    assert got.exit_code == 0, got.output
    assert "proved: grants nothing beyond the launch's own requests" in got.output


def test_kms_star_to_everyone_prints_a_request_authorize_reads(tmp_path: Path) -> None:
    got = CliRunner().invoke(cli, [*PROVE, "examples/prove/key-after-star.json", *ALLOWING, "--format", "json"])
    assert got.exit_code == 1, got.output
    proof = json.loads(got.output)["proof"]
    assert proof["status"] == "counterexample"
    request = proof["counterexample"]
    # The request, given the AFTER policy as its key policy, is allowed by `kmslaunch authorize` too.
    request["resource_policy"] = json.loads(Path("examples/prove/key-after-star.json").read_text())
    path = tmp_path / "request.json"
    path.write_text(json.dumps(request))
    decided = CliRunner().invoke(cli, ["authorize", str(path)])
    assert decided.exit_code == 0, decided.output


def test_an_unencodable_operator_is_named_and_exits_2() -> None:
    got = CliRunner().invoke(cli, [*PROVE, "examples/prove/unencodable-after.json", *ALLOWING])
    assert got.exit_code == 2, got.output
    assert "not proved: unencodable-after.json BinaryTag uses BinaryEquals" in got.output


def test_allowing_that_is_not_a_list_is_bad_input(tmp_path: Path) -> None:
    bad = tmp_path / "requests.json"
    bad.write_text("{}")
    got = CliRunner().invoke(cli, [*PROVE, "examples/prove/key-after.json", "--allowing", str(bad)])
    assert got.exit_code == 2
    assert "expected a JSON list of requests" in got.output
    assert "Traceback" not in got.output


def test_without_z3_prove_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(proving, "z3_installed", lambda: False)
    got = CliRunner().invoke(cli, ["doctor", *KC, "--prove"])
    assert got.exit_code == 2
    assert "pip install 'kmslaunch[prove]'" in got.output


def test_doctor_json_has_a_proof_per_fix() -> None:
    got = CliRunner().invoke(cli, ["doctor", *KC, "--prove", "--format", "json"])
    out = json.loads(got.stdout)
    fixes = [f for plan in out["fix_plans"] for f in plan["fixes"]]
    assert fixes
    assert all(f["proof"]["status"] in ("proved", "counterexample", "not-proved") for f in fixes)
    # The doctor's CreateGrant statement for alice is limited by kms:GrantIsForAWSResource only: grants through
    # another service than EC2 are allowed too, so the proof fails, and --prove exits 1.
    assert fixes[0]["proof"]["status"] == "counterexample"
    assert got.exit_code == 1


def test_fix_prove_writes_nothing_when_the_proof_fails(tmp_path: Path) -> None:
    out = tmp_path / "fixed"
    got = CliRunner().invoke(cli, ["fix", *KC, "--out", str(out), "--prove"])
    assert got.exit_code == 1, got.output
    assert "nothing was written" in got.output
    assert not out.exists() or not any(out.iterdir())


def test_the_readme_commands_run_with_the_exit_status_it_states() -> None:
    readme = Path("README.md").read_text(encoding="utf-8")
    section = readme.split("## Proof that a fix grants nothing more", 1)[1].split("\n## ", 1)[0]
    lines = [x for x in section.split("```sh\n", 1)[1].split("```", 1)[0].splitlines() if x.strip()]
    assert len(lines) == 3
    for line, status in zip(lines, (0, 1, 1), strict=True):
        args = line.split()
        assert args[0] == ".venv/bin/kmslaunch"
        got = CliRunner().invoke(cli, args[1:])
        assert got.exit_code == status, got.output
