"""The documented stories end to end, the demo, and the assumptions table kept in sync with its doc."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from kmslaunch.assumptions import ASSUMPTIONS, render_markdown
from kmslaunch.cli.main import cli
from kmslaunch.launch.request import simulate
from kmslaunch.scenarios import SCENARIOS, by_name

ROOT = Path(__file__).parent.parent


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_scenario_outcome(scenario) -> None:  # type: ignore[no-untyped-def]
    world, req = scenario.build()
    result = simulate(world, req)
    assert result.outcome.state == scenario.expect_state
    # The refused call (if any) is the last one made, and CloudTrail has one record per KMS call.
    if result.refused_calls:
        assert result.calls[-1].refused
    kms = [e for e in result.trail if e["eventSource"] == "kms.amazonaws.com"]
    assert len(kms) == len({(c.call.operation, c.call.volume_id, c.call.instance_id) for c in result.calls})


def test_kc_source_ip_is_refused_for_the_instance_identity_not_the_user() -> None:
    world, req = by_name("kc-source-ip").build()
    result = simulate(world, req)
    refused = result.refused_calls[0]
    assert refused.action == "kms:Decrypt"
    assert refused.call.principal.is_ec2_infrastructure
    assert refused.verdict.value == "explicitDeny"
    ctx = refused.authorized.request.context
    assert ctx["aws:sourceip"] != (req.source_ip,)
    # The user's own CreateGrant, made through EC2, carried the user's address and was allowed.
    assert result.calls[0].action == "kms:CreateGrant" and not result.calls[0].refused


def test_cloudtrail_record_of_a_refused_call_has_aws_wording() -> None:
    world, req = by_name("kc-iam-user").build()
    result = simulate(world, req)
    ev = next(e for e in result.trail if e.get("errorCode"))
    assert ev["eventSource"] == "kms.amazonaws.com" and ev["eventName"] == "CreateGrant"
    assert ev["errorCode"] == "AccessDenied"
    assert ev["errorMessage"].endswith("because no identity-based policy allows the kms:CreateGrant action")
    assert ev["userIdentity"]["type"] == "IAMUser"
    assert ev["userIdentity"]["invokedBy"] == "ec2-frontend-api.amazonaws.com"
    assert ev["requestParameters"]["constraints"] == {
        "encryptionContextSubset": {"aws:ebs:id": result.volumes[0].volume_id}
    }
    assert ev["requestParameters"]["retiringPrincipal"] == "ec2.us-east-1.amazonaws.com"


def test_demo_tells_both_stories() -> None:
    out = CliRunner().invoke(cli, ["demo"])
    assert out.exit_code == 0, out.output
    assert out.output.count("Client.InternalError: Client error on launch") == 2
    assert "because no identity-based policy allows the kms:CreateGrant action" in out.output
    assert "NotIpAddress aws:SourceIp: policy has 203.0.113.0/24, request has 52.94.0.1" in out.output


def test_assumptions_doc_is_generated_from_the_table() -> None:
    assert (ROOT / "docs" / "assumptions.md").read_text() == render_markdown()
    assert len({a.id for a in ASSUMPTIONS}) == len(ASSUMPTIONS)


def test_every_assumption_cited_in_code_exists() -> None:
    ids = {a.id for a in ASSUMPTIONS}
    cited: set[str] = set()
    for path in (ROOT / "src" / "kmslaunch").rglob("*.py"):
        cited.update(re.findall(r"assumptions? ([a-z][a-z0-9-]+(?:, [a-z][a-z0-9-]+)*)", path.read_text()))
    names = {n.strip() for group in cited for n in group.split(",")}
    names = {n for n in names if "-" in n}
    assert names <= ids, names - ids
