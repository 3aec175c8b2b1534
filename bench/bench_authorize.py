"""Warm authorization decisions per second, one thread, for a realistic KMS CreateGrant request.

Run by hand: ``.venv/bin/python bench/bench_authorize.py`` (``--profile`` adds a cProfile of both paths;
``-n`` sets the iterations per repetition; ``--against DIR`` times another checkout's ``src`` in a child
process, alternating repetitions with this one). See bench/README.md for what the figures mean.

The request is what EC2 sends when it attaches an encrypted EBS volume for a role session: kms:CreateGrant
through EC2 (kms:ViaService, kms:GrantIsForAWSResource), decided against a six-statement customer key policy,
five identity policies, and one SCP level. It is allowed, so every layer is evaluated: no Deny short-circuits.
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import json
import os
import pstats
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kmslaunch.policy.evaluate import PolicySet, Request, authorize
from kmslaunch.policy.requestfile import load_request

ACCOUNT = "111122223333"
KEY = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/app/app-role"
SESSION = f"arn:aws:sts::{ACCOUNT}:assumed-role/app-role/i-0123456789abcdef0"
V = "2012-10-17"

# The console's default key policy (administrators, users, persistent resources) plus the two statements
# teams add most: a network perimeter Deny and an EC2-only use statement for the whole account.
KEY_POLICY: dict[str, Any] = {
    "Version": V,
    "Id": "key-consolepolicy-3",
    "Statement": [
        {
            "Sid": "Enable IAM User Permissions",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
            "Action": "kms:*",
            "Resource": "*",
        },
        {
            "Sid": "Allow access for Key Administrators",
            "Effect": "Allow",
            "Principal": {"AWS": [f"arn:aws:iam::{ACCOUNT}:role/KeyAdmin", f"arn:aws:iam::{ACCOUNT}:user/secops"]},
            "Action": [
                "kms:Create*",
                "kms:Describe*",
                "kms:Enable*",
                "kms:List*",
                "kms:Put*",
                "kms:Update*",
                "kms:Revoke*",
                "kms:Disable*",
                "kms:Get*",
                "kms:Delete*",
                "kms:TagResource",
                "kms:UntagResource",
                "kms:ScheduleKeyDeletion",
                "kms:CancelKeyDeletion",
            ],
            "Resource": "*",
        },
        {
            "Sid": "Allow use of the key",
            "Effect": "Allow",
            "Principal": {"AWS": [ROLE, f"arn:aws:iam::{ACCOUNT}:role/batch"]},
            "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
            "Resource": "*",
        },
        {
            "Sid": "Allow attachment of persistent resources",
            "Effect": "Allow",
            "Principal": {"AWS": [ROLE, f"arn:aws:iam::{ACCOUNT}:role/batch"]},
            "Action": ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"],
            "Resource": "*",
            "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}},
        },
        {
            "Sid": "Deny outside the corporate network",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "kms:*",
            "Resource": "*",
            "Condition": {
                "NotIpAddress": {"aws:SourceIp": ["10.0.0.0/8", "192.168.0.0/16", "203.0.113.0/24"]},
                "Bool": {"aws:ViaAWSService": "false"},
            },
        },
        {
            "Sid": "Allow use through EC2 for the account",
            "Effect": "Allow",
            "Principal": {"AWS": "*"},
            "Action": ["kms:Decrypt", "kms:GenerateDataKeyWithoutPlaintext", "kms:CreateGrant", "kms:DescribeKey"],
            "Resource": "*",
            "Condition": {
                "StringEquals": {"kms:ViaService": "ec2.us-east-1.amazonaws.com", "kms:CallerAccount": ACCOUNT}
            },
        },
    ],
}

IDENTITY_POLICIES: list[dict[str, Any]] = [
    {
        "name": "AmazonEC2FullAccess",
        "document": {
            "Version": V,
            "Statement": [
                {"Effect": "Allow", "Action": "ec2:*", "Resource": "*"},
                {"Effect": "Allow", "Action": "elasticloadbalancing:*", "Resource": "*"},
                {"Effect": "Allow", "Action": "cloudwatch:*", "Resource": "*"},
                {"Effect": "Allow", "Action": "autoscaling:*", "Resource": "*"},
                {
                    "Effect": "Allow",
                    "Action": "iam:CreateServiceLinkedRole",
                    "Resource": "*",
                    "Condition": {
                        "StringEquals": {
                            "iam:AWSServiceName": [
                                "autoscaling.amazonaws.com",
                                "ec2scheduled.amazonaws.com",
                                "elasticloadbalancing.amazonaws.com",
                                "spot.amazonaws.com",
                            ]
                        }
                    },
                },
            ],
        },
    },
    {
        "name": "app-s3",
        "document": {
            "Version": V,
            "Statement": [
                {
                    "Sid": "ReadWriteObjects",
                    "Effect": "Allow",
                    "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                    "Resource": "arn:aws:s3:::app-data-111122223333/*",
                },
                {
                    "Sid": "ListOwnPrefix",
                    "Effect": "Allow",
                    "Action": "s3:ListBucket",
                    "Resource": "arn:aws:s3:::app-data-111122223333",
                    "Condition": {"StringLike": {"s3:prefix": ["app/*", "shared/*"]}},
                },
            ],
        },
    },
    {
        "name": "app-kms",
        "document": {
            "Version": V,
            "Statement": [
                {
                    "Sid": "UseKeyThroughEC2",
                    "Effect": "Allow",
                    "Action": [
                        "kms:CreateGrant",
                        "kms:Decrypt",
                        "kms:GenerateDataKeyWithoutPlaintext",
                        "kms:ReEncrypt*",
                    ],
                    "Resource": f"arn:aws:kms:us-east-1:{ACCOUNT}:key/*",
                    "Condition": {
                        "StringEquals": {
                            "kms:ViaService": ["ec2.us-east-1.amazonaws.com", "ec2.eu-west-1.amazonaws.com"],
                            "kms:CallerAccount": ACCOUNT,
                        }
                    },
                },
                {"Sid": "DescribeKeys", "Effect": "Allow", "Action": "kms:DescribeKey", "Resource": "*"},
            ],
        },
    },
    {
        "name": "deny-outside-regions",
        "document": {
            "Version": V,
            "Statement": [
                {
                    "Sid": "DenyOutsideApprovedRegions",
                    "Effect": "Deny",
                    "NotAction": [
                        "iam:*",
                        "organizations:*",
                        "route53:*",
                        "cloudfront:*",
                        "support:*",
                        "sts:*",
                        "budgets:*",
                    ],
                    "Resource": "*",
                    "Condition": {"StringNotEquals": {"aws:RequestedRegion": ["us-east-1", "eu-west-1"]}},
                }
            ],
        },
    },
    {
        "name": "team-tags",
        "document": {
            "Version": V,
            "Statement": [
                {
                    "Sid": "ManageTeamInstances",
                    "Effect": "Allow",
                    "Action": ["ec2:StartInstances", "ec2:StopInstances", "ec2:RebootInstances"],
                    "Resource": f"arn:aws:ec2:*:{ACCOUNT}:instance/*",
                    "Condition": {"StringEquals": {"aws:ResourceTag/team": "${aws:PrincipalTag/team}"}},
                },
                {
                    "Sid": "UseTeamKeys",
                    "Effect": "Allow",
                    "Action": ["kms:Encrypt", "kms:Decrypt", "kms:CreateGrant"],
                    "Resource": f"arn:aws:kms:*:{ACCOUNT}:key/*",
                    "Condition": {"StringEquals": {"aws:ResourceTag/team": "${aws:PrincipalTag/team}"}},
                },
            ],
        },
    },
]

SCP_LEVEL: list[dict[str, Any]] = [
    {
        "name": "FullAWSAccess",
        "document": {"Version": V, "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]},
    },
    {
        "name": "protect-keys",
        "document": {
            "Version": V,
            "Statement": [
                {
                    "Sid": "OnlyKeyAdminsManageKeys",
                    "Effect": "Deny",
                    "Action": [
                        "kms:ScheduleKeyDeletion",
                        "kms:DisableKey",
                        "kms:PutKeyPolicy",
                        "kms:CreateGrant",
                        "kms:RevokeGrant",
                    ],
                    "Resource": "*",
                    "Condition": {
                        "ArnNotLike": {
                            "aws:PrincipalArn": ["arn:aws:iam::*:role/KeyAdmin", "arn:aws:iam::*:role/app/*"]
                        },
                        "BoolIfExists": {"aws:ViaAWSService": "false"},
                    },
                }
            ],
        },
    },
]

REQUEST: dict[str, Any] = {
    "principal": SESSION,
    "principal_arn": ROLE,
    "principal_tags": {"team": "platform"},
    "action": "kms:CreateGrant",
    "resource": KEY,
    "context": {
        "aws:SourceIp": "10.20.30.40",
        "aws:ViaAWSService": True,
        "aws:RequestedRegion": "us-east-1",
        "aws:ResourceTag/team": "platform",
        "kms:ViaService": "ec2.us-east-1.amazonaws.com",
        "kms:GrantIsForAWSResource": True,
    },
    "identity_policies": IDENTITY_POLICIES,
    "resource_policy": KEY_POLICY,
    "scps": [SCP_LEVEL],
}
# The part of the request a caller sends on the wire, for the json.dumps baseline.
WIRE = {k: REQUEST[k] for k in ("principal", "action", "resource", "context")}


def best_rate(fn: Callable[[], object], n: int, reps: int) -> float:
    """Calls per second: the best of ``reps`` timings of ``n`` calls (the least disturbed by other load)."""
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, time.perf_counter() - t0)
    return n / best


def dict_lookups() -> int:
    """Baseline: 40 dict lookups in a Python loop, about as many as one decision makes on the context."""
    d = WIRE["context"]
    hits = 0
    for _ in range(10):
        for k in ("aws:SourceIp", "kms:ViaService", "aws:RequestedRegion", "missing"):
            if k in d:
                hits += 1
    return hits


BASELINE = "baseline: json.dumps(request)"
FAST = "authorize (no reasons)"
EXPLAIN = "authorize (explain=True)"
NEAR = "explain=True + near_misses read"
CEDAR = "cedarpy is_authorized_batch"
TARGETS = {FAST: 150_000, EXPLAIN: 30_000}
CEDAR_FACTOR = 5  # the explained path against cedarpy's batch API, in the same run


def kmslaunch_rows() -> list[tuple[str, Callable[[], object]]]:
    """The rows timed in this process and, with --against, in the other checkout's."""
    req, ps, _ = load_request(REQUEST, "bench")

    def run_fast(req: Request = req, ps: PolicySet = ps) -> object:
        return authorize(req, ps)

    def run_explain(req: Request = req, ps: PolicySet = ps) -> object:
        return authorize(req, ps, explain=True)

    def run_near(req: Request = req, ps: PolicySet = ps) -> object:
        return authorize(req, ps, explain=True).near_misses

    # As the world decides (world/authz.py): a new PolicySet of the same Policy objects for every request.
    parts = {f.name: getattr(ps, f.name) for f in dataclasses.fields(ps) if f.init}

    def run_fresh(req: Request = req) -> object:
        return authorize(req, PolicySet(**parts))

    def run_fresh_explain(req: Request = req) -> object:
        return authorize(req, PolicySet(**parts), explain=True)

    return [
        ("baseline: 40 dict lookups", dict_lookups),
        (BASELINE, lambda: json.dumps(WIRE)),
        (FAST, run_fast),
        (EXPLAIN, run_explain),
        (NEAR, run_near),
        ("no reasons, new PolicySet each", run_fresh),
        ("explain=True, new PolicySet each", run_fresh_explain),
    ]


def cedar_row(n: int) -> tuple[str, Callable[[], object], int] | None:
    """cedarpy's batch API on the same policies and request (bench/cedar_equivalent.py), when installed: one
    call decides ``batch`` requests, so the rate counts decisions, not calls."""
    try:
        import cedarpy  # type: ignore[import-not-found]  # noqa: PLC0415 - optional: pip install cedarpy (dev extra)
    except ImportError:
        return None
    sys.path.insert(0, str(Path(__file__).parent))
    from cedar_equivalent import cedar_policies, cedar_request  # noqa: PLC0415 - beside this script, as cedarpy

    policies = cedarpy.PolicySet.from_str(cedar_policies(KEY_POLICY, IDENTITY_POLICIES, [SCP_LEVEL]))
    entities = cedarpy.Entities.from_json_str("[]")
    batch = [cedar_request(REQUEST)] * min(n, 1000)
    first = cedarpy.is_authorized_batch(batch[:1], policies, entities)[0]
    assert str(first.decision) == "Decision.Allow", first
    return CEDAR, lambda: cedarpy.is_authorized_batch(batch, policies, entities), len(batch)


def measure(n: int, reps: int, *, cedar: bool) -> dict[str, float]:
    """Decisions per second of each row, best of ``reps``."""
    rows = [(name, fn, 1) for name, fn in kmslaunch_rows()]
    if cedar and (row := cedar_row(n)) is not None:
        rows.append(row)
    rates = {}
    for name, fn, per_call in rows:
        fn()  # warm: compiled patterns, candidate statements, plans
        calls = max(1, n // per_call)
        rates[name] = best_rate(fn, calls, reps) * per_call
    return rates


def child_rates(against: Path, n: int) -> dict[str, float]:
    """One repetition of the kmslaunch rows in a new process that imports kmslaunch from ``against``."""
    src = against / "src" if (against / "src" / "kmslaunch").is_dir() else against
    env = {**os.environ, "PYTHONPATH": str(src)}
    out = subprocess.run(
        [sys.executable, __file__, "--rates-json", "-n", str(n), "--reps", "1"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    rates: dict[str, float] = json.loads(out.stdout.splitlines()[-1])
    return rates


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=20_000, help="iterations per repetition (default 20000)")
    ap.add_argument("--reps", type=int, default=5, help="repetitions; the best is reported (default 5)")
    ap.add_argument("--profile", action="store_true", help="also profile both paths with cProfile")
    ap.add_argument(
        "--against",
        type=Path,
        metavar="DIR",
        help="also time the kmslaunch in DIR (a checkout, or DIR/src holding kmslaunch), alternating repetitions",
    )
    ap.add_argument("--rates-json", action="store_true", help=argparse.SUPPRESS)  # the child of --against
    args = ap.parse_args(argv)

    if args.rates_json:
        print(json.dumps(measure(args.n, args.reps, cedar=False)))
        return 0

    req, ps, warnings = load_request(REQUEST, "bench")
    fast = authorize(req, ps)
    full = authorize(req, ps, explain=True)
    assert fast.verdict is full.verdict, (fast, full)
    statements = sum(len(p.statements) for p in ps.identity) + sum(len(p.statements) for lv in ps.scps for p in lv)
    statements += len(ps.resource.statements) if ps.resource else 0
    print(f"request: {req.action} by {req.principal.arn}")
    print(
        f"policies: key policy {len(ps.resource.statements) if ps.resource else 0} statements, "
        f"{len(ps.identity)} identity policies, {len(ps.scps)} SCP level ({statements} statements in all); "
        f"{len(warnings)} warnings"
    )
    print(f"decision: {fast.verdict.value}; decided by: {', '.join(r.statement for r in full.decided_by)}")
    print(f"near misses: {len(full.near_misses)}")
    print(f"python {sys.version.split()[0]}, best of {args.reps} x {args.n} iterations, one thread")
    if args.against:
        print(f"against: {args.against} (in a child process, repetitions alternating with this one)")
    print()

    mine: dict[str, float] = {}
    theirs: dict[str, float] = {}
    for _ in range(args.reps):
        # Alternate, so that a burst of load on the shared machine hits both sides alike.
        if args.against:
            for k, v in child_rates(args.against, args.n).items():
                theirs[k] = max(theirs.get(k, 0.0), v)
        for k, v in measure(args.n, 1, cedar=True).items():
            mine[k] = max(mine.get(k, 0.0), v)

    base = mine[BASELINE]
    header = f"{'what':<34}{'per second':>14}{'µs each':>10}{'vs json.dumps':>15}"
    if args.against:
        header += f"{'against':>12}{'speed-up':>10}"
    print(header)
    for name, rate in mine.items():
        line = f"{name:<34}{rate:>14,.0f}{1e6 / rate:>10.2f}{rate / base:>15.2f}"
        if name in theirs:
            line += f"{theirs[name]:>12,.0f}{rate / theirs[name]:>9.2f}x"
        print(line)
    print()
    for name, target in TARGETS.items():
        got = mine[name]
        verdict = "meets" if got >= target else "is below"
        print(f"{name} {verdict} the target of {target:,}/s ({got / target:.0%} of it)")
    if CEDAR in mine:
        ratio = mine[EXPLAIN] / mine[CEDAR]
        verdict = "meets" if ratio >= CEDAR_FACTOR else "is below"
        print(f"{EXPLAIN} is {ratio:.1f}x cedarpy's batch API: {verdict} the target of {CEDAR_FACTOR}x")
    else:
        print("cedarpy is not installed (pip install cedarpy): no Cedar row")

    if args.profile:
        for title, explain in (("fast-path", False), ("explained", True)):
            prof = cProfile.Profile()
            prof.enable()
            for _ in range(args.n):
                authorize(req, ps, explain=explain)
            prof.disable()
            print(f"\ncProfile of {args.n} {title} decisions (by own time):")
            pstats.Stats(prof).strip_dirs().sort_stats("tottime").print_stats(15)
    return 0


if __name__ == "__main__":
    sys.exit(main())
