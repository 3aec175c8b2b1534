"""``kmslaunch assumptions``: where AWS documents nothing, what kmslaunch chose."""

from __future__ import annotations

import click

from kmslaunch.assumptions import ASSUMPTIONS, render_markdown
from kmslaunch.cli.common import emit_json

LEGEND = (
    "Each choice carries its confidence:\n"
    "  [doc] AWS documents it\n"
    "  [inf] inferred from AWS's documentation or from real logs\n"
    "  [unk] AWS documents nothing: this is kmslaunch's choice"
)


@click.command(
    "assumptions",
    epilog="""\b
Examples:
  kmslaunch assumptions
  kmslaunch assumptions --format json
  kmslaunch assumptions --format markdown > docs/assumptions.md""",
)
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text", show_default=True)
def assumptions_command(fmt: str) -> None:
    """List the choices kmslaunch makes where AWS's behaviour is not documented, with sources and confidence:
    [doc] documented by AWS, [inf] inferred from documentation or real logs, [unk] undocumented, a choice."""
    if fmt == "markdown":
        click.echo(render_markdown(), nl=False)
    elif fmt == "json":
        emit_json(
            [
                {"id": a.id, "topic": a.topic, "choice": a.choice, "source": a.source, "confidence": a.confidence.value}
                for a in ASSUMPTIONS
            ]
        )
    else:
        click.echo(LEGEND)
        click.echo("")
        for a in ASSUMPTIONS:
            click.echo(click.style(f"{a.id} [{a.confidence.value}]", bold=True) + f" {a.topic}")
            click.echo(f"  {a.choice}")
            click.echo(click.style(f"  source: {a.source}", dim=True))
