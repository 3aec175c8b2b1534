"""The CloudFormation reader: the case table (tests/cases/preflight/cloudformation.yaml), the real CDK output in
tests/fixtures/cdk, a hand-written YAML template in short form, and what a missing cfn-lint says."""

from __future__ import annotations

import builtins
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from kmslaunch.policy.errors import InputError, KmslaunchError
from kmslaunch.preflight.cfn_types import ATTRIBUTES, TYPES
from kmslaunch.preflight.cloudformation import _read, read_cdk_out, read_cloudformation, read_template
from kmslaunch.preflight.model import Concat, Plan, PlannedResource, Pseudo, Ref, Unknown

HERE = Path(__file__).parent
CASES = yaml.safe_load((HERE / "cases" / "preflight" / "cloudformation.yaml").read_text())["cases"]
CDK_OUT = HERE / "fixtures" / "cdk" / "cdk.out"
EXAMPLES = HERE.parent / "examples"


def symbolic(expected: Any) -> Any:
    """The case file's spelling of symbolic values, as model values ({unknown: text} stays a matcher)."""
    if isinstance(expected, dict):
        if set(expected) == {"ref"}:
            return Ref(*expected["ref"])
        if set(expected) == {"pseudo"}:
            return Pseudo(expected["pseudo"])
        if set(expected) == {"concat"}:
            return Concat(tuple(symbolic(p) for p in expected["concat"]))
        if set(expected) == {"unknown"}:
            return _UnknownContaining(expected["unknown"])
        return {k: symbolic(v) for k, v in expected.items()}
    if isinstance(expected, list):
        return [symbolic(v) for v in expected]
    return expected


class _UnknownContaining:
    def __init__(self, text: str) -> None:
        self.text = text

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Unknown) and self.text in other.why

    def __repr__(self) -> str:
        return f"Unknown(why containing {self.text!r})"

    __hash__ = None  # type: ignore[assignment]


def write(tmp_path: Path, case: dict[str, Any]) -> Path:
    path = tmp_path / case.get("file", "template.yaml")
    path.write_text(case["template"])
    return path


def by_address(plan: Plan) -> dict[str, PlannedResource]:
    return {r.address: r for r in plan.resources}


@pytest.mark.parametrize("case", [c for c in CASES if "expect" in c], ids=lambda c: c["name"])
def test_case_reads(case: dict[str, Any], tmp_path: Path) -> None:
    path = write(tmp_path, case)
    plan = read_template(path, case.get("parameters"), ssm=case.get("ssm"))
    assert plan.format == "cloudformation"
    assert plan.file == str(path)
    got = by_address(plan)
    assert sorted(got) == sorted(case["expect"])
    for logical, expected in case["expect"].items():
        resource = got[logical]
        assert resource.kind == expected["kind"], logical
        assert symbolic(expected["values"]) == resource.values, logical
        assert list(resource.ignored) == expected.get("ignored", []), logical
        assert resource.source.address == expected.get("address", logical)
        assert resource.source.file == str(path)
    assert [list(u) for u in plan.unmodelled] == case.get("unmodelled", [])


@pytest.mark.parametrize("case", [c for c in CASES if "error" in c], ids=lambda c: c["name"])
def test_case_errors(case: dict[str, Any], tmp_path: Path) -> None:
    path = write(tmp_path, case)
    with pytest.raises(InputError) as raised:
        read_template(path, case.get("parameters"))
    err = raised.value
    assert err.source == str(path)
    assert err.path == case["error"]["path"]
    assert case["error"]["message"] in err.message
    assert str(err).startswith(f"{path}: {err.path}: ")


def test_every_modelled_type_has_a_case_and_its_attributes() -> None:
    assert set(ATTRIBUTES) == set(TYPES)
    written = "\n".join(c["template"] for c in CASES if "expect" in c)
    assert [t for t in TYPES if f"Type: {t}" not in written and f"Type: {t}}}" not in written] == []


def test_resource_lines_are_one_based(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text("Resources:\n  A: {Type: AWS::KMS::Key}\n\n  B:\n    Type: AWS::KMS::Key\n")
    assert [r.source.line for r in read_template(path).resources] == [2, 4]


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        read_template(tmp_path / "absent.yaml")
    with pytest.raises(InputError, match="is a directory"):
        read_template(tmp_path)


def test_read_cloudformation_takes_a_template_or_a_cdk_out() -> None:
    assert len(read_cloudformation(CDK_OUT)) == 2
    (plan,) = read_cloudformation(CDK_OUT / "AsgCmkStack.template.json")
    assert plan.file.endswith("AsgCmkStack.template.json")


def test_without_cfn_lint_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "t.yaml"
    path.write_text("Resources: {}\n")
    real_import = builtins.__import__

    def no_cfnlint(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("cfnlint"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_cfnlint)
    with pytest.raises(KmslaunchError) as raised:
        read_template(path)
    assert "pip install 'kmslaunch[check]'" in str(raised.value)
    assert str(path) in str(raised.value)


# -- the real CDK output ---------------------------------------------------------------------------------------


def test_cdk_out_one_plan_per_stack_with_its_environment() -> None:
    plans = read_cdk_out(CDK_OUT)
    assert [Path(p.file).name for p in plans] == ["AsgDefaultKeyStack.template.json", "AsgCmkStack.template.json"]
    assert {(p.account, p.region) for p in plans} == {("111122223333", "us-east-1")}
    # The VPC's resources are there but not modelled; the bootstrap-version Rules section is not a resource.
    assert ("AWS::EC2::VPC", "AsgDefaultKeyStack/Vpc (Vpc8378EB38)") in plans[0].unmodelled


def test_cdk_asg_on_the_default_key() -> None:
    plan = read_cdk_out(CDK_OUT)[0]
    got = by_address(plan)
    assert {r.kind for r in plan.resources} == {
        "iam_role",
        "iam_instance_profile",
        "launch_template",
        "autoscaling_group",
    }
    template = got["AsgLaunchTemplate6027899F"]
    assert template.source.address == "AsgDefaultKeyStack/Asg/LaunchTemplate (AsgLaunchTemplate6027899F)"
    data = template.values["LaunchTemplateData"]
    assert isinstance(data, dict)
    # encrypted: true and no key: the volume takes the account's default EBS key.
    assert data["BlockDeviceMappings"] == [{"DeviceName": "/dev/xvda", "Ebs": {"Encrypted": True, "VolumeSize": 8}}]
    assert data["IamInstanceProfile"] == {"Arn": Ref("AsgInstanceProfileBCEDB827", "Arn")}
    assert isinstance(data["ImageId"], Unknown)
    assert "SSM parameter /aws/service/ami-amazon-linux-latest/al2023-ami-kernel-6.1-x86_64" in data["ImageId"].why
    group = got["AsgASGD1D7B4E2"]
    assert group.values["LaunchTemplate"] == {
        "LaunchTemplateId": Ref("AsgLaunchTemplate6027899F", "Ref"),
        "Version": Ref("AsgLaunchTemplate6027899F", "LatestVersionNumber"),
    }
    assert (group.values["MinSize"], group.values["MaxSize"]) == (1, 2)
    name = group.values["AutoScalingGroupName"]
    assert isinstance(name, Unknown) and "AsgDefaultKeyStack-AsgASGD1D7B4E2-{random}" in name.why
    # The line is where the logical id is written in the JSON.
    lines = Path(plan.file).read_text().splitlines()
    assert '"AsgASGD1D7B4E2"' in lines[(group.source.line or 0) - 1]


def test_cdk_key_policy_without_the_service_linked_role() -> None:
    got = by_address(read_cdk_out(CDK_OUT)[1])
    key = got["VolumeKeyB3FBD601"]
    assert key.source.address == "AsgCmkStack/VolumeKey (VolumeKeyB3FBD601)"
    policy = key.values["KeyPolicy"]
    assert isinstance(policy, dict)
    principals = [s["Principal"] for s in policy["Statement"]]
    assert principals == [{"AWS": Concat(("arn:", Pseudo("AWS::Partition"), ":iam::111122223333:root"))}]
    assert key.values["EnableKeyRotation"] is True
    data = got["WebLaunchTemplate387D86DD"].values["LaunchTemplateData"]
    assert isinstance(data, dict)
    assert data["BlockDeviceMappings"][0]["Ebs"]["KmsKeyId"] == Ref("VolumeKeyB3FBD601", "Arn")
    assert got["VolumeKeyAlias99E9A432"].values == {
        "AliasName": "alias/web-volumes",
        "TargetKeyId": Ref("VolumeKeyB3FBD601", "Arn"),
    }


def test_a_template_in_cdk_out_takes_its_environment_from_the_manifest() -> None:
    plan = read_template(CDK_OUT / "AsgCmkStack.template.json")
    assert (plan.account, plan.region) == ("111122223333", "us-east-1")


def test_cdk_out_without_stacks_and_without_manifest(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file: expected a CDK cloud assembly"):
        read_cdk_out(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"version": "55.0.0", "artifacts": {}}))
    with pytest.raises(InputError, match="no CloudFormation stack"):
        read_cdk_out(tmp_path)


def test_nested_cdk_assembly(tmp_path: Path) -> None:
    stage = tmp_path / "assembly-Prod"
    shutil.copytree(CDK_OUT, stage)
    manifest = {
        "version": "55.0.0",
        "artifacts": {
            "assembly-Prod": {"type": "cdk:cloud-assembly", "properties": {"directoryName": "assembly-Prod"}}
        },
    }
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    assert len(read_cdk_out(tmp_path)) == 2


def test_example_template_is_the_fixture() -> None:
    # The bundled example carries the synthesized template unchanged.
    example = EXAMPLES / "preflight-cdk-asg-default-key" / "AsgDefaultKeyStack.template.json"
    assert example.read_text() == (CDK_OUT / "AsgDefaultKeyStack.template.json").read_text()


# -- a hand-written template in short form -----------------------------------------------------------------------

HAND_WRITTEN = """\
AWSTemplateFormatVersion: "2010-09-09"
Description: Web fleet with its own EBS key
Parameters:
  Env:
    Type: String
    AllowedValues: [prod, dev]
  Ami:
    Type: AWS::EC2::Image::Id
    Default: ami-0123456789abcdef0
Conditions:
  IsProd: !Equals [!Ref Env, prod]
Resources:
  EbsKey:
    Type: AWS::KMS::Key
    Properties:
      Description: !Sub "${Env} web volumes"
      KeyPolicy:
        Version: "2012-10-17"
        Statement:
          - Sid: Admin
            Effect: Allow
            Principal: {AWS: !Sub "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}
            Action: kms:*
            Resource: "*"
          - Sid: AutoScaling
            Effect: Allow
            Principal:
              AWS: !Sub
                - "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/${SlrPath}AWSServiceRoleForAutoScaling"
                - SlrPath: aws-service-role/autoscaling.amazonaws.com/
            Action: [kms:Encrypt, kms:Decrypt, kms:ReEncrypt*, kms:GenerateDataKey*, kms:DescribeKey]
            Resource: "*"
  WebTemplate:
    Type: AWS::EC2::LaunchTemplate
    Properties:
      LaunchTemplateName: !Sub "web-${Env}"
      LaunchTemplateData:
        ImageId: !Ref Ami
        InstanceType: !If [IsProd, m5.large, t3.micro]
        BlockDeviceMappings:
          - DeviceName: /dev/xvda
            Ebs:
              Encrypted: true
              KmsKeyId: !GetAtt EbsKey.Arn
              VolumeSize: !If [IsProd, 100, !Ref AWS::NoValue]
  WebGroup:
    Type: AWS::AutoScaling::AutoScalingGroup
    Properties:
      MinSize: "1"
      MaxSize: !If [IsProd, "10", "2"]
      LaunchTemplate:
        LaunchTemplateName: !Sub "web-${Env}"
        Version: !GetAtt WebTemplate.LatestVersionNumber
"""


def test_hand_written_short_form_template(tmp_path: Path) -> None:
    path = tmp_path / "web.yaml"
    path.write_text(HAND_WRITTEN)
    dev = by_address(read_template(path, {"Env": "dev"}))
    ebs = dev["WebTemplate"].values["LaunchTemplateData"]
    assert ebs == {
        "ImageId": "ami-0123456789abcdef0",
        "InstanceType": "t3.micro",
        "BlockDeviceMappings": [
            {"DeviceName": "/dev/xvda", "Ebs": {"Encrypted": True, "KmsKeyId": Ref("EbsKey", "Arn")}},
        ],
    }
    assert dev["WebTemplate"].values["LaunchTemplateName"] == "web-dev"
    assert dev["WebGroup"].values["MaxSize"] == 2
    assert dev["WebTemplate"].source.line == 33  # the line of "  WebTemplate:"
    key = dev["EbsKey"]
    assert key.values["Description"] == "dev web volumes"
    policy = key.values["KeyPolicy"]
    assert isinstance(policy, dict)
    slr = policy["Statement"][1]["Principal"]["AWS"]
    assert slr == Concat(
        (
            "arn:",
            Pseudo("AWS::Partition"),
            ":iam::",
            Pseudo("AWS::AccountId"),
            ":role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling",
        )
    )
    prod = by_address(read_template(path, {"Env": "prod"}))
    data = prod["WebTemplate"].values["LaunchTemplateData"]
    assert isinstance(data, dict)
    assert data["InstanceType"] == "m5.large"
    assert data["BlockDeviceMappings"][0]["Ebs"]["VolumeSize"] == 100
    # Env has no Default: without a value the condition is undecided and says why.
    unset = by_address(read_template(path))
    unset_data = unset["WebTemplate"].values["LaunchTemplateData"]
    assert isinstance(unset_data, dict)
    instance_type = unset_data["InstanceType"]
    assert isinstance(instance_type, Unknown)
    assert "Fn::If on condition IsProd" in instance_type.why and "parameter Env has no Default" in instance_type.why


# -- never a traceback ---------------------------------------------------------------------------------------------

_NAMES = st.sampled_from(["Key", "Role", "Env", "IsProd", "AWS::Region", "AWS::NoValue", "Nope", "Arn", "0", ""])
_FUNCTIONS = st.sampled_from(
    [
        "Ref",
        "Fn::GetAtt",
        "Fn::Sub",
        "Fn::Join",
        "Fn::If",
        "Fn::Select",
        "Fn::Split",
        "Fn::FindInMap",
        "Fn::Base64",
        "Fn::ImportValue",
        "Fn::GetAZs",
        "Fn::Equals",
        "Fn::And",
        "Fn::Or",
        "Fn::Not",
        "Condition",
        "Fn::Nope",
    ]
)
_LEAVES = st.one_of(_NAMES, st.booleans(), st.integers(-2, 3), st.none(), st.just("${Env}-${Key.Arn}-${!x}"))
_VALUES = st.recursive(
    _LEAVES,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(_FUNCTIONS, inner, min_size=1, max_size=1),
        st.dictionaries(st.sampled_from(["BlockDeviceMappings", "Ebs", "Encrypted", "DeviceName"]), inner, max_size=3),
    ),
    max_leaves=12,
)
_TYPES = st.sampled_from([*TYPES, "AWS::S3::Bucket"])
_PROPERTIES = st.sampled_from(
    [
        "LaunchTemplateData",
        "BlockDeviceMappings",
        "KeyPolicy",
        "Policies",
        "Roles",
        "LaunchTemplate",
        "MinSize",
        "SpotFleetRequestConfigData",
        "IamInstanceProfile",
        "Encrypted",
        "Size",
        "RoleName",
    ]
)


@given(
    resources=st.dictionaries(
        st.sampled_from(["Key", "Role", "Other"]),
        st.fixed_dictionaries(
            {"Type": _TYPES, "Properties": st.dictionaries(_PROPERTIES, _VALUES, max_size=3)},
            optional={"Condition": _NAMES},
        ),
        max_size=3,
    ),
    conditions=st.dictionaries(st.sampled_from(["IsProd", "Nope"]), _VALUES, max_size=2),
    parameters=st.dictionaries(st.sampled_from(["Env"]), st.just({"Type": "String", "Default": "prod"}), max_size=1),
)
@settings(max_examples=300, deadline=None)
def test_any_template_reads_or_says_what_is_wrong(
    resources: dict[str, Any], conditions: dict[str, Any], parameters: dict[str, Any]
) -> None:
    template = {"Parameters": parameters, "Conditions": conditions, "Resources": resources}
    try:
        plan = _read("t.json", template, {}, None, None, None)
    except InputError as err:
        assert err.source == "t.json" and err.message
    else:
        assert all(r.kind for r in plan.resources)
