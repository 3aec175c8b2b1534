"""The ``kmslaunch`` command group."""

from __future__ import annotations

import click

from kmslaunch import __version__
from kmslaunch.cli.assumptions import assumptions_command
from kmslaunch.cli.audit import audit_command
from kmslaunch.cli.authorize import authorize_command
from kmslaunch.cli.collect import collect_command
from kmslaunch.cli.demo import demo_command
from kmslaunch.cli.doctor import doctor_command, fix_command
from kmslaunch.cli.serve import serve_command
from kmslaunch.cli.simulate import simulate_command


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="kmslaunch")
def cli() -> None:
    """Reproduce, explain and fix EC2 launches that fail on KMS-encrypted EBS volumes."""


cli.add_command(authorize_command)
cli.add_command(demo_command)
cli.add_command(simulate_command)
cli.add_command(doctor_command)
cli.add_command(fix_command)
cli.add_command(serve_command)
cli.add_command(assumptions_command)
cli.add_command(collect_command)
cli.add_command(audit_command)


def main() -> None:
    cli()
