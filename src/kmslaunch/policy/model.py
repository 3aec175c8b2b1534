"""Parsed policy documents as immutable typed values.

Documents are parsed once (``kmslaunch.policy.parse``) into these values; evaluation never looks at
raw JSON again. Matchers for actions and resources are compiled at parse time.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kmslaunch.policy.conditions import Condition
from kmslaunch.policy.errors import Issue
from kmslaunch.policy.variables import Template

Context = Mapping[str, tuple[str, ...]]


class Effect(enum.Enum):
    ALLOW = "Allow"
    DENY = "Deny"


class PolicyType(enum.Enum):
    """Where a policy sits in AWS's evaluation; the values are the words reasons are reported with."""

    IDENTITY = "identity-policy"
    RESOURCE = "resource-policy"  # a KMS key policy is the resource policy of a key
    KEY = "key-policy"
    PERMISSIONS_BOUNDARY = "permissions-boundary"
    SESSION = "session-policy"
    SCP = "scp"
    RCP = "rcp"
    TRUST = "trust-policy"
    # The policy of the VPC endpoint a request comes through
    # (https://docs.aws.amazon.com/vpc/latest/privatelink/vpc-endpoints-access.html).
    VPC_ENDPOINT = "vpc-endpoint-policy"


@dataclass(frozen=True, slots=True)
class ValuePattern:
    """One Action/Resource value: a literal, a wildcard pattern, or a template with policy variables."""

    text: str
    template: Template | None = None


@dataclass(frozen=True, slots=True)
class PrincipalSpec:
    """A Principal or NotPrincipal element, normalised.

    ``wildcard`` is ``"*"`` or ``{"AWS": "*"}``. ``aws`` holds account ids (as written: 12 digits or a
    root ARN) and principal ARNs; ``service``, ``federated`` and ``canonical`` the other principal kinds.
    """

    wildcard: bool = False
    aws: tuple[str, ...] = ()
    service: tuple[str, ...] = ()
    federated: tuple[str, ...] = ()
    canonical: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Statement:
    """One statement. ``index`` is its position in the document; ``sid`` its Sid if it has one."""

    index: int
    sid: str | None
    effect: Effect
    actions: tuple[str, ...]
    not_action: bool
    resources: tuple[ValuePattern, ...]
    not_resource: bool
    has_resource: bool  # False for trust policies and documents without a Resource element
    principal: PrincipalSpec | None
    not_principal: bool
    conditions: tuple[Condition, ...]

    @property
    def label(self) -> str:
        """How reasons name the statement: its Sid, else its position."""
        return self.sid if self.sid else f"Statement[{self.index}]"


@dataclass(frozen=True, slots=True)
class Policy:
    """A parsed policy document with the name it is reported under."""

    type: PolicyType
    name: str
    version: str | None
    id: str | None
    statements: tuple[Statement, ...]
    warnings: tuple[Issue, ...] = ()
    # Statement indexes by lower-cased action, filled lazily by the evaluator (not part of equality).
    _action_index: dict[str, tuple[Statement, ...]] = field(
        default_factory=dict, init=False, compare=False, repr=False, hash=False
    )
    # Statements that pass the static elements for one (action, principal, resource): the evaluator's fast path.
    _candidates: dict[tuple[object, ...], tuple[Any, ...]] = field(
        default_factory=dict, init=False, compare=False, repr=False, hash=False
    )
    # Statements that can apply or be a near miss for one (action, principal, resource), with the static
    # elements they fail: the statement-by-statement scan (``scan``) of near misses.
    _static_scans: dict[tuple[object, ...], tuple[Any, ...]] = field(
        default_factory=dict, init=False, compare=False, repr=False, hash=False
    )
