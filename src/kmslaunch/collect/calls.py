"""One read-only AWS call: retried on throttling, paged, shaped as the AWS CLI prints it, counted.

botocore's ``standard`` retry mode already retries throttling with exponential backoff up to ``max_attempts``
(https://docs.aws.amazon.com/sdkref/latest/guide/feature-retry-behavior.html). When it gives up, or when a
throttling error reaches us some other way, ``Caller`` backs off again (capped exponential backoff with full
jitter, https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/) a bounded number of times
before the call is recorded as failed.
"""

from __future__ import annotations

import base64
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from botocore.parsers import ResponseParserError

# Error codes AWS services use for "slow down".
THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "RequestThrottled",
        "RequestThrottledException",
        "SlowDown",
    }
)
# Keys the CLI drops when it merges pages.
_PAGING_KEYS = frozenset({"NextToken", "NextMarker", "Marker", "IsTruncated", "Truncated", "ResponseMetadata"})


def client_config(max_attempts: int = 10) -> Config:
    """botocore's standard retry mode; a few connections per client, as the pools are small."""
    return Config(retries={"mode": "standard", "max_attempts": max_attempts}, max_pool_connections=8)


def cli_shape(value: Any) -> Any:
    """A boto3 response as the AWS CLI v2 prints it: datetimes as ISO 8601 (``isoformat``), metadata and page
    tokens dropped."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {k: cli_shape(v) for k, v in value.items() if k not in _PAGING_KEYS}
    if isinstance(value, list | tuple):
        return [cli_shape(v) for v in value]
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    return value


@dataclass
class Stats:
    """Calls made and retries needed, over every thread (botocore's own retries and ours)."""

    calls: int = 0
    retries: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, calls: int = 0, retries: int = 0) -> None:
        with self._lock:
            self.calls += calls
            self.retries += retries


class CallFailed(Exception):
    """A call AWS refused (after retries): the permission it needed and AWS's error."""

    def __init__(self, call: str, code: str, message: str) -> None:
        super().__init__(f"{call}: {code}: {message}")
        self.call = call
        self.code = code
        self.message = message


def permission(client: Any, operation: str) -> str:
    """The IAM action of a client method: ``kms:GetKeyPolicy`` for ``kms.get_key_policy``."""
    api = client.meta.method_to_api_mapping.get(operation, operation)
    prefix = client.meta.service_model.signing_name
    return f"{prefix}:{api}"


def count_calls(client: Any, stats: Stats) -> Any:
    """Count every HTTP call of ``client`` and the retries botocore made for it."""

    def after_call(parsed: Any = None, **_: Any) -> None:
        meta = parsed.get("ResponseMetadata", {}) if isinstance(parsed, dict) else {}
        stats.add(calls=1, retries=int(meta.get("RetryAttempts", 0) or 0))

    client.meta.events.register("after-call", after_call)
    return client


@dataclass
class Caller:
    """Makes calls with paging and throttling handled; ``sleep`` and ``rng`` are injected for tests."""

    stats: Stats
    max_attempts: int = 8  # ours, for throttling botocore gave up on; botocore's own is in client_config
    base_delay: float = 0.25
    max_delay: float = 20.0
    page_size: int | None = None
    sleep: Callable[[float], None] = time.sleep
    rng: Callable[[], float] = random.random

    def call(self, client: Any, operation: str, **params: Any) -> Any:
        """One call, its result in the CLI's shape."""
        return self._retrying(client, operation, lambda: getattr(client, operation)(**params))

    def paginate(self, client: Any, operation: str, *, max_items: int | None = None, **params: Any) -> Any:
        """Every page of a call merged, as the CLI merges them (botocore's paginator where there is one)."""
        if not client.can_paginate(operation):
            return self.call(client, operation, **params)
        config: dict[str, int] = {}
        if self.page_size:
            config["PageSize"] = self.page_size
        if max_items:
            config["MaxItems"] = max_items

        def pages() -> Any:
            paginator = client.get_paginator(operation)
            return paginator.paginate(**params, PaginationConfig=config).build_full_result()

        return self._retrying(client, operation, pages)

    def _retrying(self, client: Any, operation: str, make: Callable[[], Any]) -> Any:
        name = permission(client, operation)
        attempt = 0
        while True:
            try:
                return cli_shape(make())
            except ClientError as exc:
                err = exc.response.get("Error", {})
                code, message = str(err.get("Code", "")), str(err.get("Message", ""))
                if code in THROTTLING_CODES and attempt + 1 < self.max_attempts:
                    attempt += 1
                    self.stats.add(retries=1)
                    self.sleep(self._delay(attempt))
                    continue
                raise CallFailed(name, code or "ClientError", message) from exc
            except (BotoCoreError, ResponseParserError) as exc:
                raise CallFailed(name, type(exc).__name__, str(exc)) from exc

    def _delay(self, attempt: int) -> float:
        return float(self.rng()) * min(self.max_delay, self.base_delay * 2.0 ** (attempt - 1))
