"""Time ``kmslaunch audit`` on the synthetic organization of ``make_org.py`` at 25%, 50% and 100% of its size
(50 accounts; 2,000 principals and 500 keys at 100%), best of N, each figure also as a ratio to the time to load
the same snapshot (measured in the same run, so the ratio holds across machines).

    .venv/bin/python bench/bench_audit.py [--repeat 3] [--scales 0.25,0.5,1.0]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from kmslaunch.audit.engine import audit
from kmslaunch.snapshot.load import load_snapshot
from kmslaunch.snapshot.save import save_snapshot
from make_org import ACCOUNTS, KEYS, PRINCIPALS, build


def best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--scales", default="0.25,0.5,1.0")
    args = ap.parse_args()
    print(
        f"{'scale':>6} {'principals':>10} {'keys':>6} {'PxK':>9} {'paths':>7} {'sims':>6} {'diag':>5} "
        f"{'load s':>8} {'audit s':>8} {'audit/load':>10} {'s per 1k PxK':>12}"
    )
    for scale in (float(s) for s in args.scales.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "org"
            save_snapshot(build(scale), out, meta={"collected_at": "2026-01-15T09:30:00Z"})
            load_s = best(lambda out=out: load_snapshot(out), args.repeat)
            snap = load_snapshot(out)
            report = audit(snap.world)
            audit_s = best(lambda snap=snap: audit(snap.world), args.repeat)
        p = round(PRINCIPALS * scale / ACCOUNTS) * ACCOUNTS
        k = round(KEYS * scale / ACCOUNTS) * ACCOUNTS
        pk = p * k // ACCOUNTS  # principals x keys within each account, summed
        print(
            f"{scale:>6.2f} {p:>10} {k:>6} {pk:>9} {len(report.paths):>7} {report.simulations:>6} "
            f"{report.diagnoses:>5} {load_s:>8.2f} {audit_s:>8.2f} {audit_s / load_s:>10.1f} "
            f"{audit_s / pk * 1000:>12.2f}"
        )


if __name__ == "__main__":
    main()
