"""The AWS managed policies the endpoint knows, as data, and how an account sees them.

The documents are from the AWS Managed Policy Reference
(https://docs.aws.amazon.com/aws-managed-policy/latest/reference/<PolicyName>.html). ReadOnlyAccess is a subset:
the read actions of the services kmslaunch serves, not AWS's thousand-line list.
"""

from __future__ import annotations

import hashlib
from typing import Any

from kmslaunch.policy.model import PolicyType
from kmslaunch.world.builder import EC2_FULL_ACCESS, EC2_FULL_ACCESS_ARN
from kmslaunch.world.documents import Document
from kmslaunch.world.iam import ManagedPolicy
from kmslaunch.world.world import World

AWS_MANAGED_POLICIES: dict[str, dict[str, Any]] = {
    # https://docs.aws.amazon.com/aws-managed-policy/latest/reference/AdministratorAccess.html
    "arn:aws:iam::aws:policy/AdministratorAccess": {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
    },
    # https://docs.aws.amazon.com/aws-managed-policy/latest/reference/AmazonEC2FullAccess.html
    EC2_FULL_ACCESS_ARN: EC2_FULL_ACCESS,
    # https://docs.aws.amazon.com/aws-managed-policy/latest/reference/AWSKeyManagementServicePowerUser.html
    "arn:aws:iam::aws:policy/AWSKeyManagementServicePowerUser": {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": [
                    "kms:CreateAlias",
                    "kms:CreateKey",
                    "kms:DeleteAlias",
                    "kms:Describe*",
                    "kms:GenerateRandom",
                    "kms:Get*",
                    "kms:List*",
                    "kms:TagResource",
                    "kms:UntagResource",
                    "iam:ListGroups",
                    "iam:ListRoles",
                    "iam:ListUsers",
                ],
                "Resource": "*",
            }
        ],
    },
    # https://docs.aws.amazon.com/aws-managed-policy/latest/reference/IAMReadOnlyAccess.html
    "arn:aws:iam::aws:policy/IAMReadOnlyAccess": {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": [
                    "iam:GenerateCredentialReport",
                    "iam:GenerateServiceLastAccessedDetails",
                    "iam:Get*",
                    "iam:List*",
                    "iam:SimulateCustomPolicy",
                    "iam:SimulatePrincipalPolicy",
                ],
                "Resource": "*",
            }
        ],
    },
    # https://docs.aws.amazon.com/aws-managed-policy/latest/reference/ReadOnlyAccess.html (the part for the
    # services kmslaunch serves)
    "arn:aws:iam::aws:policy/ReadOnlyAccess": {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ReadOnlyActions",
                "Effect": "Allow",
                "Action": [
                    "autoscaling:Describe*",
                    "cloudtrail:Describe*",
                    "cloudtrail:Get*",
                    "cloudtrail:List*",
                    "cloudtrail:LookupEvents",
                    "ec2:Describe*",
                    "ec2:Get*",
                    "iam:Generate*",
                    "iam:Get*",
                    "iam:List*",
                    "kms:Describe*",
                    "kms:Get*",
                    "kms:List*",
                    "organizations:Describe*",
                    "organizations:List*",
                    "sts:GetCallerIdentity",
                ],
                "Resource": "*",
            }
        ],
    },
}


def aws_managed(world: World, account: str, arn: str) -> ManagedPolicy | None:
    """The AWS managed policy ``arn`` as ``account`` sees it (the world keeps a copy per account, as
    get-account-authorization-details lists it); None when the endpoint does not know it."""
    iam = world.account(account).iam
    if arn in iam.policies:
        return iam.policies[arn]
    document = AWS_MANAGED_POLICIES.get(arn)
    if document is None:
        return None
    policy = aws_policy(arn, document)
    iam.policies[arn] = policy
    return policy


def aws_policy(arn: str, document: dict[str, Any]) -> ManagedPolicy:
    """A fresh value of the AWS managed policy ``arn``, not yet copied into any account."""
    name = arn.rsplit("/", 1)[-1]
    return ManagedPolicy(arn, name, Document.parse(document, PolicyType.IDENTITY, name), policy_id=_aws_id(arn))


def _aws_id(arn: str) -> str:
    """An AWS managed policy's id: the same in every account, as AWS's are."""
    return "ANPA" + hashlib.sha256(arn.encode()).hexdigest().upper()[:17]


def is_aws_managed(arn: str) -> bool:
    """Whether ``arn`` names an AWS managed policy: its account field is "aws"."""
    return arn.split(":")[4:5] == ["aws"]


def policy_resource(arn: str) -> str:
    """The resource to authorize a call on a policy with. An AWS managed policy's ARN names the account "aws",
    which the engine would take for another account and require a resource policy; AWS grants those calls on
    identity policies alone, so they are authorized as on "*"."""
    return "*" if is_aws_managed(arn) else arn
