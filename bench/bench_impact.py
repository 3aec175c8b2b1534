"""Time ``kmslaunch impact`` with one key-policy change (a SourceIp Deny added to one key) on the synthetic
organization of ``make_org.py`` (50 accounts, 2,000 principals, 500 keys at scale 1.0), against the time of
``audit`` on the same snapshot measured in the same run (the baseline), best of N each. Also times the same change
simulated exhaustively (every path again), which the filter is tested against.

    .venv/bin/python bench/bench_impact.py [--repeat 1] [--scale 1.0] [--exhaustive]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from kmslaunch.audit.engine import audit
from kmslaunch.impact.changes import parse_changes
from kmslaunch.impact.compare import ImpactReport, impact
from kmslaunch.snapshot.load import load_snapshot
from kmslaunch.snapshot.save import save_snapshot
from make_org import REGION, build

TARGET_S = 10.0


def best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--exhaustive", action="store_true", help="also time the unfiltered run")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "org"
        save_snapshot(build(args.scale), out, meta={"collected_at": "2026-01-15T09:30:00Z"})
        snap = load_snapshot(out)
        world = snap.world
        account = sorted(world.accounts)[7]
        key = world.accounts[account].regions[REGION].kms.resolve("alias/app-001")
        assert key is not None
        doc = json.loads(key.policy.text())
        doc["Statement"].append(
            {
                "Sid": "DenyOutsideCorporateNetwork",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "kms:*",
                "Resource": "*",
                "Condition": {"NotIpAddress": {"aws:SourceIp": ["203.0.113.0/24"]}},
            }
        )
        change_file = Path(tmp) / "deny.json"
        change_file.write_text(json.dumps(doc))
        changes = parse_changes(world, key_policy=[f"{key.arn}={change_file}"])
        reports: list[ImpactReport] = []
        impact_s = best(lambda: reports.append(impact(world, changes)), args.repeat)
        audit_s = best(lambda: audit(world), args.repeat)
        r = reports[-1]
        print(
            f"scale {args.scale}: {r.paths} launch paths; {r.simulated_before} distinct launches the change can "
            f"reach simulated before and {r.simulated_after} after, {r.left_alone} not simulated; "
            f"{len(r.of('breaks'))} break, {len(r.of('starts-working'))} start to work"
        )
        print(f"impact (1 key-policy change): {impact_s:8.2f} s   target < {TARGET_S:.0f} s")
        print(f"audit (baseline, same run):   {audit_s:8.2f} s   impact/audit {impact_s / audit_s:.2f}")
        if args.exhaustive:
            full_s = best(lambda: impact(world, changes, exhaustive=True), args.repeat)
            print(f"impact, every path again:     {full_s:8.2f} s   filtered/exhaustive {impact_s / full_s:.2f}")


if __name__ == "__main__":
    main()
