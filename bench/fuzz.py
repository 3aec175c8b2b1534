"""Fuzz kmslaunch for longer than the test suite does (tests/test_fuzz.py runs the same cases, bounded): mutated
snapshot files through ``kmslaunch simulate``, random policy documents through the parser and the evaluator, and
``authorize`` request files through the command line. Prints examples tried, held and broke per target; each
failure is written to OUT as a directory that reproduces it (the mutated file in place in a copy of the example's
snapshot, or the document or request file) with the command and the traceback.

    .venv/bin/python bench/fuzz.py [--examples 20000 | --minutes 10] [--seed 1] [--out fuzz-failures]
        [--targets snapshot,policy,request]
"""

from __future__ import annotations

import argparse
import json
import random
import shlex
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from mutate import (
    EXAMPLES,
    SnapshotFuzzer,
    check_document,
    random_document,
    request_file_text,
    run_cli,
    slug,
)

TARGETS = ("snapshot", "policy", "request")


def _first_line_of_error(detail: str) -> str:
    lines = [ln for ln in detail.strip().splitlines() if ln.strip()]
    return lines[-1][:160] if lines else detail[:160]


def _save(out: Path, target: str, n: int, seed: int, what: str, detail: str) -> Path:
    where = out / f"{target}-{n:05d}-{slug(what)}"
    where.mkdir(parents=True, exist_ok=True)
    (where / "traceback.txt").write_text(f"seed {seed}\n{what}\n\n{detail}")
    return where


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", type=int, default=2000, help="examples per target (default 2000)")
    ap.add_argument("--minutes", type=float, default=None, help="run for this long instead, targets in turn")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, default=Path("fuzz-failures"))
    ap.add_argument("--targets", default=",".join(TARGETS))
    args = ap.parse_args()
    targets = [t for t in args.targets.split(",") if t]
    unknown = set(targets) - set(TARGETS)
    if unknown:
        ap.error(f"unknown targets: {', '.join(sorted(unknown))} (known: {', '.join(TARGETS)})")
    tried: Counter[str] = Counter()
    broke: Counter[str] = Counter()
    kinds: dict[str, Counter[str]] = {t: Counter() for t in targets}
    saved: list[Path] = []
    deadline = time.monotonic() + args.minutes * 60 if args.minutes else None
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="kmslaunch-fuzz-") as tmp:
        fuzzer = SnapshotFuzzer(Path(tmp) / "snapshots") if "snapshot" in targets else None
        n = 0
        while True:
            if deadline is not None and time.monotonic() > deadline:
                break
            if deadline is None and all(tried[t] >= args.examples for t in targets):
                break
            target = targets[n % len(targets)]
            n += 1
            if deadline is None and tried[target] >= args.examples:
                continue
            seed = args.seed * 1_000_003 + n
            rnd = random.Random(seed)
            tried[target] += 1
            failure: tuple[str, str] | None = None
            if target == "snapshot":
                assert fuzzer is not None
                verdict, case, file, text = fuzzer.run(rnd)
                if not verdict.held:
                    failure = (verdict.what, verdict.detail)
                    where = _save(args.out, target, tried[target], seed, *failure)
                    snap = where / "snapshot"
                    shutil.copytree(EXAMPLES / case.example / "snapshot", snap)
                    (snap / file.relative_to(fuzzer.work / case.example / "snapshot")).write_text(text)
                    (where / "command.sh").write_text(
                        shlex.join([".venv/bin/kmslaunch", "simulate", str(snap), *case.args]) + "\n"
                    )
            elif target == "policy":
                doc = random_document(rnd)
                detail = check_document(doc, rnd)
                if detail is not None:
                    failure = ("policy document", detail)
                    where = _save(args.out, target, tried[target], seed, *failure)
                    (where / "document.json").write_text(doc if isinstance(doc, str) else json.dumps(doc, indent=2))
            else:
                text = request_file_text(rnd)
                path = Path(tmp) / "request.json"
                path.write_text(text, encoding="utf-8")
                verdict = run_cli(["authorize", str(path)], "request file")
                if not verdict.held:
                    failure = (verdict.what, verdict.detail)
                    where = _save(args.out, target, tried[target], seed, *failure)
                    (where / "request.json").write_text(text)
                    (where / "command.sh").write_text(f".venv/bin/kmslaunch authorize {where / 'request.json'}\n")
            if failure is not None:
                broke[target] += 1
                kinds[target][_first_line_of_error(failure[1])] += 1
                saved.append(where)
    elapsed = time.monotonic() - started
    print(f"{'target':<10} {'tried':>8} {'held':>8} {'broke':>6}")
    for t in targets:
        print(f"{t:<10} {tried[t]:>8} {tried[t] - broke[t]:>8} {broke[t]:>6}")
    print(
        f"{'all':<10} {sum(tried.values()):>8} {sum(tried.values()) - sum(broke.values()):>8} "
        f"{sum(broke.values()):>6}   in {elapsed:.0f} s (seed {args.seed})"
    )
    for t in targets:
        for line, count in kinds[t].most_common():
            print(f"  {t}: {count} x {line}")
    if saved:
        print(f"each failure reproduced under {args.out}/ ({len(saved)} directories: command.sh, traceback.txt)")


if __name__ == "__main__":
    main()
