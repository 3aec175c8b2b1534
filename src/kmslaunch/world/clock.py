"""Injected time and identifiers (OPA's ``WithTime``/``WithSeed``): a world built twice the same way has the
same instance ids, grant ids and timestamps."""

from __future__ import annotations

import hashlib
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta


@dataclass
class Clock:
    """A clock that starts at ``start`` and moves ``step`` forward at each reading (repeatable), or reads the
    real time when ``real`` is set (the endpoint)."""

    start: datetime = datetime(2026, 1, 15, 9, 30, 0, tzinfo=UTC)
    step: timedelta = timedelta(seconds=1)
    real: bool = False
    _ticks: int = 0

    def now(self) -> datetime:
        if self.real:
            return datetime.now(UTC).replace(microsecond=0)
        t = self.start + self.step * self._ticks
        self._ticks += 1
        return t


def iso(t: datetime) -> str:
    """The timestamp form the AWS CLI prints and CloudTrail records: ``2026-01-15T09:30:00Z``."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Ids:
    """Identifiers shaped as AWS shapes them, derived from a seed and a counter per kind."""

    seed: str = "kmslaunch"
    _counters: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))

    def _digest(self, kind: str) -> str:
        self._counters[kind] += 1
        return hashlib.sha256(f"{self.seed}/{kind}/{self._counters[kind]}".encode()).hexdigest()

    def ec2(self, prefix: str) -> str:
        """``i-``, ``vol-``, ``snap-``, ``ami-``, ``lt-``: 17 lowercase hex digits after the prefix."""
        return f"{prefix}-0{self._digest(prefix)[:16]}"

    def key_id(self) -> str:
        return str(uuid.UUID(self._digest("key")[:32], version=4))

    def grant_id(self) -> str:
        return self._digest("grant")[:64]

    def request_id(self) -> str:
        return str(uuid.UUID(self._digest("request")[:32], version=4))

    def event_id(self) -> str:
        return str(uuid.UUID(self._digest("event")[:32], version=4))

    def unique_id(self, prefix: str) -> str:
        """IAM unique ids: ``AIDA…`` users, ``AROA…`` roles, ``ANPA…`` policies."""
        return prefix + self._digest(prefix).upper()[:17]

    def access_key(self) -> tuple[str, str]:
        d = self._digest("accesskey")
        return "AKIA" + d.upper()[:16], hashlib.sha256(d.encode()).hexdigest()[:40]


class RandomIds(Ids):
    """Ids for a live endpoint: request and event ids are random UUIDs, as AWS's are, and cheap to make."""

    def request_id(self) -> str:
        return str(uuid.uuid4())

    def event_id(self) -> str:
        return str(uuid.uuid4())


class ReusedIds(Ids):
    """Ids that hand out given EC2 ids first, once each, then those of ``inner``: replaying how an existing
    instance was launched names that instance and its volumes as the account shows them. Every other id, and
    any id of a prefix once its given ones are used, comes from ``inner``, so nothing else ever reuses one."""

    def __init__(self, inner: Ids, given: dict[str, list[str]]) -> None:
        super().__init__(inner.seed, inner._counters)
        self.inner = inner
        self.given = {prefix: list(ids) for prefix, ids in given.items()}

    def ec2(self, prefix: str) -> str:
        pending = self.given.get(prefix)
        if pending:
            return pending.pop(0)
        return self.inner.ec2(prefix)

    def key_id(self) -> str:
        return self.inner.key_id()

    def grant_id(self) -> str:
        return self.inner.grant_id()

    def request_id(self) -> str:
        return self.inner.request_id()

    def event_id(self) -> str:
        return self.inner.event_id()

    def unique_id(self, prefix: str) -> str:
        return self.inner.unique_id(prefix)

    def access_key(self) -> tuple[str, str]:
        return self.inner.access_key()
