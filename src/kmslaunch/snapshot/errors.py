"""Snapshot problems: every broken file is reported, each problem with the file and the JSON path to the element.

Like policy validation (``kmslaunch.policy.errors``), loading never stops at the first problem: the loader
collects a ``Problem`` per bad element in every file, then raises one ``SnapshotError`` listing them all.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from kmslaunch.policy.errors import InputError, Issue, Severity


@dataclass(frozen=True, slots=True)
class Problem:
    """One bad element: the file (as the user named the snapshot), the JSON path inside it, what was expected."""

    file: str
    path: str
    message: str

    def render(self) -> str:
        return f"{self.file}: {self.path}: {self.message}" if self.path else f"{self.file}: {self.message}"


class SnapshotError(InputError):
    """A snapshot that cannot be loaded or saved; ``problems`` has every problem, one line each in the message."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = tuple(problems)
        first = self.problems[0] if self.problems else Problem("snapshot", "", "unknown problem")
        super().__init__(first.file, first.path, first.message)
        self.args = ("\n".join(p.render() for p in self.problems),)

    def __str__(self) -> str:
        return str(self.args[0])


def kind(value: object) -> str:
    """A value's type as messages name it (``str``, ``int``, ``dict``…; ``null`` for JSON null)."""
    return "null" if value is None else type(value).__name__


_NOT_A_OR_B = re.compile(r"^'(.+)' is not (\w+) or (\w+)$")


def suggest(value: str, choices: Sequence[str]) -> str | None:
    """The closest choice to a misspelt value, if any is close."""
    close = difflib.get_close_matches(value, choices, n=1, cutoff=0.6)
    if not close:
        close = [c for c in choices if c.lower() == value.lower()]
    return close[0] if close else None


def issue_problems(file: str, where: str, issues: Iterable[Issue]) -> list[Problem]:
    """Policy-document issues as snapshot problems: ``<file>: <where>: <path in document>: <message>``."""
    out = []
    for issue in issues:
        if issue.severity is not Severity.ERROR:
            continue
        hint = issue.suggestion
        m = _NOT_A_OR_B.match(issue.message)
        if hint is None and m:
            # The policy parser names the two choices ("'Alow' is not Allow or Deny"): offer the nearer one.
            hint = suggest(m.group(1), (m.group(2), m.group(3)))
        path = f"{where}: {issue.path}" if where and issue.path else (where or issue.path)
        out.append(Problem(file, path, issue.message + (f" (did you mean {hint}?)" if hint else "")))
    return out
