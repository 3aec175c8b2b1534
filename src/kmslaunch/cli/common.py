"""What every command shares: reading JSON input with clear errors, and exit codes."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NoReturn

import click

from kmslaunch.cli.jsonout import write_json
from kmslaunch.launch.result import LaunchResult, LaunchVerdict
from kmslaunch.policy.errors import KmslaunchError
from kmslaunch.snapshot.jsonio import decode, embedded_problem

EXIT_OK = 0
EXIT_DENIED = 1
EXIT_BAD_INPUT = 2
# The launch ran with what the snapshot holds, but a fact it lacks (an SCP not collected, another account's key
# policy) could refuse it: never 0, which a script reads as "will launch".
EXIT_UNSURE = 3


def bundled(path: Path) -> Path:
    """``path`` itself, unless it is one of the README's ``examples/…`` paths and is not there (kmslaunch installed
    from a wheel, run outside the repository): then the copy of the examples shipped inside the package."""
    if path.exists() or not path.parts or path.parts[0] != "examples":
        return path
    copy = Path(__file__).resolve().parent.parent.joinpath(*path.parts)
    return copy if copy.exists() else path


def read_json(path: Path) -> Any:
    """Read a JSON file, or fail with the file name and the position of the syntax error."""
    path = bundled(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        fail(f"{path}: cannot read: {exc.strerror or exc}")
    except UnicodeDecodeError:
        fail(f"{path}: not UTF-8 text")
    value, where, message = decode(text)
    if message is None and (inner := embedded_problem(value)) is not None:
        where, message = inner  # a policy document given as JSON text inside the file
    if message is not None:
        fail(f"{path}: {where}: {message}" if where else f"{path}: {message}")
    return value


def fail(message: str) -> NoReturn:
    click.echo(f"kmslaunch: {message}", err=True)
    sys.exit(EXIT_BAD_INPUT)


def fail_on(exc: KmslaunchError) -> NoReturn:
    fail(str(exc))


def check_out_dir(path: Path, flag: str, *, force: bool) -> None:
    """Fail, before any work, when the directory a command writes cannot be: under a file, unwritable, or not
    empty without --force. Nothing is created here: a command that ends up writing nothing leaves no trace."""
    if path.exists() and not path.is_dir():
        fail(f"{flag} {path}: exists and is not a directory")
    if path.is_dir():
        if not force and any(path.iterdir()):
            fail(f"{flag} {path}: is not empty: refusing to write over what is there (use --force)")
        if not os.access(path, os.W_OK | os.X_OK):
            fail(f"{flag} {path}: cannot write there (permission denied)")
        return
    parent = path.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        fail(f"{flag} {path}: cannot be created: {parent} is a file, not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        fail(f"{flag} {path}: cannot be created: {parent} is not writable")


def emit_json(data: object, *, flat: int | None = None) -> None:
    """``data`` as JSON on standard output, indented by 2; from depth ``flat`` on, a value per line, and lists
    may be iterators (``jsonout``: for reports too large to indent in full)."""
    write_json(data, sys.stdout.write, flat=flat)


def emit_lines(lines: Iterable[str]) -> None:
    """Print ``lines``, a thousand to a write: one ``click.echo`` a line costs more than making the line, seconds
    for the hundred thousand lines of an organization's report."""
    batch: list[str] = []
    for line in lines:
        batch.append(line)
        if len(batch) >= 1000:
            click.echo("\n".join(batch))
            batch.clear()
    if batch:
        click.echo("\n".join(batch))


def launch_exit(result: LaunchResult) -> int:
    """The exit status of a launch command: 0 runs, 1 fails (also where a missing fact could allow it: as far as
    anyone can tell it fails), 3 runs only if what the snapshot lacks allows it."""
    v = result.verdict
    if v is LaunchVerdict.RUNS:
        return EXIT_OK
    if v is LaunchVerdict.RUNS_UNLESS:
        return EXIT_UNSURE
    return EXIT_DENIED
