"""Reading snapshot files as JSON with paths, and writing them the way the AWS CLI prints them."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from kmslaunch.snapshot.errors import Problem, SnapshotError, kind, suggest


def _read(path: Path, name: str) -> tuple[Any, Problem | None]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        return None, Problem(name, "", f"cannot be read: {exc.strerror or exc}")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return None, Problem(name, "", f"not UTF-8 text: {exc.reason} at byte {exc.start}")
    try:
        return json.loads(text), None
    except json.JSONDecodeError as exc:
        return None, Problem(name, "", f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")
    except RecursionError:
        return None, Problem(name, "", "not valid JSON: nested too deeply")


def load_json_file(path: Path) -> Any:
    """The JSON in ``path``; a ``SnapshotError`` naming the file (and line and column) when it is not JSON."""
    value, problem = _read(path, str(path))
    if problem is not None:
        raise SnapshotError([problem])
    return value


def read_json(path: Path, name: str, problems: list[Problem]) -> tuple[bool, Any]:
    """(True, value) for a readable JSON file; (False, None) after recording the problem in ``problems``."""
    value, problem = _read(path, name)
    if problem is not None:
        problems.append(problem)
        return False, None
    return True, value


def dumps(value: Any) -> str:
    """JSON as the AWS CLI prints it: four-space indent, non-ASCII kept, a final newline."""
    return json.dumps(value, indent=4, ensure_ascii=False) + "\n"


class Node:
    """A value inside a file with its JSON path; the accessors check types and record problems, never raise.

    A missing element reads as ``None``; a wrong type is reported once, where it is read, and then also reads as
    ``None`` so that the caller carries on and finds the next problem.
    """

    __slots__ = ("file", "path", "problems", "value")

    def __init__(self, value: Any, path: str, file: str, problems: list[Problem]) -> None:
        self.value = value
        self.path = path
        self.file = file
        self.problems = problems

    def problem(self, message: str) -> None:
        self.problems.append(Problem(self.file, self.path, message))

    def __getitem__(self, name: str) -> Node:
        v = self.value.get(name) if isinstance(self.value, Mapping) else None
        return Node(v, f"{self.path}.{name}" if self.path else name, self.file, self.problems)

    @property
    def missing(self) -> bool:
        return self.value is None

    def obj(self, what: str = "an object") -> bool:
        """Whether the value is an object; reports any other non-null value."""
        if isinstance(self.value, Mapping):
            return True
        if self.value is not None:
            self.problem(f"expected {what}, got {kind(self.value)}")
        return False

    def items(self, what: str = "a list") -> list[Node]:
        """The elements of a list (none when missing); reports any other value."""
        if isinstance(self.value, list):
            return [Node(v, f"{self.path}[{i}]", self.file, self.problems) for i, v in enumerate(self.value)]
        if self.value is not None:
            self.problem(f"expected {what}, got {kind(self.value)}")
        return []

    def objects(self, what: str) -> list[Node]:
        """The elements of a list that are objects; the others are reported."""
        return [n for n in self.items(f"a list of {what}") if n.obj(what)]

    def text(self, *, required: bool = False, what: str = "a string") -> str | None:
        v = self.value
        if isinstance(v, str):
            return v
        if v is None:
            if required:
                self.problem(f"missing: expected {what}")
            return None
        self.problem(f"expected {what}, got {kind(v)}")
        return None

    def time(self) -> str | None:
        """A timestamp as the CLI printed it: ISO text, or epoch seconds (kept as their text)."""
        v = self.value
        if isinstance(v, str):
            return v
        if isinstance(v, int | float) and not isinstance(v, bool):
            return str(v)
        if v is not None:
            self.problem(f"expected a timestamp, got {kind(v)}")
        return None

    def integer(self, *, required: bool = False, what: str = "a whole number") -> int | None:
        v = self.value
        if isinstance(v, int) and not isinstance(v, bool):
            return v
        if v is None:
            if required:
                self.problem(f"missing: expected {what}")
            return None
        self.problem(f"expected {what}, got {kind(v)}")
        return None

    def boolean(self, *, required: bool = False) -> bool | None:
        v = self.value
        if isinstance(v, bool):
            return v
        if v is None:
            if required:
                self.problem("missing: expected true or false")
            return None
        self.problem(f"expected true or false, got {kind(v)}")
        return None

    def texts(self, what: str = "a string") -> list[str]:
        out = []
        for n in self.items(f"a list of strings ({what})"):
            t = n.text(what=what)
            if t is not None:
                out.append(t)
        return out

    def choice(self, choices: Sequence[str], *, required: bool = False) -> str | None:
        """One of ``choices``; a misspelt value is reported with the nearest choice."""
        t = self.text(required=required, what=" or ".join(choices) if len(choices) <= 3 else "a known value")
        if t is None or t in choices:
            return t
        hint = suggest(t, choices)
        shown = ", ".join(choices)
        self.problem(f"{t!r} is not one of {shown}" + (f" (did you mean {hint}?)" if hint else ""))
        return None

    def tags(self) -> dict[str, str]:
        """``[{"Key": …, "Value": …}]`` as a dict."""
        out: dict[str, str] = {}
        for tag in self.objects("a tag {Key, Value}"):
            k = tag["Key"].text(required=True)
            v = tag["Value"].text()
            if k is not None:
                out[k] = v or ""
        return out
