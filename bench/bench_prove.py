"""The proof for one fix of a bundled example, against the doctor run it belongs to (measured in the same run).

Run: PYTHONPATH=src .venv/bin/python bench/bench_prove.py   (target: the proof under 2 s)
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from kmslaunch.cli.launchopts import launch_request
from kmslaunch.doctor.diagnose import diagnose
from kmslaunch.policy.evaluate import build_context
from kmslaunch.policy.model import PolicyType
from kmslaunch.policy.parse import parse_policy
from kmslaunch.policy.requestfile import load_request
from kmslaunch.prove.fixes import prove_fix
from kmslaunch.prove.launch import Allowed
from kmslaunch.prove.prove import Scope, prove_document
from kmslaunch.snapshot.load import load_snapshot

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:

    snap = load_snapshot(ROOT / "examples/kc-iam-user/snapshot")
    req = launch_request(
        snap.world,
        run_file=None,
        fleet_file=None,
        spot_file=None,
        volume_file=None,
        attach_file=None,
        snapshot_copy_file=None,
        image_copy_file=None,
        start_id=None,
        instance_id="i-056cc6fd323c6308f",
        group=None,
        nodegroup=None,
        fleet=None,
        caller=None,
        session_policy=None,
        source_ip=None,
        account=None,
        region=None,
    )
    t = time.perf_counter()
    diag = diagnose(snap.world, req)
    doctor_s = time.perf_counter() - t
    plan = diag.plans[0]
    t = time.perf_counter()
    fp = prove_fix(snap.world, plan, plan.fixes[0])
    prove_s = time.perf_counter() - t
    before = parse_policy((ROOT / "examples/prove/key-before.json").read_text(), PolicyType.KEY, "before")
    after = parse_policy((ROOT / "examples/prove/key-after.json").read_text(), PolicyType.KEY, "after")
    allowing = []
    for raw in json.loads((ROOT / "examples/prove/launch-requests.json").read_text()):
        req, ps, _ = load_request(raw, "launch-requests.json")
        who = req.principal
        allowing.append(
            Allowed(who.arn, None, who.role_path_known, None, req.action, req.resource, build_context(req, ps))
        )
    t = time.perf_counter()
    doc = prove_document(before, after, allowing, Scope(resource=allowing[0].resource))
    doc_s = time.perf_counter() - t
    print(f"doctor (baseline)              {doctor_s:7.3f} s")
    print(f"proof of the doctor's fix      {prove_s:7.3f} s  ({fp.status}; {prove_s / doctor_s:.1f}x the doctor)")
    print(f"proof of examples/prove/key-*  {doc_s:7.3f} s  ({doc.status})")
    print("target: a proof under 2 s:", "met" if max(prove_s, doc_s) < 2 else "NOT met")


if __name__ == "__main__":
    main()
