"""Table-driven impact cases: tests/cases/impact/*.yaml. Each runs `kmslaunch impact --format json` on a bundled
example or on a world written as a snapshot, and checks every move: the path, the refused call, the deciding
statement and the change it is attributed to, and the exit status."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from kmslaunch.cli.main import cli
from kmslaunch.policy.model import PolicyType
from kmslaunch.snapshot import save_snapshot
from kmslaunch.world.documents import Document
from kmslaunch.world.organizations import SCP, OrgPolicy
from kmslaunch.world.world import World
from launchworld import ACCOUNT, Refs, build

ROOT = Path(__file__).parent.parent
CASES = ROOT / "tests" / "cases" / "impact"
FULL_ACCESS = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


def _load() -> list[Any]:
    out = []
    for path in sorted(CASES.glob("*.yaml")):
        data = yaml.safe_load(path.read_text())
        assert data.get("doc"), f"{path.name} names the AWS document it encodes"
        for case in data["cases"]:
            assert case.get("doc", "").startswith("https://"), case["name"]
            out.append(pytest.param(case, id=f"{path.stem}:{case['name']}"))
    return out


def _organization(w: World, spec: dict[str, Any]) -> None:
    """One organization: root r-test with FullAWSAccess, the default account under it, and ``scps`` (by id)
    attached to the account."""
    org = w.organization
    if spec.get("known") is False:
        org.known = False  # a member account's snapshot without the organization: SCPs unknown
        return
    org.org_id, org.management_account, org.root_id = "o-test000001", "999999999999", "r-test"
    org.parents[ACCOUNT] = "r-test"
    full = Document.parse(FULL_ACCESS, PolicyType.SCP, "FullAWSAccess")
    org.policies["p-FullAWSAccess"] = OrgPolicy("p-FullAWSAccess", "FullAWSAccess", SCP, full, aws_managed=True)
    org.attachments["r-test"] = ["p-FullAWSAccess"]
    org.attachments[ACCOUNT] = ["p-FullAWSAccess"]
    for pid, doc in (spec.get("scps") or {}).items():
        org.policies[pid] = OrgPolicy(pid, pid, SCP, Document.parse(doc, PolicyType.SCP, pid))
        org.attachments[ACCOUNT].append(pid)


def _snapshot(case: dict[str, Any], tmp: Path) -> tuple[str, Refs]:
    if "snapshot" in case:
        return str(ROOT / case["snapshot"]), Refs()
    spec = dict(case["world"])
    org = spec.pop("organization", None)
    unknown = spec.pop("unknown_key_policies", [])
    w, refs = build(spec)
    if org is not None:
        _organization(w, org)
    for name in unknown:
        key = w.key_by_arn(refs.values[f"key:{name}"])
        assert key is not None
        key.policy_known = False
    out = tmp / "snapshot"
    save_snapshot(w, out, meta={"collected_at": "2026-01-15T09:30:00Z"})
    return str(out), refs


def _arg(a: str, refs: Refs, tmp: Path) -> str:
    for ref, real in sorted(refs.values.items(), key=lambda kv: -len(kv[0])):
        a = a.replace(ref, real)
    a = a.replace("=@", f"={tmp}/")
    return a.replace("=examples/", f"={ROOT}/examples/")


@pytest.mark.parametrize("case", _load())
def test_impact_case(case: dict[str, Any], tmp_path: Path) -> None:
    snapshot, refs = _snapshot(case, tmp_path)
    for name, doc in (case.get("documents") or {}).items():
        (tmp_path / name).write_text(json.dumps(refs.sub(doc), indent=2))
    args = [_arg(a, refs, tmp_path) for a in case["changes"]]
    res = CliRunner().invoke(cli, ["impact", snapshot, *args, "--format", "json"])
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    out = json.loads(res.output)
    expect = case["expect"]
    assert res.exit_code == expect["exit"], shlex.join(args) + "\n" + res.output
    got = out["moves"]
    assert len(got) == len(expect["moves"]), [(m["move"], m["kind"], m["principal"]) for m in got]
    for want, m in zip(expect["moves"], got, strict=True):
        move, kind, who, action, layer, sid, in_change, *change = want
        assert (m["move"], m["kind"]) == (move, kind), m
        assert who in (m["principal"] or "") or who in m["target"], m
        cause = m["cause"]
        if action is None and layer is None:
            assert cause is None or cause["statement"] is None, cause
            continue
        assert cause is not None, m
        if action != "any":
            assert cause["action"] == action, cause
        assert cause["layer"] == layer, cause
        assert (cause["statement"] or {}).get("statement") == sid, cause
        assert cause["in_change_file"] is in_change, cause
        if in_change:
            # The statement is located in the change's file, on the line of its Sid.
            file = Path(cause["location"]["file"])
            line = file.read_text().splitlines()[cause["location"]["line"] - 1]
            assert f'"Sid": "{sid}"' in line, line
        kinds = change or [args[0].removeprefix("--")]
        assert cause["change"] is not None and cause["change"]["kind"] == kinds[0], cause
