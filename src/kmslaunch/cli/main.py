"""The ``kmslaunch`` command group.

Subcommands are imported when they run, not when the group is built (click's "Lazily Loading Subcommands"):
``kmslaunch --help`` and shell completion import click and this module only, not the policy engine, the world
or botocore. The group's listing therefore shows the short help written here, next to each command's module.
"""

from __future__ import annotations

import importlib
import os

import click

from kmslaunch import __version__

# name -> (module:attribute, the line `kmslaunch --help` shows for it)
COMMANDS: dict[str, tuple[str, str]] = {
    "assumptions": (
        "kmslaunch.cli.assumptions:assumptions_command",
        "Where AWS documents nothing: what kmslaunch chose.",
    ),
    "audit": ("kmslaunch.cli.audit:audit_command", "Simulate every launch path of a snapshot; lint its policies."),
    "authorize": ("kmslaunch.cli.authorize:authorize_command", "Decide one request as AWS would, and say why."),
    "check": (
        "kmslaunch.cli.check:check_command",
        "Before terraform apply: would the plan's launches fail on KMS?",
    ),
    "collect": ("kmslaunch.cli.collect:collect_command", "Collect a snapshot from live AWS, with read-only calls."),
    "demo": ("kmslaunch.cli.demo:demo_command", "The Knowledge Center story: failure, diagnosis, fix, relaunch."),
    "doctor": ("kmslaunch.cli.doctor:doctor_command", "Diagnose a launch: the refused KMS call, why, and the fix."),
    "fix": ("kmslaunch.cli.doctor:fix_command", "Write a copy of a snapshot with the verified fix applied."),
    "impact": (
        "kmslaunch.cli.impact:impact_command",
        "What a key or policy change breaks, across every launch path of a snapshot.",
    ),
    "prove-no-new-access": (
        "kmslaunch.cli.prove:prove_command",
        "Prove that a changed policy allows nothing beyond given requests.",
    ),
    "serve": ("kmslaunch.cli.serve:serve_command", "A local AWS endpoint where the AWS CLI reproduces the failure."),
    "simulate": (
        "kmslaunch.cli.simulate:simulate_command",
        "Replay a launch in a snapshot: each KMS call and its decision.",
    ),
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def __init__(self, *args: object, lazy: dict[str, tuple[str, str]], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.lazy = lazy

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy:
            module, _, attr = self.lazy[cmd_name][0].partition(":")
            command = getattr(importlib.import_module(module), attr)
            assert isinstance(command, click.Command)
            return command
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # The short help written in COMMANDS, so that listing the commands imports none of them; a command added
        # with add_command is listed with its own.
        short = {name: help_ for name, (_, help_) in self.lazy.items()}
        short.update({name: c.get_short_help_str(limit=formatter.width) for name, c in self.commands.items()})
        rows = sorted(short.items())
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def _colour(ctx: click.Context, param: click.Parameter, value: bool | None) -> None:
    """--color forces colour (also into a pipe), --no-color and NO_COLOR (https://no-color.org: set and not
    empty) remove it; otherwise click colours a terminal only. Subcommands' contexts inherit ``ctx.color``."""
    if value is None and os.environ.get("NO_COLOR"):
        value = False
    ctx.color = value


@click.group(
    cls=LazyGroup,
    lazy=COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="""\b
Examples:
  kmslaunch demo
  kmslaunch doctor examples/kc-iam-user/snapshot --instance i-056cc6fd323c6308f
  kmslaunch --no-color doctor SNAPSHOT --asg web | less

Run `kmslaunch COMMAND --help` for a command's options and examples.""",
)
@click.option(
    "--color/--no-color",
    default=None,
    expose_value=False,
    is_eager=True,
    callback=_colour,
    help="Colour the output even when it is not a terminal, or never (also NO_COLOR=1). Default: on a terminal.",
)
@click.version_option(__version__, prog_name="kmslaunch")
def cli() -> None:
    """Reproduce, explain and fix EC2 launches that fail on KMS-encrypted EBS volumes."""


def main() -> None:
    cli()
