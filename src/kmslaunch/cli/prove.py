"""``kmslaunch prove-no-new-access BEFORE.json AFTER.json``: prove that a changed policy document allows nothing
the old one did not, apart from the requests given with ``--allowing``."""

from __future__ import annotations

import json
from pathlib import Path

import click

from kmslaunch.cli.common import EXIT_BAD_INPUT, EXIT_DENIED, EXIT_OK, emit_json, fail, fail_on, read_json
from kmslaunch.cli.proving import require_z3
from kmslaunch.policy.errors import KmslaunchError, PolicyValidationError
from kmslaunch.policy.evaluate import build_context
from kmslaunch.policy.model import PolicyType
from kmslaunch.policy.parse import parse_policy
from kmslaunch.policy.principals import PrincipalType
from kmslaunch.policy.requestfile import load_request

_TYPES = {
    "key": PolicyType.KEY,
    "identity": PolicyType.IDENTITY,
    "boundary": PolicyType.PERMISSIONS_BOUNDARY,
    "scp": PolicyType.SCP,
    "rcp": PolicyType.RCP,
}


@click.command(
    "prove-no-new-access",
    epilog="""\b
Examples:
  kmslaunch prove-no-new-access examples/prove/key-before.json examples/prove/key-after.json \\
      --allowing examples/prove/launch-requests.json
  kmslaunch prove-no-new-access BEFORE.json AFTER.json --type identity --holder arn:aws:iam::111122223333:user/alice""",
)
@click.argument("before_file", type=click.Path(path_type=Path, dir_okay=False))
@click.argument("after_file", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--allowing",
    "allowing_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="A JSON list of requests (each as `kmslaunch authorize` reads one) that AFTER may allow anew.",
)
@click.option("--type", "ptype", type=click.Choice(sorted(_TYPES)), default="key", show_default=True)
@click.option("--key", "key_arn", help="Key policy: the key it is the policy of (it governs no other resource).")
@click.option("--holder", "holders", multiple=True, help="Identity policy: a user or role ARN it is attached to.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def prove_command(
    before_file: Path,
    after_file: Path,
    allowing_file: Path | None,
    ptype: str,
    key_arn: str | None,
    holders: tuple[str, ...],
    fmt: str,
) -> None:
    """Prove with the z3 solver that AFTER allows no request that BEFORE did not, apart from the --allowing
    requests: for every caller, action, resource and request context. When the proof fails, a request AFTER
    allows is printed, decided again by the engine. The combination with a request's other policies is sound
    (see README: "Proof that a fix grants nothing more").

    Exit status: 0 proved, 1 a counterexample, 2 bad input or a statement that cannot be encoded (named).
    """
    require_z3()
    # z3 is optional: the proof's modules import it, so they are imported once it is known to be there.
    from kmslaunch.prove.launch import Allowed  # noqa: PLC0415 - z3 is optional (above)
    from kmslaunch.prove.prove import Scope, prove_document  # noqa: PLC0415 - z3 is optional (above)

    policy_type = _TYPES[ptype]
    try:
        before = parse_policy(read_json(before_file), policy_type, before_file.name, source=str(before_file))
        after = parse_policy(read_json(after_file), policy_type, after_file.name, source=str(after_file))
    except PolicyValidationError as exc:
        fail_on(exc)
    allowing: list[Allowed] = []
    if allowing_file is not None:
        raw = read_json(allowing_file)
        if not isinstance(raw, list):
            fail(f"{allowing_file}: expected a JSON list of requests")
        for i, item in enumerate(raw):
            try:
                req, ps, _ = load_request(item, f"{allowing_file}[{i}]")
            except KmslaunchError as exc:
                fail(str(exc))
            who = req.principal
            allowing.append(
                Allowed(
                    principal=who.arn,
                    role_arn=who.principal_arn if who.type is PrincipalType.ASSUMED_ROLE else None,
                    role_path_known=who.role_path_known,
                    # A request of REQUESTS.json stands for itself whether or not its caller has a boundary.
                    has_boundary=ps.boundary is not None or None,
                    action=req.action,
                    resource=req.resource,
                    context=build_context(req, ps),
                )
            )
    users = tuple(h for h in holders if ":role/" not in h)
    roles = tuple(h for h in holders if ":role/" in h)
    scope = Scope(users=users, roles=roles, resource=key_arn)
    proof = prove_document(before, after, allowing, scope)
    if fmt == "json":
        emit_json({"proof": proof.to_json(), "scope": scope.describe()})
    else:
        click.echo(f"{after_file} against {before_file}" + (f" ({scope.describe()})" if scope.describe() else ""))
        click.echo(f"  {proof.message}")
        if proof.counterexample is not None:
            click.echo(f"  request: {json.dumps(proof.counterexample.to_json(), sort_keys=True)}")
    if proof.status == "proved":
        raise SystemExit(EXIT_OK)
    if proof.status == "counterexample":
        raise SystemExit(EXIT_DENIED)
    raise SystemExit(EXIT_BAD_INPUT if proof.status == "not-proved" else EXIT_DENIED)
