"""The doctor's fix as infrastructure code (doctor/iac.py): the same documents the verified plan applies, as
Terraform resources and a CloudFormation template, with a service-linked role made before a key policy names it."""

from __future__ import annotations

import json
import re
from pathlib import Path

from click.testing import CliRunner

from kmslaunch.cli.main import cli
from kmslaunch.doctor.iac import policy_argument

EXAMPLES = Path(__file__).parent.parent / "examples"


def _doctor(example: str, *launch: str, fmt: str) -> tuple[int, str, dict[str, object]]:
    args = ["doctor", str(EXAMPLES / example / "snapshot"), *launch]
    res = CliRunner().invoke(cli, [*args, "--fix-format", fmt])
    plan = json.loads(CliRunner().invoke(cli, [*args, "--format", "json"]).output)["fix_plans"][0]
    return res.exit_code, res.output, plan


def _jsonencoded(text: str, resource: str) -> object:
    """The jsonencode(...) argument of ``resource``'s policy, read back as JSON ($${ unescaped)."""
    block = text[text.index(f'resource "{resource}"') :]
    start = block.index("jsonencode(") + len("jsonencode(")
    depth = 0
    for i, ch in enumerate(block[start:], start):
        depth += ch in "{["
        depth -= ch in "}]"
        if depth == 0:
            return json.loads(block[start : i + 1].replace("$${", "${").replace("%%{", "%{"))
    raise AssertionError(f"no jsonencode argument in {resource}")


def test_terraform_makes_the_service_linked_role_before_the_key_policy_names_it() -> None:
    code, tf, plan = _doctor("asg-slr-missing", "--asg", "web-asg", fmt="terraform")
    assert code == 1, tf
    slr = tf.index('resource "aws_iam_service_linked_role" "slr_autoscaling_amazonaws_com"')
    key = tf.index('resource "aws_kms_key_policy"')
    assert slr < key and "depends_on = [aws_iam_service_linked_role.slr_autoscaling_amazonaws_com]" in tf[key:]
    [fix] = [f for f in plan["fixes"] if f["kind"] == "key-policy"]  # type: ignore[attr-defined]
    assert _jsonencoded(tf, "aws_kms_key_policy") == fix["document"]
    assert f'key_id = "{fix["target"]}"' in tf


def test_terraform_identity_policy_is_the_whole_inline_policy() -> None:
    code, tf, plan = _doctor("kc-iam-user", "--instance", "i-056cc6fd323c6308f", fmt="terraform")
    assert code == 1
    [fix] = plan["fixes"]  # type: ignore[misc]
    assert re.search(r'resource "aws_iam_user_policy" "alice_kmslaunch_ebs_\w+"', tf)
    assert 'user   = "alice"' in tf
    assert _jsonencoded(tf, "aws_iam_user_policy") == fix["document"]


def test_terraform_grant_and_policy_variables() -> None:
    _, tf, _ = _doctor("cross-account-ami", "--asg", "golden-asg", fmt="terraform")
    assert 'resource "aws_kms_grant"' in tf and 'operations        = ["ReEncryptFrom"]' in tf
    doc = {"Statement": [{"Resource": "arn:aws:s3:::b/${aws:username}/*"}]}
    text = policy_argument(doc)
    assert "$${aws:username}" in text and json.loads(text[len("jsonencode(") : -1].replace("$${", "${")) == doc


def test_cloudformation_template() -> None:
    code, out, plan = _doctor("kc-iam-user", "--instance", "i-056cc6fd323c6308f", fmt="cloudformation")
    assert code == 1
    template = json.loads(out)
    [resource] = template["Resources"].values()
    assert resource["Type"] == "AWS::IAM::UserPolicy" and resource["Properties"]["UserName"] == "alice"
    assert resource["Properties"]["PolicyDocument"] == plan["fixes"][0]["document"]  # type: ignore[index]
    # A key's policy lives on the AWS::KMS::Key that defines it, a grant has no resource: both said in Metadata,
    # with the service-linked role as a resource the key's policy depends on.
    slr = json.loads(_doctor("asg-slr-missing", "--asg", "web-asg", fmt="cloudformation")[1])
    assert slr["Resources"]["SlrAutoscalingAmazonawsCom"]["Type"] == "AWS::IAM::ServiceLinkedRole"
    [note] = slr["Metadata"]["kmslaunch"]["not-expressible-as-resources"]
    assert "DependsOn: SlrAutoscalingAmazonawsCom" in note["fix"] and json.loads(note["KeyPolicy"])["Statement"]
    grant = json.loads(_doctor("cross-account-ami", "--asg", "golden-asg", fmt="cloudformation")[1])
    [note] = grant["Metadata"]["kmslaunch"]["not-expressible-as-resources"]
    assert note["run"].startswith("aws kms create-grant ")
    assert list(grant["Resources"]) == ["KmslaunchNothingToCreate"]
