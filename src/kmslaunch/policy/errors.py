"""Problems found in policy documents, reported together, each with the path to its element.

Validation never stops at the first problem (botocore's ``ValidationErrors`` style): the parser collects
every ``Issue`` and raises one ``PolicyValidationError`` when any is an error. Warnings are things AWS
accepts that are almost certainly mistakes (``kms:ReEncrypt`` without the star); they ride on the parsed
``Policy`` and never change a decision.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass


class Severity(enum.Enum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem in a document: where it is, what is wrong, and (when we can tell) what was meant."""

    severity: Severity
    path: str
    message: str
    suggestion: str | None = None

    def render(self, source: str | None = None) -> str:
        where = f"{source}: " if source else ""
        hint = f" (did you mean {self.suggestion}?)" if self.suggestion else ""
        return f"{where}{self.severity.value}: {self.path}: {self.message}{hint}"

    def to_json(self) -> dict[str, str]:
        out = {"severity": self.severity.value, "path": self.path, "message": self.message}
        if self.suggestion:
            out["suggestion"] = self.suggestion
        return out


def error(path: str, message: str, suggestion: str | None = None) -> Issue:
    return Issue(Severity.ERROR, path, message, suggestion)


def warning(path: str, message: str, suggestion: str | None = None) -> Issue:
    return Issue(Severity.WARNING, path, message, suggestion)


class KmslaunchError(Exception):
    """Base of every error kmslaunch reports to a user instead of a traceback."""


class PolicyValidationError(KmslaunchError):
    """A document that cannot be evaluated. Carries every problem found, not only the first."""

    def __init__(self, source: str, issues: Iterable[Issue]) -> None:
        self.source = source
        self.issues = tuple(issues)
        super().__init__("\n".join(i.render(source) for i in self.issues))


class InputError(KmslaunchError):
    """Bad input outside a policy document: a request file, a snapshot file, a command-line value."""

    def __init__(self, source: str, path: str, message: str) -> None:
        self.source = source
        self.path = path
        self.message = message
        where = f"{source}: {path}: " if path else f"{source}: "
        super().__init__(f"{where}{message}")
