"""kmslaunch check: the Terraform reader's table of resource types, resolution, bad input, unknowns, modules,
exit codes, --soft-fail, every format and SARIF locations; and the bundled pre-flight examples."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from kmslaunch.cli.main import cli
from kmslaunch.policy.errors import InputError
from kmslaunch.preflight.check import check_plan
from kmslaunch.preflight.model import Plan, PlannedResource, Pseudo, Ref, Source, Unknown
from kmslaunch.preflight.planjson import PlanBuilder
from kmslaunch.preflight.resolve import resolve_plan
from kmslaunch.preflight.scenarios import ACCOUNT, PREFLIGHT_SCENARIOS, REGION, account_world, key_policy, kops_asg
from kmslaunch.preflight.terraform import parse_terraform_plan, symbolic_values
from kmslaunch.snapshot.save import save_snapshot
from kmslaunch.world.builder import add_auto_scaling_group, add_key, add_launch_template

ROOT = Path(__file__).parent.parent
CASES = yaml.safe_load((ROOT / "tests/cases/preflight/terraform.yaml").read_text())


def _symbolic(value: Any) -> Any:
    """A reader's value in the case file's notation."""
    if isinstance(value, Ref):
        return {"ref": [value.address, value.attribute]}
    if isinstance(value, Pseudo):
        return {"pseudo": value.name}
    if isinstance(value, Unknown):
        return {"unknown": True}
    if isinstance(value, dict):
        return {k: _symbolic(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_symbolic(v) for v in value]
    return value


def _plan(b: PlanBuilder) -> Any:
    data = b.to_json()
    text = json.dumps(data, indent=2)
    return parse_terraform_plan(json.loads(text), "plan.json", text)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["name"])
def test_terraform_resource_types(case: dict[str, Any]) -> None:
    b = PlanBuilder()
    for module, outputs in (case.get("outputs") or {}).items():
        for name, refs in outputs.items():
            b.output(module, name, refs)
    b.add(case["address"], case["after"], refs=case.get("refs"))
    plan = _plan(b)
    (res,) = plan.resources
    assert res.kind == case["kind"]
    assert _symbolic(dict(res.values)) == case["values"]
    assert res.source.line is not None and res.source.address == case["address"]
    if case.get("resolved"):
        resolved = resolve_plan(plan)
        ident = resolved.identities[case["address"]]
        for k, v in case["resolved"].items():
            assert ident[k] == v


def _write(tmp: Path, data: Any) -> Path:
    path = tmp / "plan.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data, indent=2))
    return path


@pytest.mark.parametrize(
    ("data", "expect"),
    [
        ("{not json", "not valid JSON"),
        ({"format_version": "2.0", "resource_changes": []}, "format_version: expected a 1.x version"),
        (
            {"format_version": "1.2", "resource_changes": [{"address": "aws_kms_key.k", "type": "aws_kms_key"}]},
            "resource_changes[0].change: expected an object",
        ),
        (
            {
                "format_version": "1.2",
                "resource_changes": [
                    {"address": "aws_kms_key.k", "type": "aws_kms_key", "change": {"actions": ["explode"], "after": {}}}
                ],
            },
            "resource_changes[0].change.actions: expected Terraform actions",
        ),
        (
            {
                "format_version": "1.2",
                "resource_changes": [
                    {
                        "address": "aws_kms_key.k",
                        "type": "aws_kms_key",
                        "change": {"actions": ["create"], "after": {"policy": "{oops"}},
                    }
                ],
            },
            "resource_changes[0].change.after.policy: expected a JSON policy document",
        ),
    ],
)
def test_bad_plan_exits_2_naming_file_and_element(tmp_path: Path, data: Any, expect: str) -> None:
    path = _write(tmp_path, data)
    res = CliRunner().invoke(cli, ["check", str(path)])
    assert res.exit_code == 2
    assert str(path) in res.output and expect in res.output
    assert "Traceback" not in res.output


def test_reader_error_is_an_input_error() -> None:
    with pytest.raises(InputError, match="format_version"):
        parse_terraform_plan({"format_version": 3, "planned_values": {}}, "p.json")


def test_ref_to_a_planned_role_resolves_to_its_arn() -> None:
    b = PlanBuilder()
    b.add("aws_iam_role.node", {"name": "node", "path": "/"})
    b.add(
        "aws_kms_grant.g",
        {"operations": ["Decrypt"]},
        refs={"grantee_principal": ["aws_iam_role.node.arn"], "key_id": ["aws_kms_key.k.key_id"]},
    )
    b.add("aws_kms_key.k", {"policy": ""})
    resolved = resolve_plan(_plan(b))
    key = (
        resolved.world.accounts["111122223333"]
        .regions["us-east-1"]
        .kms.keys[resolved.identities["aws_kms_key.k"]["key_id"]]
    )
    assert [g.grantee for g in key.grants] == ["arn:aws:iam::111122223333:role/node"]
    assert not resolved.unknowns


def test_unknown_key_policy_is_never_runs() -> None:
    b = PlanBuilder()
    b.add("aws_kms_key.k", {"is_enabled": True}, refs={"policy": ["data.aws_iam_policy_document.k.json"]})
    b.add(
        "aws_launch_template.lt",
        {
            "name": "lt",
            "image_id": "ami-0123456789abcdef0",
            "block_device_mappings": [{"device_name": "/dev/xvda", "ebs": [{"encrypted": "true"}]}],
        },
        refs={"block_device_mappings[0].ebs[0].kms_key_id": ["aws_kms_key.k.arn"]},
    )
    b.add(
        "aws_autoscaling_group.g",
        {"name": "g", "launch_template": [{"version": "$Latest"}]},
        refs={"launch_template[0].id": ["aws_launch_template.lt.id"]},
    )
    report = check_plan(_plan(b))
    (path,) = report.paths
    assert path.verdict in ("runs-unless", "fails-unless")
    assert any("key policy" in u for u in path.unless)
    assert report.exit_code in (1, 3)


def test_unresolved_reference_becomes_a_fact() -> None:
    b = PlanBuilder()
    b.add(
        "aws_kms_grant.g",
        {"operations": ["Decrypt"], "grantee_principal": "arn:aws:iam::111122223333:role/x"},
        refs={"key_id": ["aws_kms_key.elsewhere.key_id"]},
    )
    resolved = resolve_plan(_plan(b))
    assert any("aws_kms_key.elsewhere.key_id" in f.fact for f in resolved.unknowns["aws_kms_grant.g"])


def test_no_account_in_plan_is_a_general_unknown() -> None:
    b = PlanBuilder(account=None)
    b.add("aws_kms_key.k", {"policy": ""})
    resolved = resolve_plan(_plan(b))
    assert resolved.account == "000000000000"
    assert any("account the plan is applied in" in f.fact for f in resolved.general)


def test_module_resources_and_variables_resolve() -> None:
    scenario = next(s for s in PREFLIGHT_SCENARIOS if s.name == "preflight-eks-nodegroup-cmk")
    data = scenario.build()
    plan = parse_terraform_plan(data, "plan.json", json.dumps(data, indent=2))
    lt = next(r for r in plan.resources if r.kind == "launch_template")
    kms = lt.values["LaunchTemplateData"]["BlockDeviceMappings"][0]["Ebs"]["KmsKeyId"]  # type: ignore[index]
    assert kms == Ref("module.eks.aws_kms_key.ebs", "arn")
    report = check_plan(plan)
    (path,) = report.paths
    assert path.key_address == "module.eks.aws_kms_key.ebs" and path.fails


def test_delete_removes_and_update_takes_after() -> None:
    b = PlanBuilder()
    before = {"name": "g", "launch_configuration": "lc"}
    b.add("aws_autoscaling_group.old", None, actions=("delete",), before=before)
    b.add("aws_ebs_encryption_by_default.e", {"enabled": True}, actions=("update",), before={"enabled": False})
    resolved = resolve_plan(_plan(b))
    region = resolved.world.accounts["111122223333"].regions["us-east-1"]
    assert "g" not in region.autoscaling.groups
    assert region.ec2.defaults.encryption_by_default is True
    assert resolved.launches == []


def test_instance_needs_the_caller(tmp_path: Path) -> None:
    b = PlanBuilder()
    b.add(
        "aws_instance.web",
        {"ami": "ami-0123456789abcdef0", "instance_type": "t3.micro", "root_block_device": [{"encrypted": True}]},
    )
    path = _write(tmp_path, b.to_json())
    res = CliRunner().invoke(cli, ["check", str(path), "--format", "json"])
    assert res.exit_code == 3
    (p,) = json.loads(res.output)["paths"]
    assert p["verdict"] == "not-simulated" and "--as" in p["note"]
    res = CliRunner().invoke(cli, ["check", str(path), "--format", "json", "--as", "arn:aws:iam::111122223333:user/ci"])
    (p,) = json.loads(res.output)["paths"]
    assert p["verdict"] != "not-simulated" and p["principal"] == "arn:aws:iam::111122223333:user/ci"


def _example(name: str) -> list[str]:
    text = (ROOT / "examples" / name / "README.md").read_text()
    line = next(line for line in text.splitlines() if line.startswith(".venv/bin/kmslaunch check "))
    return [a.replace("examples/", str(ROOT / "examples") + "/", 1) for a in shlex.split(line)[1:]]


@pytest.mark.parametrize("scenario", PREFLIGHT_SCENARIOS, ids=lambda s: s.name)
def test_examples_run_as_their_readme_says(scenario: Any) -> None:
    args = _example(scenario.name)
    res = CliRunner().invoke(cli, [*args, "--format", "json"])
    out = json.loads(res.output)
    verdicts = {p["verdict"] for p in out["paths"]}
    assert out["paths"]
    if scenario.expect == "fails":
        assert res.exit_code == 1 and "fails" in verdicts
        failing = [p for p in out["paths"] if p["verdict"] == "fails"]
        assert all(p["fix"] and p["fix"]["verified"] and p["key_address"] for p in failing)
    else:
        assert res.exit_code == 0 and verdicts == {"runs"}
    soft = CliRunner().invoke(cli, [*args, "--soft-fail"])
    assert soft.exit_code == 0 and "kmslaunch check" in soft.output


@pytest.mark.parametrize("fmt", ["text", "markdown", "html", "sarif", "json"])
def test_formats_name_the_addresses(fmt: str) -> None:
    res = CliRunner().invoke(cli, [*_example("preflight-kops-asg-slr"), "--format", fmt])
    assert res.exit_code == 1
    assert "aws_autoscaling_group.nodes" in res.output and "aws_kms_key.ebs" in res.output


def test_sarif_points_at_the_key_line_in_the_plan() -> None:
    res = CliRunner().invoke(cli, [*_example("preflight-kops-asg-slr"), "--format", "sarif"])
    (result,) = json.loads(res.output)["runs"][0]["results"]
    loc = result["locations"][0]
    assert loc["physicalLocation"]["artifactLocation"]["uri"].endswith("preflight-kops-asg-slr/plan.json")
    line = loc["physicalLocation"]["region"]["startLine"]
    plan_lines = (ROOT / "examples/preflight-kops-asg-slr/plan.json").read_text().splitlines()
    assert '"address": "aws_kms_key.ebs"' in plan_lines[line - 1]
    assert [ll["fullyQualifiedName"] for ll in loc["logicalLocations"]] == [
        "aws_autoscaling_group.nodes",
        "aws_kms_key.ebs",
    ]


def test_without_snapshot_a_passing_plan_is_runs_unless(tmp_path: Path) -> None:
    path = _write(tmp_path, kops_asg(True))
    res = CliRunner().invoke(cli, ["check", str(path)])
    assert res.exit_code == 3 and "runs-unless" in res.output
    assert CliRunner().invoke(cli, ["check", str(path), "--soft-fail"]).exit_code == 0


def _account_with_group(tmp: Path, slr_in_policy: bool) -> tuple[Path, str]:
    """A snapshot: a key (whose policy names Auto Scaling's role or not), a template encrypting with it, a group."""
    world = account_world()
    key = add_key(
        world,
        ACCOUNT,
        REGION,
        policy=json.loads(key_policy(slr_in_policy)),
        key_id="1234abcd-12ab-34cd-56ef-1234567890ab",
    )
    data = {
        "ImageId": "ami-0a1b2c3d4e5f60718",
        "BlockDeviceMappings": [{"DeviceName": "/dev/xvda", "Ebs": {"Encrypted": True, "KmsKeyId": key.arn}}],
    }
    lt = add_launch_template(world, ACCOUNT, REGION, "existing", data)
    add_auto_scaling_group(world, ACCOUNT, REGION, "existing-group", launch_template=lt)
    save_snapshot(world, tmp / "snapshot")
    return tmp / "snapshot", key.key_id


def test_a_plan_changing_an_existing_key_policy_checks_the_snapshot_groups_using_it(tmp_path: Path) -> None:
    snapshot, key_id = _account_with_group(tmp_path, slr_in_policy=True)
    b = PlanBuilder()
    b.add(
        "aws_kms_key_policy.tighten",
        {"key_id": key_id, "policy": key_policy(False)},
        actions=("update",),
        before={"key_id": key_id},
    )
    path = _write(tmp_path, b.to_json())
    res = CliRunner().invoke(cli, ["check", str(path), "--snapshot", str(snapshot), "--format", "json"])
    assert res.exit_code == 1, res.output
    (p,) = json.loads(res.output)["paths"]
    assert p["from_snapshot"] and p["address"].startswith("existing-group") and p["verdict"] == "fails"
    assert p["key_address"] == "aws_kms_key_policy.tighten"
    # A policy update that keeps Auto Scaling's role: the group is still listed (its key changes), and runs.
    b = PlanBuilder()
    b.add(
        "aws_kms_key_policy.same",
        {"key_id": key_id, "policy": key_policy(True)},
        actions=("update",),
        before={"key_id": key_id},
    )
    res = CliRunner().invoke(
        cli, ["check", str(_write(tmp_path, b.to_json())), "--snapshot", str(snapshot), "--format", "json"]
    )
    assert res.exit_code == 0 and [p["verdict"] for p in json.loads(res.output)["paths"]] == ["runs"]


def test_deleting_a_key_a_group_uses_fails_its_launch(tmp_path: Path) -> None:
    snapshot, key_id = _account_with_group(tmp_path, slr_in_policy=True)
    arn = f"arn:aws:kms:us-east-1:111122223333:key/{key_id}"
    b = PlanBuilder()
    b.add("aws_kms_key.old", None, actions=("delete",), before={"key_id": key_id, "arn": arn, "policy": ""})
    res = CliRunner().invoke(
        cli, ["check", str(_write(tmp_path, b.to_json())), "--snapshot", str(snapshot), "--format", "json"]
    )
    (p,) = json.loads(res.output)["paths"]
    assert res.exit_code == 1 and p["verdict"] == "fails" and p["cause"] == "key-state"


def test_each_module_instance_refers_to_its_own_resources() -> None:
    b = PlanBuilder()
    for name in ("a", "b"):
        b.add(
            f'module.pool["{name}"].aws_launch_template.this',
            {"name": f"lt-{name}", "image_id": "ami-0123456789abcdef0"},
        )
        b.add(
            f'module.pool["{name}"].aws_autoscaling_group.this',
            {"name": f"g-{name}", "launch_template": [{"version": "1"}]},
            refs={"launch_template[0].id": ["aws_launch_template.this.id", "aws_launch_template.this"]},
        )
    plan = _plan(b)
    groups_: Any = {r.address: r.values for r in plan.resources if r.kind == "autoscaling_group"}
    refs = {a: v["LaunchTemplate"]["LaunchTemplateId"] for a, v in groups_.items()}
    assert refs == {
        'module.pool["a"].aws_autoscaling_group.this': Ref('module.pool["a"].aws_launch_template.this', "id"),
        'module.pool["b"].aws_autoscaling_group.this': Ref('module.pool["b"].aws_launch_template.this', "id"),
    }
    resolved = resolve_plan(plan)
    groups = resolved.world.accounts["111122223333"].regions["us-east-1"].autoscaling.groups
    ids = {n: resolved.identities[f'module.pool["{n[-1]}"].aws_launch_template.this']["id"] for n in groups}
    assert {n: g.launch_template["LaunchTemplateId"] for n, g in groups.items() if g.launch_template} == ids


def test_a_reference_to_one_of_several_instances_without_its_key_is_unknown() -> None:
    b = PlanBuilder()
    b.add("aws_kms_key.k[0]", {"policy": ""})
    b.add("aws_kms_key.k[1]", {"policy": ""})
    b.add("aws_ebs_default_kms_key.d", {}, refs={"key_arn": ["aws_kms_key.k"]})
    resolved = resolve_plan(_plan(b))
    assert resolved.unknowns.get("aws_ebs_default_kms_key.d")


def test_a_plan_real_terraform_printed() -> None:
    # tests/cases/preflight/real/: main.tf and the plan Terraform 1.11.4 printed for it (terraform plan -out,
    # terraform show -json), with the built-in provider only (no registry was reachable): a module, count,
    # a sensitive variable, values known only after apply through a module output and a module variable.
    data = json.loads((ROOT / "tests/cases/preflight/real/plan.json").read_text())
    values = symbolic_values(data)
    assert values["module.inner.terraform_data.template"]["input"]["kms_key_id"] == Ref("terraform_data.key", "id")
    assert values["module.inner.terraform_data.template"]["input"]["user_data"] == "s3cr3t"
    assert values["terraform_data.asg[1]"]["input"] == {
        "n": 1,
        "template": Ref("module.inner.terraform_data.template", "id"),
    }
    plan = parse_terraform_plan(data, "plan.json", json.dumps(data, separators=(",", ":")))
    assert plan.resources == () and plan.unmodelled == ()  # no AWS resource in it


def test_a_one_line_plan_gives_columns(tmp_path: Path) -> None:
    data = kops_asg(False)
    text = json.dumps(data, separators=(",", ":"))  # as terraform show -json prints it
    plan = parse_terraform_plan(data, "plan.json", text)
    key = next(r for r in plan.resources if r.address == "aws_kms_key.ebs")
    assert key.source.line == 1 and key.source.column is not None
    assert text[key.source.column - 1 :].startswith('"aws_kms_key.ebs"')


def test_a_reference_inside_a_policy_document_resolves() -> None:
    # What the CloudFormation reader gives (Fn::GetAtt in a KeyPolicy): a Ref inside the document.

    role = PlannedResource("NodeRole", "iam_role", {"RoleName": "node"}, Source("t.yaml", "NodeRole"))
    statement = {"Effect": "Allow", "Principal": {"AWS": Ref("NodeRole", "arn")}, "Action": "kms:*", "Resource": "*"}
    key = PlannedResource(
        "Key", "kms_key", {"KeyPolicy": {"Version": "2012-10-17", "Statement": [statement]}}, Source("t.yaml", "Key")
    )
    plan = Plan("t.yaml", "cloudformation", (role, key), region="eu-west-1", account="444455556666")
    resolved = resolve_plan(plan)
    (k,) = resolved.world.accounts["444455556666"].regions["eu-west-1"].kms.keys.values()
    assert k.policy.raw["Statement"][0]["Principal"]["AWS"] == "arn:aws:iam::444455556666:role/node"
    assert not resolved.unknowns


def test_attributes_that_could_matter_and_are_not_modelled_are_reported() -> None:
    b = PlanBuilder()
    b.add("aws_kms_key.k", {"policy": "", "custom_key_store_id": "cks-1", "xks_key_id": "x", "tags": {"a": "b"}})
    (res,) = _plan(b).resources
    assert res.ignored == ("custom_key_store_id", "xks_key_id")


def test_a_policy_the_engine_cannot_read_exits_2_naming_the_resource(tmp_path: Path) -> None:
    b = PlanBuilder()
    b.add("aws_kms_key.k", {"policy": json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Perhaps"}]})})
    res = CliRunner().invoke(cli, ["check", str(_write(tmp_path, b.to_json()))])
    assert res.exit_code == 2 and "aws_kms_key.k" in res.output and "Effect" in res.output
    assert "Traceback" not in res.output


def test_a_missing_snapshot_exits_2(tmp_path: Path) -> None:
    path = _write(tmp_path, kops_asg(True))
    res = CliRunner().invoke(cli, ["check", str(path), "--snapshot", str(tmp_path / "nope")])
    assert res.exit_code == 2 and "nope" in res.output


def test_a_block_known_only_after_apply_is_reported_and_never_runs(tmp_path: Path) -> None:
    b = PlanBuilder()
    b.add("aws_autoscaling_group.g", {"name": "g"}, refs={"launch_template": ["local.templates"]})
    plan = _plan(b)
    (res,) = plan.resources
    assert res.ignored == ("launch_template (known only after apply)",)
    res_cli = CliRunner().invoke(cli, ["check", str(_write(tmp_path, b.to_json())), "--format", "json"])
    assert res_cli.exit_code == 3
    (p,) = json.loads(res_cli.output)["paths"]
    assert p["verdict"] == "not-simulated"


def test_a_template_nothing_launches_is_checked_with_as(tmp_path: Path) -> None:
    b = PlanBuilder()
    b.add("aws_kms_key.k", {"policy": key_policy(False)})
    b.add(
        "aws_launch_template.lt",
        {
            "name": "lt",
            "image_id": "ami-0a1b2c3d4e5f60718",
            "block_device_mappings": [{"device_name": "/dev/xvda", "ebs": [{"encrypted": "true"}]}],
        },
        refs={"block_device_mappings[0].ebs[0].kms_key_id": ["aws_kms_key.k.arn"]},
    )
    path = _write(tmp_path, b.to_json())
    (p,) = json.loads(CliRunner().invoke(cli, ["check", str(path), "--format", "json"]).output)["paths"]
    assert p["verdict"] == "not-simulated" and "nothing in the plan launches" in p["note"]
    res = CliRunner().invoke(cli, ["check", str(path), "--format", "json", "--as", "arn:aws:iam::111122223333:user/ci"])
    (p,) = json.loads(res.output)["paths"]
    assert p["what"] == "launch-template" and p["principal"] == "arn:aws:iam::111122223333:user/ci"
    assert p["verdict"] in ("runs-unless", "fails-unless", "fails")
