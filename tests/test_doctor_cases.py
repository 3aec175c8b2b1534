"""Table-driven doctor cases: tests/cases/doctor/*.yaml (world, launch, the refused call, the first plan's fix
kinds and places, verification, the alternative). The runner also holds the doctor to its promises on every
case: a verified plan makes the same launch run on a fresh copy, and nothing broader than the calls need."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from kmslaunch.cli.doctor import fix_command
from kmslaunch.cli.simulate import simulate_command
from kmslaunch.doctor.delegation import grant_runner
from kmslaunch.doctor.diagnose import diagnose
from kmslaunch.doctor.markdown import render_markdown
from kmslaunch.doctor.sarif import render_sarif
from kmslaunch.doctor.text import render_diagnosis
from kmslaunch.launch.request import simulate
from kmslaunch.snapshot import save_snapshot
from launchworld import build, launch

CASES = Path(__file__).parent / "cases" / "doctor"


def _load() -> list[Any]:
    out = []
    for path in sorted(CASES.glob("*.yaml")):
        data = yaml.safe_load(path.read_text())
        assert data.get("doc"), f"{path.name} names the AWS document it encodes"
        for case in data["cases"]:
            assert case.get("doc", "").startswith("https://"), case["name"]
            out.append(pytest.param(case, id=f"{path.stem}:{case['name']}"))
    return out


def _within(text: str, values: dict[str, str]) -> str:
    """References anywhere inside a string (``run as user:admin``), longest first."""
    for ref in sorted(values, key=len, reverse=True):
        text = text.replace(ref, values[ref])
    return text


@pytest.mark.parametrize("case", _load())
def test_doctor_case(case: dict[str, Any]) -> None:
    world, refs = build(case.get("world") or {})
    req = launch(case["launch"], refs)
    diag = diagnose(world, req)
    expect = refs.sub(case["expect"])
    action, layer = expect["refused"]
    assert diag.findings, diag.result.to_json()["outcome"]
    assert (diag.findings[0].call.action, diag.findings[0].layer) == (action, layer), diag.findings[0].headline
    plan = diag.plans[0]
    assert not plan.alternative
    assert plan.verified == expect["verified"], plan.unresolved
    assert [f.kind for f in plan.fixes] == expect["fix"], [f.to_json(plan.verified) for f in plan.fixes]
    if "targets" in expect:
        assert [f.target for f in plan.fixes] == expect["targets"]
    if "accounts" in expect:
        assert [f.account for f in plan.fixes] == expect["accounts"]
    commands = [c for f in plan.fixes for c in f.commands]
    for want in (_within(w, refs.values) for w in expect.get("commands") or []):
        assert any(want in c for c in commands), (want, commands)
    statements = json.dumps([st for f in plan.fixes for st in f.statements])
    for want in (_within(w, refs.values) for w in expect.get("statements") or []):
        assert want in statements, (want, statements)
    # The alternative that changes the launch is never first, and is offered only when verified.
    alternatives = [p for p in diag.plans if p.alternative]
    assert all(p.alternative for p in diag.plans[diag.plans.index(alternatives[0]) :]) if alternatives else True
    if "alternative" in expect:
        assert ("verified" if alternatives and alternatives[0].verified else "none") == expect["alternative"]
    if "assumptions" in expect:
        assert list(plan.assumptions) == expect["assumptions"]
    if "alternative_assumptions" in expect:
        assert list(alternatives[0].assumptions) == expect["alternative_assumptions"]
    assert diag.fix is (plan if plan.verified else None)
    # Least privilege, whatever the case.
    for st in (st for p in diag.plans for f in p.fixes for st in f.statements):
        actions = st.get("Action") if isinstance(st.get("Action"), list) else [st.get("Action")]
        assert "kms:*" not in actions or st["Effect"] == "Deny"
        if st["Effect"] == "Allow":
            assert st.get("Principal") not in ("*", {"AWS": "*"})
    # A verified plan is a real one: applied to a fresh copy, the same launch runs.
    if plan.verified:
        fixed = copy.deepcopy(world)
        plan.apply(fixed)
        assert simulate(fixed, req).succeeded
        assert not simulate(copy.deepcopy(world), req).succeeded


# -- kmslaunch fix: what it writes is a snapshot in which the same launch runs ------------------------------------


def _case(name: str) -> dict[str, Any]:
    for path in sorted(CASES.glob("*.yaml")):
        for case in yaml.safe_load(path.read_text())["cases"]:
            if case["name"] == name:
                return dict(case)
    raise KeyError(name)


def _fix(tmp_path: Path, spec: dict[str, Any]) -> tuple[Any, Path, list[str]]:
    world, refs = build(spec["world"])
    snap = tmp_path / "snap"
    save_snapshot(world, snap)
    s = refs.sub(spec["launch"])
    request = tmp_path / "run-instances.json"
    request.write_text(json.dumps(s["params"]))
    launch_args = [str(snap), "--run-instances", str(request), "--as", s["caller"]]
    if s.get("source_ip"):
        launch_args += ["--source-ip", s["source_ip"]]
    out = tmp_path / "fixed"
    return CliRunner().invoke(fix_command, [*launch_args, "--out", str(out)]), out, launch_args


_RUN_CASES = [c for c in _load() if c.values[0]["expect"]["verified"] and "caller" in c.values[0]["launch"]]


@pytest.mark.parametrize("case", _RUN_CASES)
def test_fix_writes_a_snapshot_in_which_the_same_launch_runs(case: dict[str, Any], tmp_path: Path) -> None:
    res, out, launch_args = _fix(tmp_path, case)
    assert res.exit_code == 0, res.output
    assert "the same launch runs there" in res.output
    assert all(f"[{kind}]" in res.output for kind in case["expect"]["fix"])
    again = CliRunner().invoke(simulate_command, [str(out), *launch_args[1:]])
    assert again.exit_code == 0 and "running" in again.output, again.output


def test_fix_refuses_when_only_a_launch_change_is_verified(tmp_path: Path) -> None:
    spec = _case("key policy names nobody; the policy fix comes before the alternative")
    # A Deny aimed at the caller on this key: no policy fix, but the launch runs with another key.
    spec["world"] = {
        **spec["world"],
        "users": {
            "alice": {
                "managed": ["AmazonEC2FullAccess"],
                "inline": {
                    "no-app-key": {
                        "Version": "2012-10-17",
                        "Statement": [{"Effect": "Deny", "Action": "kms:*", "Resource": "key:app-key"}],
                    }
                },
            }
        },
    }
    res, out, _ = _fix(tmp_path, spec)
    assert res.exit_code == 1
    assert "The only verified fix is a change to the launch itself" in res.output
    assert "alias/aws/ebs" in res.output and not out.exists()


def test_every_format_says_what_a_verification_rests_on() -> None:
    case = _case(
        "boundary without KMS, launch with the user's key; aws/ebs only as an alternative resting on an assumption"
    )
    world, refs = build(case["world"])
    diag = diagnose(world, launch(case["launch"], refs))
    words = "verified, resting on assumption principal-star-resource-policy-vs-boundary: In the resource's own"
    text = "\n".join(render_diagnosis(diag))
    assert "Alternative, changing the launch itself (" + words in text
    assert text.index("Fix (verified:") < text.index("Alternative, changing the launch itself")
    assert "Alternative, changing the launch itself: launch with alias/aws/ebs" in render_markdown(diag)
    assert words in render_markdown(diag)
    [plan_json] = [p for p in diag.to_json()["fix_plans"] if p["alternative"]]
    assert plan_json["verified"] and [a["id"] for a in plan_json["assumptions"]] == [
        "principal-star-resource-policy-vs-boundary"
    ]
    assert diag.to_json()["fixes"][0]["kind"] == "permissions-boundary"
    [result] = render_sarif(diag, uri="snapshot")["runs"][0]["results"]
    assert "Fix (verified): aws iam create-policy-version" in result["message"]["text"]
    sarif_plans = result["properties"]["fix_plans"]
    assert [p["alternative"] for p in sarif_plans] == [False, True]
    assert sarif_plans[1]["assumptions"][0]["id"] == "principal-star-resource-policy-vs-boundary"


def test_the_consumers_own_create_grant_is_decided_as_the_direct_call_it_is() -> None:
    case = _case("cross-account key whose CreateGrant needs kms:GrantIsForAWSResource")
    world, refs = build(case["world"])
    diag = diagnose(world, launch(case["launch"], refs))
    grant = next(f for f in diag.plans[0].fixes if f.kind == "grant")
    assert grant.grant is not None
    args = (refs.values["key:golden"], grant.grant["GranteePrincipal"], "111122223333", grant.grant["Operations"])
    # Before the owner's change the admin's call is refused by the key policy: no kms:GrantIsForAWSResource.
    before = grant_runner(world, *args)
    assert before.principal is None and not before.decision.allowed
    assert [layer.value for layer in before.decision.denied_by] == ["key-policy"]
    fixed = copy.deepcopy(world)
    diag.plans[0].apply(fixed)
    after = grant_runner(fixed, *args)
    assert after.principal == refs.values["user:admin"] and after.decision.allowed
