"""Time ``kmslaunch check`` on a generated Terraform plan: 50 keys and 200 launch templates with 200 Auto Scaling
groups (half the keys leave out Auto Scaling's service-linked role, so half the groups fail and are diagnosed),
over the bundled pre-flight account snapshot. Target: under 5 s. Baselines measured in the same run:
``json.loads`` of the plan's text, and ``audit`` of the world the plan resolves to (the same groups, launched
by the same engine, as a snapshot would hold them after apply).

    .venv/bin/python bench/bench_check.py [--repeat 3] [--groups 200] [--keys 50]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from kmslaunch.audit.engine import audit
from kmslaunch.preflight.check import check_plan
from kmslaunch.preflight.planjson import PlanBuilder
from kmslaunch.preflight.resolve import resolve_plan
from kmslaunch.preflight.scenarios import ACCOUNT, AMI, REGION, account_world, key_policy
from kmslaunch.preflight.terraform import parse_terraform_plan
from kmslaunch.snapshot.load import load_snapshot
from kmslaunch.snapshot.save import save_snapshot


def best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def make_plan(groups: int, keys: int) -> dict[str, object]:
    """Keys ``aws_kms_key.k<i>``, templates ``aws_launch_template.pool<g>`` encrypting with them, and each
    group in its own instance of a module (``module.pool["<g>"]``) naming its template."""
    b = PlanBuilder(REGION, ACCOUNT)
    for k in range(keys):
        b.add(
            f"aws_kms_key.k{k}", {"is_enabled": True, "key_usage": "ENCRYPT_DECRYPT", "policy": key_policy(k % 2 == 0)}
        )
    for g in range(groups):
        b.add(
            f"aws_launch_template.pool{g}",
            {
                "name": f"pool-{g}",
                "image_id": AMI,
                "block_device_mappings": [
                    {"device_name": "/dev/xvda", "ebs": [{"encrypted": "true", "volume_size": 30}]}
                ],
            },
            refs={
                "block_device_mappings[0].ebs[0].kms_key_id": [
                    f"aws_kms_key.k{g % keys}.arn",
                    f"aws_kms_key.k{g % keys}",
                ]
            },
        )
        b.add(
            f'module.pool["{g}"].aws_autoscaling_group.this',
            # The module's for_each key names the template: known while planning, so in ``after``.
            {
                "name": f"pool-{g}",
                "min_size": 1,
                "max_size": 2,
                "launch_template": [{"name": f"pool-{g}", "version": "$Latest"}],
            },
        )
    return b.to_json()


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--groups", type=int, default=200)
    ap.add_argument("--keys", type=int, default=50)
    args = ap.parse_args()
    text = json.dumps(make_plan(args.groups, args.keys), indent=2)
    with tempfile.TemporaryDirectory() as tmp:
        save_snapshot(account_world(), Path(tmp) / "snapshot")
        snap = load_snapshot(Path(tmp) / "snapshot")
    loads_s = best(lambda: json.loads(text), args.repeat)
    parse_s = best(lambda: parse_terraform_plan(json.loads(text), "plan.json", text), args.repeat)
    plan = parse_terraform_plan(json.loads(text), "plan.json", text)
    report = check_plan(plan, snap)
    check_s = best(lambda: check_plan(parse_terraform_plan(json.loads(text), "plan.json", text), snap), args.repeat)
    world = resolve_plan(plan, snap).world
    audited = audit(world)
    audit_s = best(lambda: audit(world), args.repeat)
    print(
        f"plan: {len(text) / 1e6:.1f} MB, {len(plan.resources)} resources; {len(report.paths)} launch paths, "
        f"{len(report.failing)} failing (audit of the applied world: {len(audited.paths)} paths)"
    )
    print(f"{'step':<44}{'best s':>10}{'x json.loads':>14}")
    for name, s in (
        ("json.loads(plan) (baseline)", loads_s),
        ("read the plan (parse_terraform_plan)", parse_s),
        ("kmslaunch check (read, resolve, simulate)", check_s),
        ("audit of the same world (baseline)", audit_s),
    ):
        print(f"{name:<44}{s:>10.3f}{s / loads_s:>14.1f}")
    verdict = "meets" if check_s < 5 else "MISSES"
    print(f"check {verdict} the 5 s target; check / audit of the same world: {check_s / audit_s:.2f}")


if __name__ == "__main__":
    main()
