"""What a request must be before it reaches a handler: signed for a region that exists, and made of text that is
Unicode. Either refusal happens before the world is touched, so a refused request changes nothing but the
CloudTrail record the dispatcher keeps of it."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import botocore.loaders

from kmslaunch.snapshot.layout import REGION_RE


@lru_cache(maxsize=8)
def known_regions(partition: str) -> frozenset[str]:
    """The regions of ``partition`` as the installed botocore lists them (its ``endpoints.json``), less any the
    snapshot format cannot name (``layout.REGION_RE``): a region the state could not save is never entered."""
    data = botocore.loaders.create_loader().load_data("endpoints")
    for p in data.get("partitions", []):
        if p.get("partition") == partition:
            return frozenset(r for r in p.get("regions", {}) if REGION_RE.match(r))
    return frozenset()


def region_problem(partition: str, region: str) -> str | None:
    """AWS's words for a request signed for a region it does not have, or None for a known region.

    AWS answers such a request with SignatureDoesNotMatch (InvalidSignatureException for JSON services):
    "Credential should be scoped to a valid region, not 'xx-evil-1'." (the message STS and IAM return; the
    credential scope's region is part of what is signed,
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-signing-elements.html).
    """
    if region in known_regions(partition):
        return None
    return f"Credential should be scoped to a valid region, not '{region}'. "


def lone_surrogate_path(value: Any, path: str = "") -> str | None:
    """The parameter path of the first string holding an unpaired UTF-16 surrogate (JSON's ``"\\ud800"``), or
    None. Such a string is not Unicode text: it cannot be encoded as UTF-8, so no AWS service stores it."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return path or "(request)"
        return None
    if isinstance(value, dict):
        for k, v in value.items():
            found = lone_surrogate_path(k, f"{path}.{k}" if path else str(k)) or lone_surrogate_path(
                v, f"{path}.{k}" if path else str(k)
            )
            if found:
                return found
        return None
    if isinstance(value, list | tuple):
        for i, v in enumerate(value):
            found = lone_surrogate_path(v, f"{path}[{i}]")
            if found:
                return found
    return None
