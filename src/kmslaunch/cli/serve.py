"""``kmslaunch serve``: the launch path behind a local AWS endpoint for the AWS CLI and boto3."""

from __future__ import annotations

import errno
import logging
import signal
import sqlite3
from pathlib import Path

import click

from kmslaunch.cli.common import check_out_dir, fail
from kmslaunch.policy.errors import KmslaunchError
from kmslaunch.server.app import Limits, Server
from kmslaunch.server.examples import IMAGES as EXAMPLE_IMAGES
from kmslaunch.server.examples import KEY_ALIAS as EXAMPLE_KEY_ALIAS
from kmslaunch.server.state import DEFAULT_ACCESS_KEY, DEFAULT_ACCOUNT, DEFAULT_SECRET, State
from kmslaunch.server.store import Store, StoreError
from kmslaunch.snapshot.save import save_snapshot

_DEFAULTS = Limits()


@click.command(
    "serve",
    epilog="""\b
Examples:
  kmslaunch serve --port 4566 --state .kmslaunch/state.sqlite
  aws --endpoint-url http://127.0.0.1:4566 sts get-caller-identity
  kmslaunch serve --state .kmslaunch/state.sqlite --export /tmp/endpoint-snap
  kmslaunch doctor /tmp/endpoint-snap --instance i-0123456789abcdef0""",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (loopback by default).")
@click.option(
    "--port", default=4566, show_default=True, type=int, help="Port to listen on, 0-65535 (0 picks a free one)."
)
@click.option(
    "--state",
    "state_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=Path(".kmslaunch/state.sqlite"),
    show_default=True,
    help="SQLite file holding the endpoint's accounts; created on first start, kept across restarts.",
)
@click.option(
    "--export",
    "export_dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Write the state as a snapshot to this directory and exit (for kmslaunch doctor).",
)
@click.option("--force", is_flag=True, help="With --export: write into DIR even if it is not empty.")
@click.option("-v", "--verbose", is_flag=True, help="Log every request.")
@click.option(
    "--max-body",
    type=click.IntRange(min=1),
    default=_DEFAULTS.max_body,
    show_default=True,
    help="Largest request body in bytes; a larger one is answered 413 before it is read.",
)
@click.option(
    "--request-timeout",
    type=click.FloatRange(min=0.1),
    default=_DEFAULTS.request_timeout,
    show_default=True,
    help="Seconds from a request's first byte to its last; a slower client is cut off with 408.",
)
@click.option(
    "--idle-timeout",
    type=click.FloatRange(min=0.1),
    default=_DEFAULTS.idle_timeout,
    show_default=True,
    help="Seconds a keep-alive connection may wait for its next request before it is closed.",
)
@click.option(
    "--max-connections",
    type=click.IntRange(min=1),
    default=_DEFAULTS.max_connections,
    show_default=True,
    help="Open connections held at once; beyond, a connection is answered 503 and closed.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1, max=256),
    default=_DEFAULTS.workers,
    show_default=True,
    help="Threads answering requests (idle connections hold none).",
)
def serve_command(
    host: str,
    port: int,
    state_path: Path,
    export_dir: Path | None,
    force: bool,
    verbose: bool,
    max_body: int,
    request_timeout: float,
    idle_timeout: float,
    max_connections: int,
    workers: int,
) -> None:
    """Serve IAM, STS, KMS, EC2, Auto Scaling, CloudTrail and Organizations locally, with every signature
    verified and every call authorized: encrypted launches fail here as they fail in AWS.

    On first start the state holds account 123456789012, whose root user has AWS's documented example key pair
    (AKIAIOSFODNN7EXAMPLE), and two example AMIs in us-east-1: ami-0e5a1f2b3c4d5e6f7, its root volume
    encrypted with alias/kmslaunch-example (a key with the default key policy), and ami-0a1b2c3d4e5f60718, not
    encrypted. Point the AWS CLI at it with --endpoint-url.
    """
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="%(asctime)s %(message)s")
    if export_dir is not None:
        if not state_path.is_file():
            fail(f"--state {state_path}: no such state file: nothing to export (it is not created)")
        check_out_dir(export_dir, "--export", force=force)
        state = _open_state(state_path)
        try:
            written = save_snapshot(
                state.world, export_dir, meta={"source": f"kmslaunch serve {state_path}"}, overwrite=force
            )
        except KmslaunchError as exc:
            fail(str(exc))
        except OSError as exc:
            fail(f"--export {export_dir}: cannot write the snapshot: {exc.strerror or exc}")
        finally:
            state.store.close()
        click.echo(f"wrote {len(written)} files to {export_dir}")
        return
    if not 0 <= port <= 65535:
        fail(f"--port {port}: not a port number (0-65535; 0 picks a free one)")
    # Bind first: a busy port is said before the state file is opened or created.
    try:
        limits = Limits(
            max_body=max_body,
            request_timeout=request_timeout,
            idle_timeout=idle_timeout,
            max_connections=max_connections,
            workers=workers,
        )
        server = Server(host, port, limits=limits)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            fail(f"port {port} on {host} is busy (another process listens there): choose another with --port")
        fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
    state = _open_state(state_path, server)
    server.state = state
    real_port = server.server_address[1]
    url = f"http://{host}:{real_port}"
    click.echo(f"kmslaunch endpoint on {url} (state: {state_path})")
    if state.fresh:
        click.echo(f"created account {DEFAULT_ACCOUNT}; its root user's keys are AWS's documented example pair")
        for image in EXAMPLE_IMAGES:
            how = f"encrypted with {EXAMPLE_KEY_ALIAS}" if image.encrypted else "not encrypted"
            click.echo(f"  example AMI {image.image_id} ({image.name}, us-east-1): root volume {how}")
    click.echo("use it with:")
    click.echo(f"  export AWS_ACCESS_KEY_ID={DEFAULT_ACCESS_KEY} AWS_SECRET_ACCESS_KEY={DEFAULT_SECRET}")
    click.echo("  export AWS_DEFAULT_REGION=us-east-1")
    click.echo(f"  aws --endpoint-url {url} sts get-caller-identity")

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # so that the state is flushed and closed below

    signal.signal(signal.SIGTERM, stop)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("stopped")
    finally:
        server.server_close()
        state.store.close()


def _open_state(state_path: Path, server: Server | None = None) -> State:
    try:
        # Serving, a fresh state starts with the example AMIs the README's story launches.
        return State(Store(state_path), examples=server is not None)
    except (KmslaunchError, sqlite3.DatabaseError, OSError) as exc:
        if server is not None:
            server.server_close()
        if isinstance(exc, StoreError):
            fail(str(exc))
        if isinstance(exc, OSError) and not state_path.exists():
            fail(f"--state {state_path}: cannot be created: {exc.strerror or exc}")
        fail(f"{state_path}: the stored state cannot be read ({exc}); it is left as it is")
