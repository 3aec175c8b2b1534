"""A policy document as the world stores it: the JSON AWS would return, parsed once."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from kmslaunch.policy.model import Policy, PolicyType
from kmslaunch.policy.parse import load_document, parse_policy


@dataclass(frozen=True, slots=True)
class Document:
    """The raw JSON (as AWS returns it, decoded) and its parsed ``Policy``; replacing a policy replaces the
    Document, so a parsed value is never stale."""

    raw: Any
    policy: Policy

    @classmethod
    def parse(cls, raw: object, policy_type: PolicyType, name: str, source: str | None = None) -> Document:
        """Parse ``raw`` (object, JSON text or URL-encoded JSON text); raises PolicyValidationError."""
        decoded, _ = load_document(raw)
        policy = parse_policy(raw, policy_type, name, source=source)
        return cls(decoded, policy)

    def __copy__(self) -> Document:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Document:
        # Immutable: a fix replaces the Document and copies ``raw`` before changing it (doctor/fixes.py), so
        # copies of a world share their documents. This keeps each copy's cost to its mutable parts, and the
        # evaluator's per-policy caches (a pure function of the policy) are shared rather than copied.
        return self

    def text(self) -> str:
        """The document as KMS's GetKeyPolicy returns it: a JSON string."""
        return json.dumps(self.raw, indent=2)
