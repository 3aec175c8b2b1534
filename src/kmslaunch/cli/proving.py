"""``--prove`` for doctor and fix: the proof that each proposed fix grants nothing beyond the launch's own requests.

z3 is an optional dependency (``pip install 'kmslaunch[prove]'``): without it ``--prove`` says so and exits 2.
"""

from __future__ import annotations

import importlib.util
import json
from typing import TYPE_CHECKING, Any

import click

from kmslaunch.cli.common import fail

if TYPE_CHECKING:
    from kmslaunch.doctor.diagnose import Diagnosis
    from kmslaunch.prove.fixes import FixProof
    from kmslaunch.world.world import World

INSTALL = "--prove needs the z3 solver: pip install 'kmslaunch[prove]'"


def z3_installed() -> bool:
    return importlib.util.find_spec("z3") is not None


def require_z3() -> None:
    """Exit 2 with the install command when z3 is not installed."""
    if not z3_installed():
        fail(INSTALL)


def prove_plans(world: World, diag: Diagnosis) -> list[list[FixProof]]:
    """One proof per fix of every plan the diagnosis shows, in order."""
    from kmslaunch.prove.fixes import prove_fix  # noqa: PLC0415 - z3 is optional: imported only with --prove

    return [[prove_fix(world, plan, f) for f in plan.fixes] for plan in diag.plans]


def echo_proofs(proofs: list[list[FixProof]], *, err: bool = False) -> None:
    """The proofs in words, one line per changed document, and each counterexample as a request to paste."""
    click.echo("Proof that each fix grants nothing beyond the launch's own KMS calls:", err=err)
    if not any(proofs):
        click.echo("  no fix to prove", err=err)
    for plan in proofs:
        for fp in plan:
            for p in fp.proofs:
                click.echo(f"  [{fp.fix.kind}] {fp.fix.target}: {p.document}: {p.message}", err=err)
                if p.whole is not None:
                    click.echo(f"    the whole decision in this account ({p.whole})", err=err)
                if p.counterexample is not None:
                    click.echo(f"    request: {json.dumps(p.counterexample.to_json(), sort_keys=True)}", err=err)


def attach_json(out: dict[str, Any], proofs: list[list[FixProof]]) -> None:
    """A ``proof`` object in each fix of ``fix_plans``."""
    for plan_json, plan in zip(out.get("fix_plans", []), proofs, strict=False):
        for fix_json, fp in zip(plan_json.get("fixes", []), plan, strict=False):
            fix_json["proof"] = fp.to_json()


def all_proved(proofs: list[list[FixProof]]) -> bool:
    return all(fp.proved for plan in proofs for fp in plan)
