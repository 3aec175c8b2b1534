"""Bad input through the real command line: exit status 2, one line that names what is wrong, no traceback,
and the files the command was given exactly as they were."""

from __future__ import annotations

import hashlib
import os
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import CliRunner

from kmslaunch.cli import common
from kmslaunch.cli.main import cli
from kmslaunch.server.state import State
from kmslaunch.server.store import Store

ROOT = Path(__file__).parent.parent
EXAMPLE = ROOT / "examples" / "kc-iam-user"
SNAP = str(EXAMPLE / "snapshot")
RUN = str(EXAMPLE / "run-instances.json")
INSTANCE = "i-056cc6fd323c6308f"


@dataclass(frozen=True)
class Case:
    id: str
    args: list[str]  # {tmp} and {port} are replaced
    says: str  # what the one line must name
    setup: Callable[[Path], None] = lambda tmp: None
    absent: tuple[str, ...] = ()  # paths (under tmp) the command must not create
    watched: tuple[str, ...] = field(default=())  # files (under tmp) whose bytes must not change


def _file(tmp: Path) -> None:
    (tmp / "afile").write_text("not a directory\n")


def _other_app(tmp: Path) -> None:
    db = sqlite3.connect(tmp / "other.db")
    db.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
    db.execute("INSERT INTO invoices (total) VALUES (12.5)")
    db.commit()
    db.close()


def _nonempty(tmp: Path) -> None:
    (tmp / "full").mkdir()
    (tmp / "full" / "keep.txt").write_text("mine\n")


def _state_and_nonempty(tmp: Path) -> None:
    state = State(Store(tmp / "state.sqlite"))
    state.store.close()
    _nonempty(tmp)


CASES = [
    Case("as-malformed", ["simulate", SNAP, "--run-instances", RUN, "--as", "arn:aws:iam::12:user"], "--as"),
    Case("as-not-arn", ["doctor", SNAP, "--run-instances", RUN, "--as", "alice"], "--as alice"),
    Case(
        "fix-out-under-file",
        ["fix", SNAP, "--instance", INSTANCE, "--out", "{tmp}/afile/fixed"],
        "afile is a file",
        setup=_file,
        watched=("afile",),
    ),
    Case(
        "fix-out-not-empty",
        ["fix", SNAP, "--instance", INSTANCE, "--out", "{tmp}/full"],
        "--force",
        setup=_nonempty,
        watched=("full/keep.txt",),
    ),
    Case(
        "serve-port-invalid",
        ["serve", "--port", "70000", "--state", "{tmp}/s.sqlite"],
        "--port 70000",
        absent=("s.sqlite",),
    ),
    Case(
        "serve-port-busy",
        ["serve", "--port", "{port}", "--state", "{tmp}/s.sqlite"],
        "port {port} on 127.0.0.1 is busy",
        absent=("s.sqlite",),
    ),
    Case(
        "serve-state-under-file",
        ["serve", "--port", "0", "--state", "{tmp}/afile/state.sqlite"],
        "--state {tmp}/afile/state.sqlite: cannot be created",
        setup=_file,
        watched=("afile",),
    ),
    Case(
        "serve-state-other-app",
        ["serve", "--port", "0", "--state", "{tmp}/other.db"],
        "another application",
        setup=_other_app,
        watched=("other.db",),
        absent=("other.db-wal", "other.db-shm"),
    ),
    Case(
        "serve-export-other-app",
        ["serve", "--state", "{tmp}/other.db", "--export", "{tmp}/exported"],
        "another application",
        setup=_other_app,
        watched=("other.db",),
        absent=("exported",),
    ),
    Case(
        "serve-export-missing-state",
        ["serve", "--state", "{tmp}/missing.sqlite", "--export", "{tmp}/exported"],
        "no such state file",
        absent=("missing.sqlite", "exported"),
    ),
    Case(
        "serve-export-not-empty",
        ["serve", "--state", "{tmp}/state.sqlite", "--export", "{tmp}/full"],
        "(use --force)",
        setup=_state_and_nonempty,
        watched=("state.sqlite", "full/keep.txt"),
    ),
    Case(
        "collect-profile-unknown", ["collect", "{tmp}/out", "--profile", "nosuch"], "--profile nosuch", absent=("out",)
    ),
    Case(
        "collect-endpoint-malformed",
        ["collect", "{tmp}/out", "--regions", "us-east-1", "--endpoint-url", "localhost:4566"],
        "--endpoint-url localhost:4566",
        absent=("out",),
    ),
    Case(
        "collect-endpoint-unreachable",
        ["collect", "{tmp}/out", "--regions", "us-east-1", "--endpoint-url", "http://127.0.0.1:{port}"],
        "could not connect to http://127.0.0.1:{port}",
        absent=("out",),
    ),
]


def _digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*") if p.is_file()
    }


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port something listens on (and, for collect, one that never answers: it accepts nothing)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_bad_input_exits_2_with_one_line(case: Case, tmp_path: Path, busy_port: int) -> None:
    case.setup(tmp_path)
    port = busy_port
    if case.id == "collect-endpoint-unreachable":
        with socket.socket() as s:  # a port nothing listens on
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
    fill = {"{tmp}": str(tmp_path), "{port}": str(port)}

    def sub(text: str) -> str:
        for k, v in fill.items():
            text = text.replace(k, v)
        return text

    before = _digests(tmp_path), _digests(EXAMPLE)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(ROOT / "src"),
        "HOME": str(tmp_path),
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
        "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    }
    done = subprocess.run(  # noqa: PLW1510 - the status is the point of the test
        [sys.executable, "-c", "from kmslaunch.cli.main import main; main()", *map(sub, case.args)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    out = done.stdout + done.stderr
    assert done.returncode == 2, out
    assert "Traceback" not in out
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("kmslaunch: "), out
    assert sub(case.says) in lines[0]
    assert _digests(tmp_path) == before[0] and _digests(EXAMPLE) == before[1]
    for rel in case.absent:
        assert not (tmp_path / rel).exists(), rel
    for rel in case.watched:
        assert (tmp_path / rel).exists()


def test_fix_out_in_an_unwritable_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Permission bits do not stop root (the tests may run as root): os.access is made to say what it says to
    anyone else."""
    monkeypatch.setattr(common.os, "access", lambda path, mode: Path(path) != tmp_path)
    res = CliRunner().invoke(cli, ["fix", SNAP, "--instance", INSTANCE, "--out", str(tmp_path / "fixed")])
    assert res.exit_code == 2 and isinstance(res.exception, SystemExit)
    assert f"--out {tmp_path / 'fixed'}: cannot be created: {tmp_path} is not writable" in res.output
    assert list(tmp_path.iterdir()) == []
