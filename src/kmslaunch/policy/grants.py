"""KMS grants: who may use which operations of a key, under which encryption-context constraints.

Grants are a KMS authorization mechanism beside the key policy
(https://docs.aws.amazon.com/kms/latest/developerguide/grants.html): a grant allows its operations to its
grantee without any IAM permission, cannot deny, and never beats an explicit deny. Constraints:
``EncryptionContextEquals`` is an exact, case-sensitive match of the whole context; ``EncryptionContextSubset``
requires each pair of the constraint in the request's context. Constraints are ignored for DescribeKey and
RetireGrant (https://docs.aws.amazon.com/kms/latest/APIReference/API_GrantConstraints.html).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kmslaunch.policy.errors import Issue, error

# Every grant operation KMS accepts (https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateGrant.html).
GRANT_OPERATIONS = frozenset(
    {
        "Decrypt",
        "Encrypt",
        "GenerateDataKey",
        "GenerateDataKeyPair",
        "GenerateDataKeyPairWithoutPlaintext",
        "GenerateDataKeyWithoutPlaintext",
        "ReEncryptFrom",
        "ReEncryptTo",
        "Sign",
        "Verify",
        "GetPublicKey",
        "CreateGrant",
        "RetireGrant",
        "DescribeKey",
        "GenerateMac",
        "VerifyMac",
        "DeriveSharedSecret",
    }
)
_CONSTRAINTS_IGNORED = frozenset({"DescribeKey", "RetireGrant"})


@dataclass(frozen=True, slots=True)
class Grant:
    """A grant as ``aws kms list-grants`` shows it."""

    grant_id: str
    grantee: str
    operations: frozenset[str]
    key_arn: str | None = None
    retiring: str | None = None
    name: str | None = None
    issuing_account: str | None = None
    creation_date: str | None = None
    context_subset: Mapping[str, str] | None = field(default=None, hash=False)
    context_equals: Mapping[str, str] | None = field(default=None, hash=False)

    def constraints_hold(self, operation: str, context: Mapping[str, str] | None) -> bool:
        """Whether the request's encryption context satisfies the grant's constraints."""
        if operation in _CONSTRAINTS_IGNORED:
            return True
        got = context or {}
        if self.context_equals is not None and dict(got) != dict(self.context_equals):
            return False
        if self.context_subset is not None:
            for k, v in self.context_subset.items():
                if got.get(k) != v:
                    return False
        return True

    def to_json(self) -> dict[str, Any]:
        """The grant in ``list-grants`` shape."""
        out: dict[str, Any] = {"GrantId": self.grant_id, "GranteePrincipal": self.grantee}
        if self.key_arn:
            out["KeyId"] = self.key_arn
        if self.name is not None:
            out["Name"] = self.name
        if self.creation_date is not None:
            out["CreationDate"] = self.creation_date
        if self.retiring:
            out["RetiringPrincipal"] = self.retiring
        if self.issuing_account:
            out["IssuingAccount"] = self.issuing_account
        out["Operations"] = sorted(self.operations)
        constraints: dict[str, Any] = {}
        if self.context_subset is not None:
            constraints["EncryptionContextSubset"] = dict(self.context_subset)
        if self.context_equals is not None:
            constraints["EncryptionContextEquals"] = dict(self.context_equals)
        if constraints:
            out["Constraints"] = constraints
        return out


def parse_grant(raw: object, path: str) -> tuple[Grant | None, list[Issue]]:
    """Read one grant in ``list-grants`` shape; report every problem with its path."""
    issues: list[Issue] = []
    if not isinstance(raw, Mapping):
        return None, [error(path, "expected a grant object")]

    def text(name: str, required: bool = False) -> str | None:
        v = raw.get(name)
        if v is None:
            if required:
                issues.append(error(f"{path}.{name}", "missing"))
            return None
        if not isinstance(v, str):
            issues.append(error(f"{path}.{name}", "expected a string"))
            return None
        return v

    grantee = text("GranteePrincipal", required=True)
    ops_raw = raw.get("Operations")
    ops: list[str] = []
    if not isinstance(ops_raw, list) or not ops_raw:
        issues.append(error(f"{path}.Operations", "expected a non-empty list of grant operations"))
    else:
        for i, op in enumerate(ops_raw):
            if not isinstance(op, str) or op not in GRANT_OPERATIONS:
                issues.append(error(f"{path}.Operations[{i}]", f"{op!r} is not a grant operation"))
            else:
                ops.append(op)
    subset = equals = None
    constraints = raw.get("Constraints")
    if constraints is not None:
        if not isinstance(constraints, Mapping):
            issues.append(error(f"{path}.Constraints", "expected an object"))
        else:
            for name in constraints:
                if name not in ("EncryptionContextSubset", "EncryptionContextEquals"):
                    issues.append(error(f"{path}.Constraints.{name}", "unknown grant constraint"))
            subset = _string_map(
                constraints.get("EncryptionContextSubset"), f"{path}.Constraints.EncryptionContextSubset", issues
            )
            equals = _string_map(
                constraints.get("EncryptionContextEquals"), f"{path}.Constraints.EncryptionContextEquals", issues
            )
    grant_id = text("GrantId") or "grant-" + hashlib.sha256(repr((grantee, sorted(ops))).encode()).hexdigest()[:16]
    key = text("KeyId")
    retiring = text("RetiringPrincipal")
    name = text("Name")
    issuing = text("IssuingAccount")
    created = raw.get("CreationDate")
    if issues or grantee is None:
        return None, issues
    return (
        Grant(
            grant_id=grant_id,
            grantee=grantee,
            operations=frozenset(ops),
            key_arn=key,
            retiring=retiring,
            name=name,
            issuing_account=issuing,
            creation_date=str(created) if created is not None else None,
            context_subset=subset,
            context_equals=equals,
        ),
        [],
    )


def _string_map(value: object, path: str, issues: list[Issue]) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        issues.append(error(path, "expected an object of string keys and string values"))
        return None
    return dict(value)
