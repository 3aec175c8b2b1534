"""``kmslaunch collect``: an account (or an organization) from live AWS, written as a snapshot."""

from __future__ import annotations

import sys
from pathlib import Path
from urllib.parse import urlsplit

import click

from kmslaunch.cli.common import EXIT_OK, fail
from kmslaunch.policy.errors import KmslaunchError


@click.command(
    "collect",
    epilog="""\b
Examples:
  kmslaunch collect snap --profile prod --regions us-east-1,eu-west-1
  kmslaunch collect org-snap --role-arn arn:aws:iam::111122223333:role/Audit \\
      --role-arn arn:aws:iam::444455556666:role/Audit
  kmslaunch collect snap --endpoint-url http://127.0.0.1:4566 --regions us-east-1""",
)
@click.argument("out", type=click.Path(path_type=Path))
@click.option("--profile", metavar="P", help="The AWS CLI profile to use (else the standard credential chain).")
@click.option("--regions", metavar="R,...", help="Regions to collect, comma-separated (default: the profile's).")
@click.option(
    "--role-arn",
    "role_arns",
    multiple=True,
    metavar="ARN",
    help="Assume this role to collect its account (repeat for each account of an organization).",
)
@click.option("--endpoint-url", metavar="URL", help="Send every call to this endpoint (a test double).")
@click.option("--force", is_flag=True, help="Write into OUT even if it is not empty.")
@click.option(
    "--workers", type=click.IntRange(1, 16), default=4, show_default=True, help="Calls in flight per account."
)
@click.option(
    "--max-attempts",
    type=click.IntRange(1, 20),
    default=10,
    show_default=True,
    help="Attempts per call in botocore's standard retry mode.",
)
@click.option("--page-size", type=click.IntRange(1, 1000), help="Items per page of list calls (as the AWS CLI's).")
def collect_command(
    out: Path,
    profile: str | None,
    regions: str | None,
    role_arns: tuple[str, ...],
    endpoint_url: str | None,
    force: bool,
    workers: int,
    page_size: int | None,
    max_attempts: int,
) -> None:
    """Collect a snapshot from live AWS into OUT, with read-only calls (see `kmslaunch.collect` for the IAM
    permissions). A refused call is recorded in OUT/snapshot.json and collection goes on.

    Exit status: 0 collected (refused calls are listed on stderr), 2 bad input or credentials.
    """
    try:
        from kmslaunch.collect.collector import collect  # noqa: PLC0415 - needs boto3, which only collect uses
    except ImportError as exc:  # pragma: no cover - boto3 missing
        fail(f"collect needs boto3 ({exc}): pip install boto3")
    if endpoint_url is not None:
        parts = urlsplit(endpoint_url)
        try:
            parts.port  # noqa: B018 - read for its check: a port that is not a number raises
        except ValueError:
            parts = urlsplit("")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            fail(f"--endpoint-url {endpoint_url}: not an http:// or https:// URL with a host")
    names = [r.strip() for r in (regions or "").split(",") if r.strip()]
    try:
        result = collect(
            out,
            profile=profile,
            regions=names,
            role_arns=role_arns,
            endpoint_url=endpoint_url,
            force=force,
            workers=workers,
            page_size=page_size,
            max_attempts=max_attempts,
            progress=sys.stderr.isatty(),
        )
    except KmslaunchError as exc:
        fail(str(exc))
    for e in result.errors:
        click.echo(f"kmslaunch: {e['call']} on {e['target']}: {e['code']}: {e['message']}", err=True)
    click.echo(
        f"collected {len(result.accounts)} account(s): {len(result.written)} files in {out}, "
        f"{result.stats.calls} calls, {result.stats.retries} retries, {len(result.errors)} refused"
    )
    raise SystemExit(EXIT_OK)
