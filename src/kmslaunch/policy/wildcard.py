"""IAM's wildcard matching: ``*`` is any run of characters, ``?`` exactly one, everything else literal.

Used for Action/NotAction (case-insensitive), Resource/NotResource and ARN segments (case-sensitive) and
StringLike (case-sensitive). Patterns compile once to a regular expression and are cached: the same
handful of patterns is matched millions of times in an audit.
"""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Callable
from functools import lru_cache

Matcher = Callable[[str], bool]


def _translate(pattern: str) -> str:
    out: list[str] = []
    for ch in pattern:
        if ch == "*":
            out.append(".*")
        elif ch == "?":
            out.append(".")
        else:
            out.append(re.escape(ch))
    return "".join(out)


@lru_cache(maxsize=65536)
def compile_glob(pattern: str, ignore_case: bool = False) -> Matcher:
    """Return a function telling whether a string matches ``pattern`` as IAM matches it."""
    if "*" not in pattern and "?" not in pattern:
        if ignore_case:
            lowered = pattern.lower()
            return lambda s: s.lower() == lowered
        return functools.partial(operator.eq, pattern)  # a bool for any value, unlike str.__eq__
    if pattern == "*":
        return lambda s: True
    flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
    fullmatch = re.compile(_translate(pattern), flags).fullmatch
    return lambda s: fullmatch(s) is not None


def glob_match(pattern: str, value: str, ignore_case: bool = False) -> bool:
    """Match one value against one IAM wildcard pattern."""
    return compile_glob(pattern, ignore_case)(value)


def has_wildcard(text: str) -> bool:
    return "*" in text or "?" in text
