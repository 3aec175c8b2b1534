"""Time ``kmslaunch audit`` on the synthetic organization of ``make_org.py`` (50 accounts, 2,000 principals and
500 keys at factor 1) at several sizes, with its peak memory and the snapshot's size on disk.

Each size is saved once, then audited in a process of its own per number of workers (so that each peak is that
size's alone): the time to load the snapshot is the baseline measured in the same run, and the peak resident
memory (``getrusage``: the process's own and, with workers, the largest worker's) is set against the snapshot's
size on disk.

    .venv/bin/python bench/bench_audit.py [--factors 1,4] [--workers 1,2] [--repeat 1] [--formats text,json]

Then, per size, number of workers and ``--formats`` entry, the whole command as a user runs it (``kmslaunch audit
DIR --workers N --format F > file``, in a process of its own): wall time, the output's size and the largest
process's peak memory, against the same load baseline.

``cpu s`` is the CPU time the audit took (the workers' included): where others load the machine, the wall
times grow with their load and this does not.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from kmslaunch.audit.engine import assemble, audit
from kmslaunch.audit.units import prime, run_units, units
from kmslaunch.snapshot.load import load_snapshot
from kmslaunch.snapshot.save import save_snapshot
from make_org import organization


def _disk(root: Path) -> tuple[int, int]:
    """(bytes, files) of the snapshot's files."""
    sizes = [p.stat().st_size for p in root.rglob("*") if p.is_file()]
    return sum(sizes), len(sizes)


def _cpu() -> float:
    """CPU seconds of this process and of its finished workers: on a machine others share, the figure that
    their load does not change."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def child(snapshot: Path, workers: int, repeat: int) -> None:
    """In its own process: load and audit ``snapshot`` and print the figures as JSON."""
    best_load = best_audit = best_cpu = float("inf")
    report = None
    for _ in range(repeat):
        t = time.perf_counter()
        snap = load_snapshot(snapshot)
        best_load = min(best_load, time.perf_counter() - t)
        t, cpu = time.perf_counter(), _cpu()
        if workers > 1:
            where = str(snapshot.resolve())
            prime(where, snap.world)
            report = assemble(snap.world, run_units(units(where, snap.world), workers))
        else:
            report = audit(snap.world)
        best_audit = min(best_audit, time.perf_counter() - t)
        best_cpu = min(best_cpu, _cpu() - cpu)
    assert report is not None
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(
        json.dumps(
            {
                "load_s": best_load,
                "audit_s": best_audit,
                "cpu_s": best_cpu,
                "paths": len(report.paths),
                "simulations": report.simulations,
                "diagnoses": report.diagnoses,
                "failing": len(report.failing),
                "rss_kb": own,
                "worker_rss_kb": kids,
            }
        )
    )


def command(snapshot: Path, workers: int, fmt: str, env: dict[str, str]) -> dict[str, float]:
    """``kmslaunch audit`` run as a user runs it, output to a file: wall seconds, output MB and the peak memory
    of its largest process (this wrapper's children: the command and, with workers, theirs)."""
    cmd = [sys.executable, __file__, "--command-child", str(snapshot), "--child-workers", str(workers), fmt]
    return dict(json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout))


def command_child(snapshot: Path, workers: int, fmt: str) -> None:
    with tempfile.TemporaryFile("w+b") as out:
        t = time.perf_counter()
        argv = ["audit", str(snapshot), "--workers", str(workers), "--format", fmt]
        code = "from kmslaunch.cli.main import main; main()"
        done = subprocess.run([sys.executable, "-c", code, *argv], stdout=out, stderr=subprocess.PIPE, check=False)
        wall = time.perf_counter() - t
        if done.returncode not in (0, 1, 3):
            raise SystemExit(f"kmslaunch audit exited {done.returncode}: {done.stderr.decode()[-2000:]}")
        size = out.seek(0, os.SEEK_END)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(json.dumps({"wall_s": wall, "out_mb": size / 2**20, "peak_mb": peak / 1024}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--factors", default="1,4", help="organization sizes, as multiples of 50 accounts")
    ap.add_argument("--workers", default="1", help="numbers of worker processes to audit each size with")
    ap.add_argument("--repeat", type=int, default=1, help="best of N loads and audits (in the same process)")
    ap.add_argument("--formats", default="text,json", help="formats to time the whole command in (empty: none)")
    ap.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--command-child", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--child-workers", type=int, default=1, help=argparse.SUPPRESS)
    args, rest = ap.parse_known_args()
    if args.command_child is not None:
        command_child(args.command_child, args.child_workers, rest[0])
        return
    if args.child is not None:
        child(args.child, args.child_workers, args.repeat)
        return
    print(
        f"{'factor':>6} {'accounts':>8} {'princ.':>6} {'keys':>5} {'paths':>7} {'sims':>6} {'diag':>5} "
        f"{'disk MB':>7} {'wk':>2} {'load s':>6} {'audit s':>7} {'audit/load':>10} {'peak MB':>7} "
        f"{'worker MB':>9} {'peak/disk':>9} {'cpu s':>6}"
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parent.parent / "src"), env.get("PYTHONPATH", "")])
    baseline: dict[int, float] = {}
    sizes: list[tuple[float, float, float]] = []  # factor, disk MB, peak MB (1 worker)
    commands: list[str] = []
    for factor in (float(f) for f in args.factors.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "org"
            world = organization(factor)
            accounts = len(world.accounts)
            principals = sum(len(a.iam.users) + len(a.iam.roles) for a in world.accounts.values())
            keys = sum(len(r.kms.keys) for a in world.accounts.values() for r in a.regions.values())
            save_snapshot(world, out, meta={"collected_at": "2026-01-15T09:30:00Z"})
            del world
            disk, _files = _disk(out)
            for workers in (int(w) for w in args.workers.split(",")):
                cmd = [sys.executable, __file__, "--child", str(out), "--child-workers", str(workers)]
                cmd += ["--repeat", str(args.repeat)]
                got = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout)
                if workers == 1:
                    baseline[int(factor * 100)] = got["audit_s"]
                    sizes.append((factor, disk / 2**20, got["rss_kb"] / 1024))
                peak = got["rss_kb"] / 1024
                worker = got["worker_rss_kb"] / 1024
                print(
                    f"{factor:>6g} {accounts:>8} {principals:>6} {keys:>5} {got['paths']:>7} "
                    f"{got['simulations']:>6} {got['diagnoses']:>5} {disk / 2**20:>7.1f} {workers:>2} "
                    f"{got['load_s']:>6.2f} {got['audit_s']:>7.2f} {got['audit_s'] / got['load_s']:>10.1f} "
                    f"{peak:>7.0f} {worker:>9.0f} {max(peak, worker) / (disk / 2**20):>9.2f} {got['cpu_s']:>6.1f}"
                    + (
                        f"   speedup {baseline[int(factor * 100)] / got['audit_s']:.2f}x vs 1 worker"
                        if workers > 1 and int(factor * 100) in baseline
                        else ""
                    ),
                    flush=True,
                )
                for fmt in (f for f in args.formats.split(",") if f):
                    run = command(out, workers, fmt, env)
                    commands.append(
                        f"{factor:>6g} {workers:>2} {fmt:>6} {got['load_s']:>6.2f} {run['wall_s']:>7.2f} "
                        f"{run['wall_s'] / got['load_s']:>10.1f} {run['out_mb']:>7.1f} {run['peak_mb']:>7.0f}"
                    )
    if commands:
        print(
            f"\n{'factor':>6} {'wk':>2} {'format':>6} {'load s':>6} {'total s':>7} {'total/load':>10} "
            f"{'out MB':>7} {'peak MB':>7}   (the whole `kmslaunch audit DIR --format F > file`)"
        )
        print("\n".join(commands))
    if len(sizes) > 1:
        (f0, d0, p0), (f1, d1, p1) = sizes[0], sizes[-1]
        print(
            f"from factor {f0:g} to {f1:g}: snapshot x{d1 / d0:.2f} on disk, peak memory x{p1 / p0:.2f} "
            f"(+{p1 - p0:.0f} MB for +{d1 - d0:.1f} MB of JSON: {(p1 - p0) / (d1 - d0):.1f} MB per MB)"
        )


if __name__ == "__main__":
    main()
