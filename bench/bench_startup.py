"""How long `kmslaunch --help` takes to start, against the interpreter's own start (`python -c pass`).

Run by hand: ``.venv/bin/python bench/bench_startup.py`` (``-n`` sets the runs of each). Each run is a new
process; the two are alternated so that whatever else the machine does weighs on both alike, after one
unmeasured run of each so that the bytecode is cached. The target is `kmslaunch --help` under 0.15 s: the group
imports click and its own module only, and each subcommand is imported when it runs (``cli/main.py``).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path


def _command() -> list[str]:
    """The installed entry point next to this interpreter when there is one, else the same import by hand."""
    script = Path(sys.executable).with_name("kmslaunch")
    if script.exists():
        return [str(script), "--help"]
    return [sys.executable, "-c", "from kmslaunch.cli.main import main; main()", "--help"]


def _time(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=20, help="runs of each command (default 20)")
    args = parser.parse_args()
    baseline = [sys.executable, "-c", "pass"]
    help_cmd = _command()
    _time(baseline), _time(help_cmd)  # warm: bytecode written, files in the page cache
    base: list[float] = []
    kms: list[float] = []
    for _ in range(args.n):
        base.append(_time(baseline))
        kms.append(_time(help_cmd))
    b, k = statistics.median(base), statistics.median(kms)
    print(f"{'command':<40} {'median':>9} {'min':>9}")
    print(f"{'python -c pass':<40} {b * 1000:>7.1f}ms {min(base) * 1000:>7.1f}ms")
    print(f"{'kmslaunch --help':<40} {k * 1000:>7.1f}ms {min(kms) * 1000:>7.1f}ms")
    print(f"ratio {k / b:.2f}x, kmslaunch's own share {(k - b) * 1000:.1f}ms ({args.n} runs each, alternated)")
    print(f"command: {' '.join(help_cmd)}")


if __name__ == "__main__":
    main()
