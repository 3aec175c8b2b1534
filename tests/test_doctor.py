"""The doctor on every documented scenario: refused call, layer, fix kind, verification — and its promises:
no IAM change for a service-linked role, nothing broader than the refused calls need, no claimed
verification that was not done."""

from __future__ import annotations

import copy
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kmslaunch.cli.main import cli
from kmslaunch.doctor.diagnose import diagnose
from kmslaunch.doctor.markdown import render_markdown
from kmslaunch.doctor.sarif import render_sarif
from kmslaunch.launch.replay import replay_instance
from kmslaunch.launch.request import LaunchRequest, simulate
from kmslaunch.launch.result import LaunchKind
from kmslaunch.policy.model import PolicyType
from kmslaunch.scenarios import by_name
from kmslaunch.snapshot import load_snapshot
from kmslaunch.world.documents import Document
from kmslaunch.world.kms import KeyState

# scenario -> (refused action, layer of the refusal, fix kinds in order)
EXPECTED = {
    "kc-iam-user": ("kms:CreateGrant", "identity-policy", ["identity-policy"]),
    "kc-source-ip": ("kms:Decrypt", "key-policy", ["key-policy"]),
    "asg-slr-missing": ("kms:GenerateDataKeyWithoutPlaintext", "identity-policy", ["key-policy"]),
    "cross-account-ami": ("kms:ReEncryptFrom", "identity-policy", ["grant"]),
    "public-ami-default-key": ("kms:GenerateDataKeyWithoutPlaintext", "identity-policy", ["identity-policy"]),
    "disabled-key": ("kms:CreateGrant", "key-state", ["key-state"]),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_scenario_is_diagnosed_and_fixed(name: str) -> None:
    world, req = by_name(name).build()
    pristine = copy.deepcopy(world)
    diag = diagnose(world, req)
    action, layer, kinds = EXPECTED[name]
    assert diag.result.outcome.state == "terminated"
    assert [f.call.action for f in diag.findings] == [action]
    assert diag.findings[0].layer == layer
    assert diag.findings[0].doc.startswith("https://docs.aws.amazon.com/")
    plan = diag.plans[0]
    assert plan.verified, plan.unresolved
    assert [f.kind for f in plan.fixes] == kinds
    # Diagnosing changes nothing in the world it was given.
    assert json.dumps(_keys(world), sort_keys=True) == json.dumps(_keys(pristine), sort_keys=True)
    # The verification is real: applying the plan to a fresh copy makes the same launch run.
    fixed = copy.deepcopy(world)
    plan.apply(fixed)
    assert simulate(fixed, req).outcome.state == "running"
    # And without it, the launch still fails (the fix is what made the difference).
    assert simulate(copy.deepcopy(world), req).outcome.state == "terminated"


def _keys(world: Any) -> Any:
    return {
        k.arn: [k.policy.raw, [g.to_json() for g in k.grants], k.state.value]
        for a in world.accounts.values()
        for r in a.regions.values()
        for k in r.kms.keys.values()
    }


def _all_statements(diag: Any) -> list[dict[str, Any]]:
    return [st for p in diag.plans for f in p.fixes for st in f.statements]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixes_are_least_privilege(name: str) -> None:
    world, req = by_name(name).build()
    diag = diagnose(world, req)
    refused_actions = {c.action for c in diag.result.calls}
    for st in _all_statements(diag):
        actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
        assert "kms:*" not in actions and "*" not in actions
        if st["Effect"] == "Allow":
            assert st.get("Principal") != "*" and st.get("Principal") != {"AWS": "*"}
            # Only what the launch's calls need (the rounds may add calls made after the first refusal).
            assert set(actions) <= refused_actions | {
                "kms:GenerateDataKeyWithoutPlaintext",
                "kms:CreateGrant",
                "kms:ReEncryptFrom",
                "kms:ReEncryptTo",
                "kms:Decrypt",
            }
            if "Principal" not in st:
                assert st["Resource"].startswith("arn:aws:kms:")  # identity statements name the key
            if "kms:CreateGrant" in actions:
                assert st["Condition"] == {"Bool": {"kms:GrantIsForAWSResource": "true"}}


@pytest.mark.parametrize("name", ["asg-slr-missing", "cross-account-ami"])
def test_no_iam_change_for_a_service_linked_role(name: str) -> None:
    world, req = by_name(name).build()
    diag = diagnose(world, req)
    for plan in diag.plans:
        for f in plan.fixes:
            assert not (f.kind == "identity-policy" and "aws-service-role" in f.target)
            assert not any("put-role-policy" in c and "AWSServiceRole" in c for c in f.commands)


def test_key_policy_names_the_role_not_the_service_principal() -> None:
    world, req = by_name("asg-slr-missing").build()
    diag = diagnose(world, req)
    principals = {json.dumps(st["Principal"]) for st in _all_statements(diag)}
    slr = "arn:aws:iam::111122223333:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
    assert principals == {json.dumps({"AWS": slr})}


def test_cross_account_grant_is_made_in_the_launching_account() -> None:
    world, req = by_name("cross-account-ami").build()
    diag = diagnose(world, req)
    (fix,) = diag.plans[0].fixes
    assert fix.kind == "grant" and fix.account == "111122223333"
    assert fix.grant is not None
    assert fix.grant["GranteePrincipal"].endswith("/AWSServiceRoleForAutoScaling")
    assert "aws kms create-grant" in fix.commands[0]
    assert "run in account 111122223333" in fix.commands[0]


def test_no_claimed_verification_without_a_working_fix() -> None:
    # A key pending import cannot be fixed by a command: the doctor says so and claims nothing.
    world, req = by_name("disabled-key").build()
    for acct in world.accounts.values():
        for region in acct.regions.values():
            for key in region.kms.keys.values():
                key.state = KeyState.PENDING_IMPORT
    diag = diagnose(world, req)
    assert diag.plans and not diag.plans[0].verified
    assert "import" in (diag.plans[0].unresolved or "")
    assert all(not f["verified"] for f in diag.to_json()["fixes"])


def test_a_deny_aimed_at_the_caller_is_not_loosened() -> None:
    world, req = by_name("kc-iam-user").build()
    user = world.accounts["111122223333"].iam.users["alice"]
    user.inline["no-kms"] = Document.parse(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "kms:*", "Resource": "*"}]},
        PolicyType.IDENTITY,
        "no-kms",
    )
    diag = diagnose(world, req)
    assert diag.findings[0].layer == "identity-policy"
    assert not diag.plans[0].verified


def test_success_needs_no_fix() -> None:
    world, req = by_name("success").build()
    diag = diagnose(world, req)
    assert diag.result.outcome.state == "running" and not diag.findings and not diag.plans


def test_cloudtrail_evidence_agrees_or_disagrees() -> None:
    world, req = by_name("kc-iam-user").build()
    # What AWS recorded when the user launched for real: replay the launch on a copy, keep its trail.
    recorded = copy.deepcopy(world)
    simulate(recorded, req)
    world.accounts["111122223333"].regions["us-east-1"].trail.events = list(
        recorded.accounts["111122223333"].regions["us-east-1"].trail.events
    )
    diag = diagnose(world, req)
    assert diag.evidence and all(e.agrees for e in diag.evidence)
    # Had AWS said the resource-based policy refused, the doctor reports the disagreement.
    for ev in world.accounts["111122223333"].regions["us-east-1"].trail.events:
        if ev.get("errorMessage"):
            ev["errorMessage"] = ev["errorMessage"].replace("no identity-based policy", "no resource-based policy")
    diag = diagnose(world, req)
    assert diag.evidence and not diag.evidence[0].agrees and "disagreement" in diag.evidence[0].note


def test_renderers() -> None:
    world, req = by_name("kc-source-ip").build()
    diag = diagnose(world, req)
    md = render_markdown(diag)
    assert "kms:Decrypt" in md and "verified" in md
    sarif = render_sarif(diag, uri="snapshot")
    assert sarif["version"] == "2.1.0"
    (run,) = sarif["runs"]
    assert len(run["results"]) == len(diag.findings) == 1
    assert run["results"][0]["ruleId"] in {r["id"] for r in run["tool"]["driver"]["rules"]}
    out = diag.to_json()
    assert out["format"] == "kmslaunch-diagnosis/1"
    assert out["fixes"][0]["kind"] == "key-policy" and out["fixes"][0]["verified"] is True
    assert out["calls"][-1]["decision"] == "explicitDeny" and out["calls"][-1]["denied_by"] == ["key-policy"]


# -- doctor --instance: the report is about that instance -------------------------------------------------------

EXAMPLES = Path(__file__).parent.parent / "examples"
INSTANCE = "i-056cc6fd323c6308f"


def test_replay_reports_the_instance_and_its_volumes() -> None:
    snap = load_snapshot(EXAMPLES / "kc-iam-user" / "snapshot")
    req = replay_instance(snap.world, "111122223333", "us-east-1", INSTANCE, None, None)
    diag = diagnose(snap.world, req, instance_id=INSTANCE)
    assert list(diag.result.instance_ids) == [INSTANCE]
    # The volume id is the one CloudTrail's records of the launch name (aws:ebs:id of EC2's grant).
    recorded = {
        v
        for ev in snap.world.accounts["111122223333"].regions["us-east-1"].trail.events
        for v in re.findall(r"vol-[0-9a-f]{17}", json.dumps(ev))
    }
    assert [v.volume_id for v in diag.result.volumes] == sorted(recorded)
    view = diag.result.view or {}
    assert [i["InstanceId"] for r in view["Reservations"] for i in r["Instances"]] == [INSTANCE]
    # The ids are the instance's only: the fix rounds and a launch after it get new ones.
    fixed = copy.deepcopy(snap.world)
    assert diag.fix is not None
    diag.fix.apply(fixed)
    first = simulate(fixed, req)
    assert list(first.instance_ids) == [INSTANCE] and first.succeeded
    params = {"ImageId": req.params["ImageId"], "MinCount": 1, "MaxCount": 1}
    other = simulate(fixed, LaunchRequest(LaunchKind.RUN_INSTANCES, req.account, req.region, params, req.caller))
    assert other.instance_ids[0] != INSTANCE
    assert not {v.volume_id for v in other.volumes} & {v.volume_id for v in first.volumes}


def test_cloudtrail_shows_only_the_launch_of_the_instance() -> None:
    snap = load_snapshot(EXAMPLES / "kc-iam-user" / "snapshot")
    events = snap.world.accounts["111122223333"].regions["us-east-1"].trail.events
    mine = next(ev for ev in events if ev.get("errorCode"))
    # Another launch, refused the same way a day later, and one refused by the key policy: not this instance's.
    other = json.loads(
        json.dumps(mine).replace(INSTANCE, "i-0123456789abcdef0").replace("vol-0", "vol-9").replace("01-15", "01-16")
    )
    other["errorMessage"] = other["errorMessage"].replace("no identity-based policy", "no resource-based policy")
    unnamed = json.loads(json.dumps(other))
    unnamed["requestParameters"] = {"keyId": mine["requestParameters"]["keyId"]}
    events.extend([other, unnamed])
    req = replay_instance(snap.world, "111122223333", "us-east-1", INSTANCE, None, None)
    diag = diagnose(snap.world, req, instance_id=INSTANCE)
    assert [e.event_time for e in diag.evidence] == [mine["eventTime"]]
    assert all(e.agrees for e in diag.evidence)


def test_a_verification_with_facts_missing_says_so(tmp_path: Path) -> None:
    # kc-iam-user with nothing saying whether the account is in an organization: the fixed launch runs, unless an
    # SCP nobody collected refuses it. The fix is verified only that far, and every format says so.
    snap = tmp_path / "snapshot"
    shutil.copytree(EXAMPLES / "kc-iam-user" / "snapshot", snap)
    meta = json.loads((snap / "snapshot.json").read_text())
    meta.pop("errors")
    (snap / "snapshot.json").write_text(json.dumps(meta))
    loaded = load_snapshot(snap)
    req = replay_instance(loaded.world, "111122223333", "us-east-1", INSTANCE, None, None)
    diag = diagnose(loaded.world, req, instance_id=INSTANCE)
    assert diag.fix is not None and diag.fix.unless
    assert diag.fix.unless[0].startswith("whether account 111122223333 is in an organization")
    assert diag.to_json()["fix_plans"][0]["unless"] == list(diag.fix.unless)
    assert "verified, unless something the snapshot does not hold refuses it: whether account" in render_markdown(diag)


def _doctor_text(*extra: str) -> list[str]:
    args = ["doctor", str(EXAMPLES / "kc-source-ip" / "snapshot"), "--instance", "i-056cc6fd323c6308f", *extra]
    return CliRunner().invoke(cli, args).output.splitlines()


def test_text_says_what_to_do_right_after_the_verdict() -> None:
    lines = _doctor_text()
    key = "arn:aws:kms:us-east-1:111122223333:key/3ff5ba93-a89b-4ec2-a7a8-23aefad6c857"
    assert lines[0] == "RunInstances: terminated"
    assert lines[2] == "What to do:"
    assert lines[3] == f"  refused: kms:Decrypt on {key}"
    assert "aws:ec2-infrastructure/i-056cc6fd323c6308f" in lines[4] and lines[4].startswith("  who:")
    assert lines[5] == "  layer:   key-policy"
    assert lines[7].startswith(f"    $ aws kms put-key-policy --key-id {key} ") and "--region us-east-1" in lines[7]
    assert lines[7].endswith("# run in account 111122223333")
    # Once shown whole, the key is key/3ff5ba93… in prose; commands and documents keep it whole.
    rest = "\n".join(lines[8:])
    assert "on key/3ff5ba93…" in rest
    assert all(key in ln for ln in lines if ln.strip().startswith("$ aws kms"))
    verbose = "\n".join(_doctor_text("--verbose"))
    assert "key/3ff5ba93…" not in verbose and f"on {key}" in verbose


def test_text_prints_the_whole_key_policy_the_command_sends() -> None:
    text = "\n".join(_doctor_text())
    assert "the whole document (key-policy-3ff5ba93-a89b-4ec2-a7a8-23aefad6c857.json)" in text
    assert '"Id": "corp-network-only"' in text and '"Sid": "Enable IAM User Permissions"' in text
