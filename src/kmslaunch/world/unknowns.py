"""What a snapshot leaves unknown about one decision, and which way the missing fact could turn it.

A snapshot is whatever the user could collect: a member account's view without the organization, an AMI
whose snapshots belong to Amazon or a Marketplace seller, a key whose policy could not be read. kmslaunch still
decides with what it holds, but a launch that ran only because something was not looked at is not a launch that
will run: every decision carries the facts it could not see, so the answer can say "runs unless an SCP you did
not collect denies it" instead of "running".
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


class Could(enum.Enum):
    """Which way a missing fact could change a decision."""

    DENY = "deny"  # it can only refuse more: an SCP, an RCP, a Deny in a policy that was not read
    ALLOW = "allow"  # it can only allow more: a grant that was not listed
    EITHER = "either"  # a policy that was not read can allow or deny


@dataclass(frozen=True, slots=True)
class Unknown:
    """One missing fact: what it is, which way it could turn the decision, and what would make it known."""

    fact: str
    could: Could
    resolve: str
    layer: str = ""

    @property
    def may_deny(self) -> bool:
        return self.could is not Could.ALLOW

    @property
    def may_allow(self) -> bool:
        return self.could is not Could.DENY

    def sentence(self) -> str:
        return f"{self.fact} ({self.resolve})"

    def to_json(self) -> dict[str, Any]:
        return {"fact": self.fact, "could": self.could.value, "layer": self.layer, "resolve": self.resolve}


def merge(*groups: Iterable[Unknown]) -> tuple[Unknown, ...]:
    """The unknowns of several decisions, each once, in the order first met."""
    return tuple(dict.fromkeys(u for g in groups for u in g))
