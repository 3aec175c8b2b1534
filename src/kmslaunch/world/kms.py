"""KMS: keys with their states, policies, aliases and grants; AWS's default and ``aws/ebs`` key policies."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from kmslaunch.policy.grants import Grant
from kmslaunch.policy.model import PolicyType
from kmslaunch.world.documents import Document

AWS_EBS_ALIAS = "alias/aws/ebs"


class KeyState(enum.Enum):
    """KeyState values of DescribeKey (https://docs.aws.amazon.com/kms/latest/developerguide/key-state.html)."""

    ENABLED = "Enabled"
    DISABLED = "Disabled"
    PENDING_DELETION = "PendingDeletion"
    PENDING_IMPORT = "PendingImport"
    UNAVAILABLE = "Unavailable"
    CREATING = "Creating"
    UPDATING = "Updating"
    PENDING_REPLICA_DELETION = "PendingReplicaDeletion"


class KeyManager(enum.Enum):
    CUSTOMER = "CUSTOMER"
    AWS = "AWS"


@dataclass
class Key:
    key_id: str
    arn: str
    account: str
    region: str
    policy: Document
    state: KeyState = KeyState.ENABLED
    manager: KeyManager = KeyManager.CUSTOMER
    description: str = ""
    creation_date: str = ""
    deletion_date: str | None = None
    origin: str = "AWS_KMS"
    key_spec: str = "SYMMETRIC_DEFAULT"
    key_usage: str = "ENCRYPT_DECRYPT"
    multi_region: bool = False
    grants: list[Grant] = field(default_factory=list)
    # False when the snapshot has describe-key but no get-key-policy: the policy is unknown, not empty.
    policy_known: bool = True
    grants_known: bool = True

    def describe(self) -> dict[str, Any]:
        """``KeyMetadata`` as DescribeKey returns it."""
        meta: dict[str, Any] = {
            "AWSAccountId": self.account,
            "KeyId": self.key_id,
            "Arn": self.arn,
            "CreationDate": self.creation_date,
            "Enabled": self.state is KeyState.ENABLED,
            "Description": self.description,
            "KeyUsage": self.key_usage,
            "KeyState": self.state.value,
            "Origin": self.origin,
            "KeyManager": self.manager.value,
            "CustomerMasterKeySpec": self.key_spec,
            "KeySpec": self.key_spec,
            "EncryptionAlgorithms": ["SYMMETRIC_DEFAULT"],
            "MultiRegion": self.multi_region,
        }
        if self.deletion_date:
            meta["DeletionDate"] = self.deletion_date
        return meta


@dataclass
class Kms:
    """One account's KMS in one region."""

    keys: dict[str, Key] = field(default_factory=dict)  # by key id
    aliases: dict[str, str] = field(default_factory=dict)  # "alias/name" -> key id
    known: bool = True

    def resolve(self, ref: str) -> Key | None:
        """A key by id, key ARN, alias name or alias ARN, as KMS resolves KeyId parameters."""
        if ref.startswith("arn:"):
            resource = ref.split(":", 5)[5] if ref.count(":") >= 5 else ""
            if resource.startswith("key/"):
                return self.keys.get(resource[4:])
            if resource.startswith("alias/"):
                target = self.aliases.get(resource)
                return self.keys.get(target) if target else None
            return None
        if ref.startswith("alias/"):
            target = self.aliases.get(ref)
            return self.keys.get(target) if target else None
        return self.keys.get(ref)

    def aliases_of(self, key_id: str) -> list[str]:
        return sorted(a for a, k in self.aliases.items() if k == key_id)


def default_key_policy(account: str, partition: str = "aws") -> dict[str, Any]:
    """The policy CreateKey attaches when none is given
    (https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html)."""
    return {
        "Version": "2012-10-17",
        "Id": "key-default-1",
        "Statement": [
            {
                "Sid": "Enable IAM User Permissions",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:{partition}:iam::{account}:root"},
                "Action": "kms:*",
                "Resource": "*",
            }
        ],
    }


def aws_ebs_key_policy(account: str, region: str, partition: str = "aws") -> dict[str, Any]:
    """The policy of the AWS managed key ``aws/ebs`` (Id ``auto-ebs-2``)
    (https://docs.aws.amazon.com/kms/latest/developerguide/services-ebs.html)."""
    return {
        "Version": "2012-10-17",
        "Id": "auto-ebs-2",
        "Statement": [
            {
                "Sid": "Allow access through EBS for all principals in the account that are authorized to use EBS",
                "Effect": "Allow",
                "Principal": {"AWS": "*"},
                "Action": [
                    "kms:Encrypt",
                    "kms:Decrypt",
                    "kms:ReEncrypt*",
                    "kms:GenerateDataKey*",
                    "kms:CreateGrant",
                    "kms:DescribeKey",
                ],
                "Resource": "*",
                "Condition": {
                    "StringEquals": {
                        "kms:CallerAccount": account,
                        "kms:ViaService": f"ec2.{region}.amazonaws.com",
                    }
                },
            },
            {
                "Sid": "Allow direct access to key metadata to the account",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:{partition}:iam::{account}:root"},
                "Action": ["kms:Describe*", "kms:Get*", "kms:List*", "kms:RevokeGrant"],
                "Resource": "*",
            },
        ],
    }


def key_document(raw: object, key_arn: str, source: str | None = None) -> Document:
    return Document.parse(raw, PolicyType.KEY, key_arn, source=source)
