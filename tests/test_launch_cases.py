"""Table-driven launch cases: tests/cases/launch/*.yaml (world, launch, expected outcome and calls).

``expect``: ``state``; ``state_reason`` (the Code); ``error`` (the Code of a synchronous refusal);
``calls``: the permission checks in order, each ``[action, decision, denied_by]`` (denied_by optional);
``principals``: the principal of each call, in order; ``volume_keys``: the key (reference) of each volume;
``key_sources``: how each volume's key was found; ``grants_on``: {key name: number of grants after the launch};
``activity``: the StatusCode of the Auto Scaling activity; ``context``: {call index: {key: value}} that must hold
(``kms:EncryptionContext:<k>`` keys are read from the call's encryption context); ``view_state``: the State of the
resource the matching describe call shows (describe-volumes, describe-snapshots, describe-images), whose id
expectations can name as ``new:volume``, ``new:snapshot`` or ``new:image``; ``principal``: who the launch ran as;
``notes``: text each of which some note of the result contains; ``trail_error``: the errorCode of the API call's
CloudTrail record; ``created``: how many instances the world holds after the launch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from kmslaunch.launch.request import simulate
from launchworld import build, launch

CASES = Path(__file__).parent / "cases" / "launch"


def _load() -> list[Any]:
    out = []
    for path in sorted(CASES.glob("*.yaml")):
        data = yaml.safe_load(path.read_text())
        assert data.get("doc"), f"{path.name} names the AWS document it encodes"
        for case in data["cases"]:
            out.append(pytest.param(case, id=f"{path.stem}:{case['name']}"))
    return out


@pytest.mark.parametrize("case", _load())
def test_launch_case(case: dict[str, Any]) -> None:
    world, refs = build(case.get("world") or {})
    req = launch(case["launch"], refs)
    result = simulate(world, req)
    for field, ref in (("Volumes", "VolumeId"), ("Snapshots", "SnapshotId"), ("Images", "ImageId")):
        # ``new:volume``, ``new:snapshot``, ``new:image``: the id of what the operation created (or changed).
        if result.view and result.view.get(field):
            refs.values[f"new:{field[:-1].lower()}"] = result.view[field][0][ref]
    expect = refs.sub(case["expect"])
    assert result.outcome.state == expect["state"], result.to_json()["outcome"]
    if "state_reason" in expect:
        got = result.outcome.state_reason["Code"] if result.outcome.state_reason else None
        assert got == expect["state_reason"]
    if "error" in expect:
        assert result.outcome.error is not None and result.outcome.error["Code"] == expect["error"], result.outcome
    if "calls" in expect:
        got_calls = [[c.action, c.verdict.value, list(c.denied_by)] for c in result.calls]
        want = [
            [w[0], w[1], w[2] if len(w) > 2 else got[2]] for w, got in zip(expect["calls"], got_calls, strict=False)
        ]
        assert got_calls == want and len(got_calls) == len(expect["calls"]), got_calls
    if "principal" in expect:
        assert result.principal == expect["principal"], result.principal
    for text in expect.get("notes") or []:
        assert any(text in n for n in result.notes), result.notes
    if "trail_error" in expect:
        api = [e for e in result.trail if e["eventSource"] == "ec2.amazonaws.com"]
        assert api and api[0].get("errorCode") == expect["trail_error"], api
    if "created" in expect:
        held = sum(len(r.ec2.instances) for a in world.accounts.values() for r in a.regions.values())
        assert held == expect["created"], held
    # Worlds built here know every fact, so the verdict is plain unless the case says otherwise.
    verdict = expect.get("verdict", "runs" if result.succeeded else "fails")
    assert result.verdict.value == verdict, (result.verdict_sentence(), result.unknowns)
    if "unknown_layers" in expect:
        assert [u.layer for u in result.deciding_unknowns] == expect["unknown_layers"], result.unknowns
    if "principals" in expect:
        assert [c.call.principal.arn for c in result.calls] == expect["principals"]
    if "volume_keys" in expect:
        assert [v.key.arn if v.key else None for v in result.volumes] == expect["volume_keys"]
    if "key_sources" in expect:
        assert [v.key_source.name if v.key_source else None for v in result.volumes] == expect["key_sources"]
    for name, count in (expect.get("grants_on") or {}).items():
        key = world.key_by_arn(refs.values[f"key:{name}"])
        assert key is not None and len(key.grants) == count, key and [g.to_json() for g in key.grants]
    if "activity" in expect:
        group = world.account(req.account).region(req.region).autoscaling.groups[req.group or ""]
        assert group.activities and group.activities[-1].status_code == expect["activity"]
    for index, keys in (expect.get("context") or {}).items():
        request = result.calls[int(index)].authorized.request
        ctx = request.context
        for k, v in keys.items():
            got = ctx.get(k.lower())
            prefix = "kms:encryptioncontext:"
            if got is None and k.lower().startswith(prefix) and request.encryption_context:
                value = request.encryption_context.get(k[len(prefix) :])
                got = (value,) if value is not None else None
            assert (got[0] if got and len(got) == 1 else got) == v, (k, got)
    if "view_state" in expect:
        assert result.view is not None
        shown = next(items[0] for items in result.view.values() if isinstance(items, list) and items)
        assert shown["State"] == expect["view_state"], shown
    # Every call is in CloudTrail, with AWS's errorCode on the refused one.
    kms_events = [e for e in result.trail if e["eventSource"] == "kms.amazonaws.com"]
    refused = [e for e in kms_events if "errorCode" in e]
    assert len(refused) == (1 if result.refused_calls else 0)
