"""Command-line conventions: an example in every command's help, NO_COLOR and --color/--no-color, the
assumptions' confidence tags explained, and `kmslaunch --help` importing no subcommand."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from kmslaunch.cli.main import COMMANDS, LazyGroup, cli

ROOT = Path(__file__).parent.parent
ESC = "\x1b["


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_resolves_and_its_help_has_an_example(name: str) -> None:
    command = cli.get_command(click.Context(cli), name)
    assert command is not None and command.name == name
    res = CliRunner().invoke(cli, [name, "--help"])
    assert res.exit_code == 0
    assert "Examples:\n" in res.output and f"    kmslaunch {name}" in res.output, res.output


def test_group_help_lists_every_command_with_an_example() -> None:
    res = CliRunner().invoke(cli, ["--help"])
    assert res.exit_code == 0
    for name in COMMANDS:
        assert f"  {name} " in res.output
    assert "Examples:" in res.output and "--color / --no-color" in res.output


def test_help_imports_no_subcommand() -> None:
    code = (
        "import sys\n"
        "from kmslaunch.cli.main import main\n"
        "sys.argv = ['kmslaunch', '--help']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.startswith(('kmslaunch', 'botocore'))), file=sys.stderr)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert done.stderr.strip() == "['kmslaunch', 'kmslaunch.cli', 'kmslaunch.cli.main']"


@pytest.mark.parametrize(
    ("args", "env", "coloured"),
    [
        (["assumptions"], {}, True),  # a terminal (the runner's color=True stands for one)
        (["assumptions"], {"NO_COLOR": "1"}, False),
        (["assumptions"], {"NO_COLOR": ""}, True),  # no-color.org: set but empty does not count
        (["--no-color", "assumptions"], {}, False),
        (["--color", "assumptions"], {"NO_COLOR": "1"}, True),  # the flag wins over the environment
    ],
)
def test_colour_on_a_terminal(args: list[str], env: dict[str, str], coloured: bool) -> None:
    unset: dict[str, str | None] = {"NO_COLOR": None}  # whatever the environment running the tests says
    res = CliRunner().invoke(cli, args, env={**unset, **env}, color=True)
    assert res.exit_code == 0
    assert (ESC in res.output) is coloured


def test_color_forces_colour_into_a_pipe() -> None:
    unset: dict[str, str | None] = {"NO_COLOR": None}
    assert ESC not in CliRunner().invoke(cli, ["assumptions"], env=unset).output
    assert ESC in CliRunner().invoke(cli, ["--color", "assumptions"], env=unset).output


def test_assumptions_explain_their_tags() -> None:
    out = CliRunner().invoke(cli, ["assumptions"]).output
    head = out.split("\n\n", 1)[0]
    for tag in ("[doc]", "[inf]", "[unk]"):
        assert tag in head


def test_a_command_added_eagerly_is_listed_too() -> None:
    group = LazyGroup("g", lazy={"x": ("kmslaunch.cli.demo:demo_command", "The lazy one.")})
    group.add_command(click.Command("extra", help="The eager one."))
    out = CliRunner().invoke(group, ["--help"]).output
    assert "The lazy one." in out and "The eager one." in out


def _help_examples() -> list[tuple[str, list[str]]]:
    """Every example of every command's --help that names only bundled files (no placeholders, no network)."""
    found = []
    for name in sorted(COMMANDS):
        command = cli.get_command(click.Context(cli), name)
        assert command is not None and command.epilog
        text = command.epilog.replace("\\\n", " ")
        for line in text.splitlines():
            args = shlex.split(line.split("|")[0].split(">")[0])
            if args[:1] != ["kmslaunch"] or args[1:2] != [name] or name in ("serve", "collect"):
                continue
            if any(re.fullmatch(r"[A-Z_]+(\.json)?", a) or a.startswith("/tmp/") for a in args):
                continue
            found.append((name, [str(ROOT / a) if a.startswith("examples/") else a for a in args[1:]]))
    return found


@pytest.mark.parametrize(("name", "args"), _help_examples(), ids=lambda v: v if isinstance(v, str) else "")
def test_help_examples_run(name: str, args: list[str]) -> None:
    res = CliRunner().invoke(cli, args)
    assert res.exit_code in (0, 1, 3), res.output  # 2 would be bad input: the example would be wrong
    assert res.exception is None or isinstance(res.exception, SystemExit)
