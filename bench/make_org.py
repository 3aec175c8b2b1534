"""A synthetic organization snapshot for the audit benchmark: 50 accounts, 2,000 principals and 500 keys at
scale 1.0, with the mixes real organizations have.

Per account (in us-east-1): users and roles, most with AmazonEC2FullAccess and a shared "kms-ebs-users" policy,
some with EC2 only (their launches fail on IAM), some with inline copies of the same policy (grouped by the
audit), some with no EC2 at all; keys with AWS's default policy, keys naming one role as key user, keys with a
SourceIp perimeter Deny and no exemption for EC2, keys with a pinned kms:CallerAccount; two launch templates and
two Auto Scaling groups, one of which uses a key whose policy does not name Auto Scaling's service-linked role;
encryption by default on in every third account. The organization has FullAWSAccess at the root.

``--factor F`` makes the organization F times as big (F x 50 accounts, F x 2,000 principals, F x 500 keys: each
account as at 1); ``--scale S`` keeps 50 accounts and puts S times the principals and keys in each.

    python bench/make_org.py OUT [--factor 4 | --scale 1.0]
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from kmslaunch.policy.model import PolicyType
from kmslaunch.snapshot.save import save_snapshot
from kmslaunch.world import builder as b
from kmslaunch.world.documents import Document
from kmslaunch.world.organizations import SCP, OrgPolicy
from kmslaunch.world.world import World

REGION = "us-east-1"
ACCOUNTS = 50
PRINCIPALS = 2000
KEYS = 500
MGMT = "100000000000"

KMS_EBS_USERS = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "EbsKeys",
            "Effect": "Allow",
            "Action": ["kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKey*", "kms:ReEncrypt*"],
            "Resource": "*",
        }
    ],
}
FULL_ACCESS = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


def account_id(i: int) -> str:
    return f"{200000000000 + i * 1111:012d}"


def _key_policy(kind: int, account: str, role_arn: str) -> dict[str, Any] | None:
    root = f"arn:aws:iam::{account}:root"
    admin = {"Sid": "Admin", "Effect": "Allow", "Principal": {"AWS": root}, "Action": "kms:*", "Resource": "*"}
    if kind == 0:
        return None  # AWS's default key policy
    if kind == 1:
        return {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "Admin",
                    "Effect": "Allow",
                    "Principal": {"AWS": root},
                    "Action": ["kms:Describe*", "kms:Put*", "kms:Get*"],
                    "Resource": "*",
                },
                {
                    "Sid": "KeyUser",
                    "Effect": "Allow",
                    "Principal": {"AWS": role_arn},
                    "Action": ["kms:Decrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*", "kms:DescribeKey"],
                    "Resource": "*",
                },
                {
                    "Sid": "Grants",
                    "Effect": "Allow",
                    "Principal": {"AWS": role_arn},
                    "Action": "kms:CreateGrant",
                    "Resource": "*",
                    "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}},
                },
            ],
        }
    if kind == 2:
        return {
            "Version": "2012-10-17",
            "Statement": [
                admin,
                {
                    "Sid": "CorporateNetworkOnly",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "kms:*",
                    "Resource": "*",
                    "Condition": {"NotIpAddress": {"aws:SourceIp": ["198.51.100.0/24"]}},
                },
            ],
        }
    return {
        "Version": "2012-10-17",
        "Statement": [
            admin,
            {
                "Sid": "Partner",
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::999988887777:root"},
                "Action": ["kms:Decrypt", "kms:ReEncrypt", "kms:DescribeKey"],
                "Resource": "*",
                "Condition": {"StringEquals": {"kms:CallerAccount": account}},
            },
        ],
    }


def build(scale: float = 1.0, accounts: int = ACCOUNTS) -> World:
    """The organization, with ``scale`` times the principals and keys (accounts stay ``accounts``)."""
    w = World()
    per_principals = max(2, round(PRINCIPALS * scale / accounts))
    per_keys = max(1, round(KEYS * scale / accounts))
    org = w.organization
    org.org_id, org.management_account, org.root_id = "o-bench00001", MGMT, "r-bnch"
    doc = Document.parse(FULL_ACCESS, PolicyType.SCP, "FullAWSAccess")
    org.policies["p-FullAWSAccess"] = OrgPolicy("p-FullAWSAccess", "FullAWSAccess", SCP, doc, aws_managed=True)
    org.attachments["r-bnch"] = ["p-FullAWSAccess"]
    for i in range(accounts):
        a = account_id(i)
        org.parents[a] = "r-bnch"
        org.attachments[a] = ["p-FullAWSAccess"]
        _account(w, a, i, per_principals, per_keys)
    return w


def organization(factor: float = 1.0) -> World:
    """The organization ``factor`` times as big: ``factor`` x 50 accounts, each with the principals and keys of
    an account at 1."""
    return build(factor, accounts=max(1, round(ACCOUNTS * factor)))


def _account(w: World, a: str, i: int, n_principals: int, n_keys: int) -> None:
    b.aws_managed_policy(w, a, b.EC2_FULL_ACCESS_ARN, b.EC2_FULL_ACCESS)
    kms_users = b.add_customer_policy(w, a, "kms-ebs-users", KMS_EBS_USERS).arn
    roles = []
    for p in range(n_principals):
        mix = p % 10
        managed = [b.EC2_FULL_ACCESS_ARN, kms_users] if mix < 6 else [b.EC2_FULL_ACCESS_ARN] if mix < 8 else []
        inline = {"kms-ebs": KMS_EBS_USERS} if mix == 8 else None
        if mix == 8:
            managed = [b.EC2_FULL_ACCESS_ARN]
        if p % 2:
            roles.append(b.add_role(w, a, f"app-{p:04d}", managed=managed, inline=inline))
        else:
            b.add_user(w, a, f"dev-{p:04d}", managed=managed, inline=inline)
    named = roles[0].arn if roles else f"arn:aws:iam::{a}:root"
    keys = []
    for k in range(n_keys):
        keys.append(b.add_key(w, a, REGION, policy=_key_policy(k % 4, a, named), alias=f"app-{k:03d}"))
    image = b.add_image(w, a, REGION, name="base")
    for t in range(2):
        key = keys[t % len(keys)]
        data = {
            "ImageId": image.image_id,
            "InstanceType": "t3.micro",
            "BlockDeviceMappings": [{"DeviceName": "/dev/xvda", "Ebs": {"Encrypted": True, "KmsKeyId": key.arn}}],
        }
        lt = b.add_launch_template(w, a, REGION, f"web-{t}", data)
        b.add_auto_scaling_group(w, a, REGION, f"web-asg-{t}", launch_template=lt)
    if i % 3 == 0:
        w.account(a).region(REGION).ec2.defaults.encryption_by_default = True


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--scale", type=float, default=None, help="principals and keys per account (50 accounts)")
    ap.add_argument("--factor", type=float, default=None, help="the whole organization, accounts too")
    args = ap.parse_args()
    world = organization(args.factor) if args.factor is not None else build(args.scale or 1.0)
    written = save_snapshot(world, args.out, meta={"collected_at": "2026-01-15T09:30:00Z"})
    print(f"wrote {len(written)} files to {args.out}")


if __name__ == "__main__":
    main()
