"""``kmslaunch authorize REQUEST.json``: one request, decided and explained."""

from __future__ import annotations

from pathlib import Path

import click

from kmslaunch.cli.common import EXIT_DENIED, EXIT_OK, emit_json, fail_on, read_json
from kmslaunch.policy.errors import PolicyValidationError
from kmslaunch.policy.evaluate import authorize
from kmslaunch.policy.explain import render_decision
from kmslaunch.policy.messages import access_denied_message
from kmslaunch.policy.requestfile import load_request


@click.command(
    "authorize",
    epilog="""\b
Examples:
  kmslaunch authorize examples/requests/create-grant-no-iam.json
  kmslaunch authorize REQUEST.json --format json""",
)
@click.argument("request_file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def authorize_command(request_file: Path, fmt: str) -> None:
    """Decide one request as AWS would, and say why.

    REQUEST_FILE holds the principal, action, resource, request context and every policy that takes part
    (identity, key/resource, boundary, session, SCPs and RCPs by level, grants). Exit status: 0 allowed,
    1 denied, 2 bad input.
    """
    data = read_json(request_file)
    try:
        req, ps, warnings = load_request(data, str(request_file))
    except PolicyValidationError as exc:
        fail_on(exc)
    decision = authorize(req, ps, explain=True)
    message = access_denied_message(req.principal.arn, req.action, req.resource, decision)
    if fmt == "json":
        out = decision.to_json()
        out["request"] = {"principal": req.principal.arn, "action": req.action, "resource": req.resource}
        if not decision.allowed:
            out["message"] = message
        out["warnings"] = [w.to_json() for w in warnings]
        emit_json(out)
    else:
        click.echo(f"{req.action} by {req.principal.arn}")
        click.echo(f"  on {req.resource}")
        for line in render_decision(decision, message=message):
            click.echo(line)
        for w in warnings:
            click.echo(click.style(w.render(str(request_file)), fg="yellow"), err=True)
    raise SystemExit(EXIT_OK if decision.allowed else EXIT_DENIED)
