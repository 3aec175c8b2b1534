"""``kmslaunch assumptions``: where AWS documents nothing, what kmslaunch chose."""

from __future__ import annotations

import click

from kmslaunch.assumptions import ASSUMPTIONS, render_markdown
from kmslaunch.cli.common import emit_json


@click.command("assumptions")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text", show_default=True)
def assumptions_command(fmt: str) -> None:
    """List the choices kmslaunch makes where AWS's behaviour is not documented, with sources and confidence."""
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
        for a in ASSUMPTIONS:
            click.echo(click.style(f"{a.id} [{a.confidence.value}]", bold=True) + f" {a.topic}")
            click.echo(f"  {a.choice}")
            click.echo(click.style(f"  source: {a.source}", dim=True))
