"""`kmslaunch impact SNAPSHOT --plan PLAN`: a plan's changes to what the snapshot holds are the CHANGE, read by
the pre-flight's readers; the same change as a plan or as an option moves the same paths."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from kmslaunch.cli.launchopts import open_snapshot
from kmslaunch.cli.main import cli
from kmslaunch.impact.changes import RevokeGrant
from kmslaunch.impact.fromplan import plan_changes
from kmslaunch.policy.grants import Grant
from kmslaunch.preflight.planjson import PlanBuilder
from kmslaunch.preflight.terraform import parse_terraform_plan

ROOT = Path(__file__).parent.parent
SUCCESS = str(ROOT / "examples/success/snapshot")
DEFAULT_KEY = str(ROOT / "examples/public-ami-default-key/snapshot")
DENY_FILE = ROOT / "examples/changes/key-deny-outside-network.json"


def _run(*args: str) -> Any:
    res = CliRunner().invoke(cli, list(args))
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    return res


def _key_arn(snapshot: str, alias: str) -> str:
    world = open_snapshot(Path(snapshot)).world
    keys = [k for a in world.accounts.values() for r in a.regions.values() if (k := r.kms.resolve(alias))]
    assert len(keys) == 1
    return keys[0].arn


def _existing_key(builder: PlanBuilder, arn: str, **after: Any) -> PlanBuilder:
    key_id = arn.rsplit("/", 1)[-1]
    before = {"arn": arn, "key_id": key_id, "id": key_id, "is_enabled": True}
    unknown = tuple(k for k, v in after.items() if v is None)
    new = {**before, **{k: v for k, v in after.items() if v is not None}}
    refs = {k: ["data.aws_iam_policy_document.key.json"] for k in unknown}
    return builder.add("aws_kms_key.data", new, actions=("update",), before=before, refs=refs)


def _write(tmp_path: Path, builder: PlanBuilder) -> str:
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(builder.to_json(), indent=2))
    return str(path)


def _moves(output: str) -> list[str]:
    """Each move, as JSON, but for where its change was read from (an option's file, a plan's resource)."""
    return sorted(
        json.dumps({k: v for k, v in m.items() if k != "cause"}, sort_keys=True) for m in json.loads(output)["moves"]
    )


def test_a_planned_key_policy_breaks_what_the_same_policy_as_an_option_breaks(tmp_path: Path) -> None:
    arn = _key_arn(SUCCESS, "alias/app-data")
    plan = _write(tmp_path, _existing_key(PlanBuilder(), arn, policy=DENY_FILE.read_text()))
    by_plan = _run("impact", SUCCESS, "--plan", plan, "--format", "json")
    by_option = _run("impact", SUCCESS, "--key-policy", f"alias/app-data={DENY_FILE}", "--format", "json")
    assert by_plan.exit_code == by_option.exit_code == 1, by_plan.output
    assert _moves(by_plan.output) == _moves(by_option.output)
    assert any("user/alice" in m and '"move": "breaks"' in m for m in _moves(by_plan.output))
    text = _run("impact", SUCCESS, "--plan", plan).output
    assert f"from aws_kms_key.data, {plan} line " in text
    assert "DenyOutsideCorporateNetwork" in text


def test_a_planned_default_key_is_a_default_key_change(tmp_path: Path) -> None:
    arn = _key_arn(DEFAULT_KEY, "alias/app-data")
    builder = PlanBuilder().add("aws_ebs_default_kms_key.this", {"key_arn": arn, "id": arn})
    plan = _write(tmp_path, builder)
    by_plan = _run("impact", DEFAULT_KEY, "--plan", plan, "--format", "json")
    by_option = _run("impact", DEFAULT_KEY, "--default-key", "us-east-1=alias/app-data", "--format", "json")
    assert by_plan.exit_code == by_option.exit_code, by_plan.output
    assert _moves(by_plan.output) == _moves(by_option.output) != []
    kinds = [c["kind"] for c in json.loads(by_plan.output)["changes"]]
    assert kinds == ["default-key"]


def test_a_policy_known_only_after_apply_is_an_unknown_fact_exit_3(tmp_path: Path) -> None:
    arn = _key_arn(SUCCESS, "alias/app-data")
    plan = _write(tmp_path, _existing_key(PlanBuilder(), arn, policy=None))
    res = _run("impact", SUCCESS, "--plan", plan)
    assert res.exit_code == 3, res.output
    assert "cannot be evaluated" in res.output
    assert f"aws_kms_key.data: the new key policy of {arn}" in res.output
    assert "known only after apply" in res.output
    markdown = _run("impact", SUCCESS, "--plan", plan, "--disable-key", "alias/app-data", "--format", "markdown")
    assert markdown.exit_code == 1, markdown.output  # the disabled key breaks alice's path: 1 before 3
    assert "cannot be evaluated" in markdown.output
    assert f"aws_kms_key.data: the new key policy of {arn}" in markdown.output


def test_a_disabled_key_in_the_plan_is_disable_key(tmp_path: Path) -> None:
    arn = _key_arn(SUCCESS, "alias/app-data")
    plan = _write(tmp_path, _existing_key(PlanBuilder(), arn, is_enabled=False))
    res = _run("impact", SUCCESS, "--plan", plan, "--format", "json")
    assert res.exit_code == 1, res.output
    assert [c["kind"] for c in json.loads(res.output)["changes"]] == ["disable-key"]


TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
Resources:
  NewKey:
    Type: AWS::KMS::Key
    Properties:
      KeyPolicy:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal: {AWS: !Sub "arn:aws:iam::${AWS::AccountId}:root"}
            Action: "kms:*"
            Resource: "*"
  NewAlias:
    Type: AWS::KMS::Alias
    Properties:
      AliasName: alias/brand-new
      TargetKeyId: !Ref NewKey
"""


def test_a_template_changing_nothing_existing_says_so_and_points_at_check(tmp_path: Path) -> None:
    template = tmp_path / "template.yaml"
    template.write_text(TEMPLATE)
    res = _run("impact", SUCCESS, "--plan", str(template))
    assert res.exit_code == 0, res.output
    assert "nothing in the snapshot changes" in res.output
    line = next(ln for ln in res.output.splitlines() if "kmslaunch check " in ln)
    pasted = shlex.split(line.split("kmslaunch check ", 1)[1])
    checked = _run("check", *pasted)
    assert checked.exit_code in (0, 1, 3), checked.output
    assert "Traceback" not in checked.output


def test_a_bad_plan_is_one_line_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "plan.json"
    bad.write_text('{"format_version": "1.2", "resource_changes": [')
    res = _run("impact", SUCCESS, "--plan", str(bad))
    assert res.exit_code == 2, res.output
    assert len(res.output.strip().splitlines()) == 1
    assert str(bad) in res.output


def test_plan_changes_combine_with_the_other_options(tmp_path: Path) -> None:
    arn = _key_arn(SUCCESS, "alias/app-data")
    plan = _write(tmp_path, _existing_key(PlanBuilder(), arn, policy=DENY_FILE.read_text()))
    res = _run("impact", SUCCESS, "--plan", plan, "--disable-key", "alias/app-data", "--format", "json")
    assert [c["kind"] for c in json.loads(res.output)["changes"]] == ["disable-key", "key-policy"]


DENY_KMS = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "kms:*", "Resource": "*"}]}


def test_an_inline_policy_put_on_an_existing_user_is_an_identity_policy_change(tmp_path: Path) -> None:
    after = {"name": "no-kms", "user": "alice", "policy": json.dumps(DENY_KMS)}
    plan = _write(tmp_path, PlanBuilder().add("aws_iam_user_policy.no_kms", after))
    doc = tmp_path / "no-kms.json"
    doc.write_text(json.dumps(DENY_KMS))
    by_plan = _run("impact", SUCCESS, "--plan", plan, "--format", "json")
    holder = "arn:aws:iam::111122223333:user/alice#no-kms"
    by_option = _run("impact", SUCCESS, "--identity-policy", f"{holder}={doc}", "--format", "json")
    assert by_plan.exit_code == by_option.exit_code == 1, by_plan.output
    assert _moves(by_plan.output) == _moves(by_option.output)


ADOPTING_TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
Resources:
  DataKey:
    Type: AWS::KMS::Key
    Properties:
      KeyPolicy: POLICY
  DataAlias:
    Type: AWS::KMS::Alias
    Properties:
      AliasName: alias/app-data
      TargetKeyId: !Ref DataKey
"""


def test_a_template_key_under_an_alias_the_snapshot_holds_is_that_key(tmp_path: Path) -> None:
    template = tmp_path / "template.yaml"
    template.write_text(ADOPTING_TEMPLATE.replace("POLICY", json.dumps(json.loads(DENY_FILE.read_text()))))
    by_plan = _run("impact", SUCCESS, "--plan", str(template), "--format", "json")
    by_option = _run("impact", SUCCESS, "--key-policy", f"alias/app-data={DENY_FILE}", "--format", "json")
    assert by_plan.exit_code == 1, by_plan.output
    assert _moves(by_plan.output) == _moves(by_option.output)


def test_a_deleted_grant_is_revoke_grant_pointing_at_the_plan_line() -> None:
    world = open_snapshot(Path(SUCCESS)).world
    arn = _key_arn(SUCCESS, "alias/app-data")
    key = world.key_by_arn(arn)
    assert key is not None
    alice = "arn:aws:iam::111122223333:user/alice"
    key.grants.append(Grant("g-1234", alice, frozenset({"Decrypt"}), key_arn=arn))
    before = {"key_id": arn, "grantee_principal": alice, "operations": ["Decrypt"], "grant_id": "g-1234"}
    data = PlanBuilder().add("aws_kms_grant.alice", None, actions=("delete",), before=before).to_json()
    text = json.dumps(data, indent=2)
    got = plan_changes(world, [parse_terraform_plan(data, "plan.json", text)])
    assert got.unevaluated == ()
    (change,) = got.changes
    assert isinstance(change, RevokeGrant)
    assert (change.key_arn, change.grant_id) == (arn, "g-1234")
    line = next(i for i, ln in enumerate(text.splitlines(), 1) if '"address": "aws_kms_grant.alice"' in ln)
    assert change.origin.line == line
    assert change.origin.flag == f"from aws_kms_grant.alice, plan.json line {line}"


def test_an_organizations_policy_in_a_plan_is_not_modelled_and_unknown(tmp_path: Path) -> None:
    after = {"name": "deny-kms", "type": "SERVICE_CONTROL_POLICY", "content": json.dumps(DENY_KMS)}
    plan = _write(tmp_path, PlanBuilder().add("aws_organizations_policy.deny", after))
    res = _run("impact", SUCCESS, "--plan", plan)
    assert res.exit_code == 3, res.output
    assert "aws_organizations_policy.deny: aws_organizations_policy is not modelled" in res.output
    assert "not modelled (their changes are not simulated):" in res.output
