"""Action and condition-key lint: tests/cases/catalog/lint.yaml drives the tables; adding a case needs no Python."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml

from kmslaunch.policy.catalog import (
    KeyType,
    actions_matching,
    known_actions,
    lint_action,
    lint_condition,
    lookup_condition_key,
)
from kmslaunch.policy.errors import Severity

CASES = yaml.safe_load((Path(__file__).parent / "cases" / "catalog" / "lint.yaml").read_text())


def _params(section: str, label: str) -> list[Any]:
    return [pytest.param(case, id=f"{section}:{case[label]}:{case.get('operator', '')}") for case in CASES[section]]


def _check(issues: list[Any], case: dict[str, Any]) -> None:
    assert all(i.severity is Severity.WARNING for i in issues), issues
    if not case["warn"]:
        assert issues == [], issues
        return
    assert issues, "expected a warning"
    if "suggestion" in case:
        assert [i.suggestion for i in issues] == [case["suggestion"]], issues
    if "message" in case:
        assert any(case["message"] in i.message for i in issues), issues
    assert all(i.path == "Statement[0]" for i in issues)


@pytest.mark.parametrize("case", _params("actions", "action"))
def test_action(case: dict[str, Any]) -> None:
    _check(lint_action(case["action"], "Statement[0]"), case)


@pytest.mark.parametrize("case", _params("conditions", "key"))
def test_condition(case: dict[str, Any]) -> None:
    issues = lint_condition(case["operator"], case["key"], tuple(case["values"]), "Statement[0]")
    _check(issues, case)


@pytest.mark.parametrize("case", _params("keys", "key"))
def test_lookup(case: dict[str, Any]) -> None:
    found = lookup_condition_key(case["key"])
    if case["name"] is None:
        assert found is None
        return
    assert found is not None
    assert found.name == case["name"]
    assert found.type is KeyType(case["type"])
    assert found.multivalued is case["multivalued"]
    assert found.doc.startswith("https://docs.aws.amazon.com/")


def test_known_actions() -> None:
    kms = known_actions("KMS")
    assert kms is not None
    assert "kms:reencrypt" not in kms
    assert {"kms:reencryptfrom", "kms:reencryptto", "kms:creategrant", "kms:decrypt"} <= kms
    iam = known_actions("iam")
    assert iam is not None and "iam:passrole" in iam
    assert known_actions("s3") is None


def test_actions_matching() -> None:
    assert actions_matching("kms:ReEncrypt*") == ("kms:ReEncryptFrom", "kms:ReEncryptTo")
    assert actions_matching("KMS:createGRANT") == ("kms:CreateGrant",)
    assert "kms:GenerateDataKeyWithoutPlaintext" in actions_matching("kms:GenerateDataKey*")
    assert actions_matching("s3:GetObject") == ()
    assert actions_matching("kms") == ()
    everything = actions_matching("*")
    assert "ec2:RunInstances" in everything and "sts:TagSession" in everything


def test_catalog_file_is_well_formed() -> None:
    text = resources.files("kmslaunch").joinpath("data/condition_keys.json").read_text(encoding="utf-8")
    entries = json.loads(text)
    names = [e["name"].lower() for e in entries]
    assert len(names) == len(set(names)), "a key is listed twice"
    for entry in entries:
        assert set(entry) <= {"name", "type", "multivalued", "doc", "also"}, entry
        KeyType(entry["type"])
        assert isinstance(entry["multivalued"], bool)
        assert entry["doc"].startswith("https://docs.aws.amazon.com/"), entry
