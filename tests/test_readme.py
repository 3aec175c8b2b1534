"""The README's set-up commands are the ones that work: CI runs the README's test command, and the demo's
install is the runtime one."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).parent.parent


def _blocks() -> list[str]:
    return re.findall(r"```sh\n(.*?)```", (ROOT / "README.md").read_text(encoding="utf-8"), flags=re.DOTALL)


def test_ci_runs_the_readmes_test_command() -> None:
    (tests,) = [b.strip() for b in _blocks() if "-m pytest" in b]
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()]
    for command in tests.split(" && "):
        wanted = command.replace("pip install", "python -m pip install --quiet")
        assert command in ci or wanted in ci, f"{command!r} is not a line of .ci/run"


def test_demo_needs_only_the_runtime_install() -> None:
    (demo,) = [b.strip() for b in _blocks() if b.strip().endswith("kmslaunch demo")]
    assert ".venv/bin/pip install -e . " in demo and "[dev]" not in demo
