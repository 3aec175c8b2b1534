"""The proof's table (tests/cases/prove/*.yaml): BEFORE, AFTER and the requests AFTER may allow, and the outcome."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

pytest.importorskip("z3")

from kmslaunch.cli.main import cli
from kmslaunch.policy.evaluate import build_context
from kmslaunch.policy.model import PolicyType
from kmslaunch.policy.parse import parse_policy
from kmslaunch.policy.principals import PrincipalType
from kmslaunch.policy.requestfile import load_request
from kmslaunch.prove.launch import Allowed
from kmslaunch.prove.prove import Scope, prove_document

CASES = sorted(p for p in Path(__file__).parent.glob("cases/prove/*.yaml") if p.name != "examples.yaml")
EXAMPLES = Path(__file__).parent / "cases/prove/examples.yaml"
_TYPES = {"key": PolicyType.KEY, "identity": PolicyType.IDENTITY, "scp": PolicyType.SCP}


def _cases() -> list[Any]:
    out = []
    for path in CASES:
        for case in yaml.safe_load(path.read_text()):
            out.append(pytest.param(case, id=f"{path.stem}: {case['name']}"))
    return out


def _allowed(raw: dict[str, Any]) -> Allowed:
    req, ps, _ = load_request(raw, "case")
    who = req.principal
    return Allowed(
        who.arn,
        who.principal_arn if who.type is PrincipalType.ASSUMED_ROLE else None,
        who.role_path_known,
        None,
        req.action,
        req.resource,
        build_context(req, ps),
    )


@pytest.mark.parametrize("case", _cases())
def test_prove_case(case: dict[str, Any]) -> None:
    ptype = _TYPES[case["type"]]
    before = parse_policy(case["before"], ptype, "before")
    after = parse_policy(case["after"], ptype, "after")
    holders = tuple(case.get("holders", ()))
    scope = Scope(users=holders, resource=case.get("key"))
    proof = prove_document(before, after, [_allowed(a) for a in case.get("allowing", [])], scope)
    assert proof.status == case["expect"], proof.message
    if "message" in case:
        assert case["message"] in proof.message
    if proof.status == "counterexample":
        assert proof.counterexample is not None
        assert proof.counterexample.to_json()["action"]


@pytest.mark.parametrize("case", yaml.safe_load(EXAMPLES.read_text()), ids=lambda c: c["example"])
def test_doctor_prove_on_examples(case: dict[str, Any]) -> None:
    got = CliRunner().invoke(cli, ["doctor", *case["args"], "--prove", "--format", "json"])
    out = json.loads(got.stdout)
    fixes = [f for plan in out["fix_plans"] for f in plan["fixes"]]
    # The alternative that changes the launch (alias/aws/ebs) changes no policy: nothing to prove.
    statuses = [f["proof"]["status"] for f in fixes if f["kind"] != "launch-parameter"]
    assert statuses == case["fixes"]
    assert got.exit_code == case["exit"]
