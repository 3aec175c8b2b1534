"""A CloudTrail event log: every call kmslaunch simulates is recorded in CloudTrail's shape."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Trail:
    events: list[dict[str, Any]] = field(default_factory=list)  # CloudTrail records, oldest first
    # Events as `aws cloudtrail lookup-events` printed them (snapshots): each has a CloudTrailEvent string.
    known: bool = True
