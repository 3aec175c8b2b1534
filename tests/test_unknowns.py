"""Unknown is never "will launch": what a snapshot lacks is named in every format, and changes the verdict and
the exit status where it could change the answer. Snapshots here are shaped as members' collections are: an
organization seen without DescribeOrganization, an organization not collected at all, a policy not read."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kmslaunch.cli.main import cli
from kmslaunch.snapshot.load import load_snapshot
from kmslaunch.snapshot.save import save_snapshot

ROOT = Path(__file__).parent.parent
SUCCESS = ROOT / "examples" / "success"
ALICE = "arn:aws:iam::111122223333:user/alice"
ACCOUNT = "111122223333"
FULL_ACCESS = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
DENY_GRANTS = {
    "Version": "2012-10-17",
    "Statement": [{"Sid": "NoGrants", "Effect": "Deny", "Action": "kms:CreateGrant", "Resource": "*"}],
}


def _write(path: Path, doc: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=4))


def _member_view(tmp_path: Path, policies: dict[str, dict[str, Any]], *, describe: set[str]) -> Path:
    """The success example as a member account collects it: no describe-organization.json (the call is the
    management account's), but its parents, the policies attached on its path, and the ``describe`` ones."""
    snap = tmp_path / "snapshot"
    shutil.copytree(SUCCESS / "snapshot", snap)
    meta = json.loads((snap / "snapshot.json").read_text())
    meta["errors"] = [
        {
            "command": "aws organizations describe-organization",
            "file": "organizations/describe-organization.json",
            "code": "AccessDeniedException",
            "message": "You don't have permissions to access this resource.",
        }
    ]
    _write(snap / "snapshot.json", meta)
    org = snap / "organizations"
    _write(
        org / "list-parents" / f"{ACCOUNT}.json",
        {"Parents": [{"Id": "ou-ab12-workload", "Type": "ORGANIZATIONAL_UNIT"}]},
    )
    _write(org / "list-parents" / "ou-ab12-workload.json", {"Parents": [{"Id": "r-ab12", "Type": "ROOT"}]})
    attached = {
        "r-ab12": ["p-FullAWSAccess"],
        "ou-ab12-workload": ["p-FullAWSAccess", *policies],
        ACCOUNT: ["p-FullAWSAccess"],
    }
    for target, pids in attached.items():
        _write(
            org / "list-policies-for-target" / "SERVICE_CONTROL_POLICY" / f"{target}.json",
            {"Policies": [{"Id": pid, "Name": pid, "Type": "SERVICE_CONTROL_POLICY"} for pid in pids]},
        )
    for pid, doc in {"p-FullAWSAccess": FULL_ACCESS, **policies}.items():
        if pid in describe or pid == "p-FullAWSAccess":
            summary = {"Id": pid, "Name": pid, "Type": "SERVICE_CONTROL_POLICY", "Arn": "", "AwsManaged": False}
            _write(
                org / "describe-policy" / f"{pid}.json",
                {"Policy": {"PolicySummary": summary, "Content": json.dumps(doc)}},
            )
    return snap


def _run(*args: str) -> tuple[int, str]:
    res = CliRunner().invoke(cli, list(args))
    assert res.exception is None or isinstance(res.exception, SystemExit), res.output
    return res.exit_code, res.output


def _simulate(snap: Path, fmt: str = "text", command: str = "simulate") -> tuple[int, str]:
    return _run(
        command,
        str(snap),
        "--run-instances",
        str(SUCCESS / "run-instances.json"),
        "--as",
        ALICE,
        "--source-ip",
        "203.0.113.10",
        "--format",
        fmt,
    )


def test_a_members_view_of_the_organization_still_applies_its_scps(tmp_path: Path) -> None:
    """The SCPs a member collected govern even without describe-organization.json (they used to be dropped)."""
    snap = _member_view(tmp_path, {"p-nogrants": DENY_GRANTS}, describe={"p-nogrants"})
    code, out = _simulate(snap, "json")
    doc = json.loads(out)
    assert code == 1 and doc["outcome"]["state"] == "terminated" and doc["verdict"] == "fails"
    refused = [c for c in doc["calls"] if c["decision"] != "allowed"]
    assert refused[0]["action"] == "kms:CreateGrant" and refused[0]["denied_by"] == ["scp"]


def test_a_policy_not_read_makes_the_refusal_conditional(tmp_path: Path) -> None:
    """An SCP listed on the path but not described: FullAWSAccess on the same level lets the launch run, unless
    the policy nobody read denies it; the answer names the policy and the file to collect."""
    snap = _member_view(tmp_path, {"p-unread": DENY_GRANTS}, describe=set())
    code, out = _simulate(snap, "json")
    doc = json.loads(out)
    assert code == 3 and doc["outcome"]["state"] == "running" and doc["verdict"] == "runs-unless"
    [u] = doc["deciding_unknowns"]
    assert u["layer"] == "scp" and u["fact"].startswith("policy p-unread attached to ou-ab12-workload")
    assert "describe-policy/p-unread.json" in u["fact"]


def test_an_uncollected_organization_is_never_a_plain_running(tmp_path: Path) -> None:
    snap = tmp_path / "snapshot"
    shutil.copytree(SUCCESS / "snapshot", snap)
    meta = json.loads((snap / "snapshot.json").read_text())
    meta.pop("errors")  # nothing says the account is outside an organization
    _write(snap / "snapshot.json", meta)
    code, out = _simulate(snap, "json")
    doc = json.loads(out)
    assert code == 3 and doc["outcome"]["state"] == "running" and doc["verdict"] == "runs-unless"
    [u] = doc["deciding_unknowns"]
    assert u["layer"] == "organization" and "management account" in u["resolve"]
    assert doc["verdict_sentence"].startswith("RunInstances: running, unless")
    code, text = _simulate(snap, "text")
    assert code == 3
    first = text.splitlines()[:3]
    assert first[0] == "RunInstances: running" and "unless" in first[1]
    assert f"whether account {ACCOUNT} is in an organization" in first[2]
    for fmt in ("markdown", "json", "sarif", "html"):
        code, out = _simulate(snap, fmt, "doctor")
        assert code == 3, out
        assert "is in an organization" in out, fmt
    sarif = json.loads(_simulate(snap, "sarif", "doctor")[1])
    [result] = sarif["runs"][0]["results"]
    assert result["ruleId"] == "KMS100" and result["level"] == "warning"


@pytest.mark.parametrize("describe", [True, False])
def test_a_partial_organization_round_trips(tmp_path: Path, describe: bool) -> None:
    """fix --out keeps a member's view of the organization: the copy decides as the original did."""
    snap = _member_view(tmp_path, {"p-nogrants": DENY_GRANTS}, describe={"p-nogrants"} if describe else set())
    before = json.loads(_simulate(snap, "json")[1])
    copy = tmp_path / "copy"
    loaded = load_snapshot(snap)
    save_snapshot(loaded.world, copy, meta=dict(loaded.meta))
    after = json.loads(_simulate(copy, "json")[1])
    assert (after["verdict"], after["outcome"]) == (before["verdict"], before["outcome"])
    assert [u["fact"] for u in after["deciding_unknowns"]] == [u["fact"] for u in before["deciding_unknowns"]]


@pytest.mark.parametrize(
    ("remove", "fact"),
    [
        (
            f"list-policies-for-target/SERVICE_CONTROL_POLICY/{ACCOUNT}.json",
            f"the SCPs attached to {ACCOUNT} "
            f"(organizations/list-policies-for-target/SERVICE_CONTROL_POLICY/{ACCOUNT}.json)",
        ),
        (
            "list-parents/ou-ab12-workload.json",
            "the organization above ou-ab12-workload (organizations/list-parents/ou-ab12-workload.json)",
        ),
    ],
)
def test_a_gap_in_the_organization_path_is_named(tmp_path: Path, remove: str, fact: str) -> None:
    """A level whose listing was not collected (every level has an SCP attached, so none is bare), or a path that
    stops below the root: the known levels still decide, and the launch runs only unless the rest denies."""
    snap = _member_view(tmp_path, {}, describe=set())
    (snap / "organizations" / remove).unlink()
    code, out = _simulate(snap, "json")
    doc = json.loads(out)
    assert code == 3 and doc["verdict"] == "runs-unless"
    assert [u["fact"] for u in doc["deciding_unknowns"]] == [
        fact + (", and the SCPs attached there" if "above" in fact else "")
    ]


def test_audit_reports_the_paths_that_run_only_unless(tmp_path: Path) -> None:
    snap = tmp_path / "snapshot"
    shutil.copytree(SUCCESS / "snapshot", snap)
    meta = json.loads((snap / "snapshot.json").read_text())
    meta.pop("errors")
    _write(snap / "snapshot.json", meta)
    code, out = _run("audit", str(snap), "--format", "json")
    doc = json.loads(out)
    assert code == 3 and doc["summary"]["failing"] == 0 and doc["summary"]["unless"] == len(doc["paths"]) > 0
    assert all(p["verdict"] == "runs-unless" and "is in an organization" in p["unless"][0] for p in doc["paths"])
    code, text = _run("audit", str(snap))
    assert code == 3 and "== launch paths that run unless" in text
    sarif = json.loads(_run("audit", str(snap), "--format", "sarif")[1])
    assert {r["ruleId"] for r in sarif["runs"][0]["results"]} == {"KMS100"}
    # The same account with its organization known (the bundled example says it is in none): plain "runs".
    code, out = _run("audit", str(SUCCESS / "snapshot"), "--format", "json")
    assert code == 0 and json.loads(out)["summary"]["unless"] == 0
