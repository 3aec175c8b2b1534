"""Reading snapshot files as JSON with paths, and writing them the way the AWS CLI prints them."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from kmslaunch.snapshot.errors import Problem, SnapshotError, kind, suggest
from kmslaunch.snapshot.layout import PARTITIONS

# How deep arrays and objects may nest in a file kmslaunch reads. AWS's documents nest a few levels (a policy's
# Condition values are 5 down; CloudTrail records a dozen or so); the cap keeps every later walk of a value (copies
# of the world, the audit's look for names in policies) well inside Python's recursion limit.
MAX_DEPTH = 64
# Python refuses to turn longer digit strings into ints (sys.get_int_max_str_digits(); CVE-2020-10735).
MAX_DIGITS = 4300

_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}:,]')
# JSON may escape half of a UTF-16 pair alone ("\\ud800"); Python decodes it to a string no output can encode.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_LONG_NUMBER = re.compile(r"-?\d{" + str(MAX_DIGITS + 1) + ",}")


def decode(text: str) -> tuple[Any, str, str | None]:
    """``(value, "", None)`` for JSON ``text``; else ``(None, element path, what is wrong and what was expected)``.

    Never raises: nesting deeper than ``MAX_DEPTH`` and numbers of more than ``MAX_DIGITS`` digits (which Python's
    decoder turns into RecursionError and ValueError) are reported with the path to the element."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, "", f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
    except RecursionError:
        return None, *_too_deep(text)
    except ValueError:
        return None, *_too_long(text)
    if _deeper_than(value, MAX_DEPTH):
        return None, *_too_deep(text)
    if _SURROGATE_ESCAPE.search(text):
        lone = _lone_surrogate(value)
        if lone is not None:
            return (
                None,
                render_path(list(lone)),
                ("a string with an unpaired UTF-16 surrogate (\\ud800-\\udfff): expected Unicode text"),
            )
    return value, "", None


def _lone_surrogate(value: Any) -> tuple[str | int, ...] | None:
    """The path to a string (or object key) holding a lone surrogate, which no text output can encode."""
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(value, ())]
    while stack:
        v, steps = stack.pop()
        if isinstance(v, str):
            if _SURROGATE.search(v):
                return steps
        elif isinstance(v, dict):
            for k, item in v.items():
                if _SURROGATE.search(k):
                    return (*steps, k.encode("utf-8", "backslashreplace").decode())
                stack.append((item, (*steps, k)))
        elif isinstance(v, list):
            stack.extend((item, (*steps, i)) for i, item in enumerate(v))
    return None


def embedded_problem(value: Any) -> tuple[str, str] | None:
    """The first JSON text inside ``value`` (a policy document given as a string, URL-encoded or not) that
    Python's decoder could not take (nested too deep, a number too long): its path and the problem. Syntax errors
    are left to whoever parses the text, which reports them in its own words."""
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(value, ())]
    while stack:
        v, steps = stack.pop()
        if isinstance(v, dict):
            stack.extend((item, (*steps, str(k))) for k, item in reversed(v.items()))
        elif isinstance(v, list):
            stack.extend((item, (*steps, i)) for i, item in reversed(list(enumerate(v))))
        elif isinstance(v, str):
            text = v.strip()
            # What a parser would hand to json.loads: an object or array, URL-encoded or not, or a number.
            if not text or (text[0] not in "{[-0123456789" and text[:3].lower() != "%7b"):
                continue
            _, where, message = decode(unquote(text) if text[:3].lower() == "%7b" else text)
            if message is not None and not message.startswith("not valid JSON"):
                inner = f"{render_path(list(steps))}: {where}" if where else render_path(list(steps))
                return inner, message
    return None


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether arrays and objects nest more than ``limit`` deep in ``value`` (without recursion)."""
    stack = [(value, 1)] if isinstance(value, dict | list) else []
    while stack:
        v, depth = stack.pop()
        if depth > limit:
            return True
        for item in v.values() if isinstance(v, dict) else v:
            if isinstance(item, dict | list):
                stack.append((item, depth + 1))
    return False


def _position(text: str, offset: int) -> str:
    line = text.count("\n", 0, offset) + 1
    return f"line {line} column {offset - (text.rfind(chr(10), 0, offset) + 1) + 1}"


def _scan_path(text: str, stop: int | None = None) -> tuple[list[str | int], int]:
    """The path to the element that is ``MAX_DEPTH + 1`` levels down (or at offset ``stop``), by scanning the text:
    the keys and indexes of the arrays and objects open there, and the offset reached."""
    frames: list[list[Any]] = []  # [kind, key or index, expecting a key]
    for m in _TOKEN.finditer(text):
        if stop is not None and m.start() >= stop:
            return [f[1] for f in frames], m.start()
        tok = m.group()
        if tok in "{[":
            if stop is None and len(frames) >= MAX_DEPTH:
                return [f[1] for f in frames], m.start()
            frames.append(["obj", "", True] if tok == "{" else ["arr", 0, False])
        elif tok in "}]":
            if frames:
                frames.pop()
        elif tok == ":":
            if frames:
                frames[-1][2] = False
        elif tok == ",":
            if frames and frames[-1][0] == "obj":
                frames[-1][2] = True
            elif frames:
                frames[-1][1] += 1
        elif frames and frames[-1][0] == "obj" and frames[-1][2]:
            try:
                frames[-1][1] = json.loads(tok)
            except ValueError:
                frames[-1][1] = tok
    return [f[1] for f in frames], len(text)


def render_path(steps: list[str | int], *, keep: int = 4) -> str:
    """``Events[0].CloudTrailEvent`` from ``["Events", 0, "CloudTrailEvent"]``; a long path keeps its first steps."""
    out = ""
    for i, step in enumerate(steps):
        if i == keep and len(steps) > keep + 1:
            return out + f"… ({len(steps) - keep} more levels)"
        out += f"[{step}]" if isinstance(step, int) else (f".{step}" if out else str(step))
    return out


def _too_deep(text: str) -> tuple[str, str]:
    steps, offset = _scan_path(text)
    return render_path(steps), (
        f"nested more than {MAX_DEPTH} levels deep at {_position(text, offset)}: expected at most {MAX_DEPTH} "
        "levels of arrays and objects"
    )


def _too_long(text: str) -> tuple[str, str]:
    m = _LONG_NUMBER.search(text)
    if m is None:  # not a long number after all: say what Python said
        return "", "not valid JSON: a value Python cannot read"
    steps, _ = _scan_path(text, stop=m.start())
    digits = len(m.group().lstrip("-"))
    return render_path(steps), (
        f"a number of {digits:,} digits at {_position(text, m.start())}: expected a number of at most "
        f"{MAX_DIGITS:,} digits"
    )


def _read(path: Path, name: str) -> tuple[Any, Problem | None]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        return None, Problem(name, "", f"cannot be read: {exc.strerror or exc}")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return None, Problem(name, "", f"not UTF-8 text: {exc.reason} at byte {exc.start}")
    value, where, message = decode(text)
    if message is not None:
        return None, Problem(name, where, message)
    return value, None


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

    def arn(self, *, required: bool = False, what: str = "an ARN") -> str | None:
        """Text that, where it is an ARN (``arn:PARTITION:…``), names one of AWS's partitions: an ARN in any
        other is reported (the engine reads the partition of every ARN it is given)."""
        t = self.text(required=required, what=what)
        if t is None or not t.startswith("arn:"):
            return t
        partition = t.split(":", 2)[1]
        if partition not in PARTITIONS:
            shown = t if len(t) <= 100 else t[:100] + "…"
            self.problem(
                f"{shown!r} names the partition {partition[:40]!r}: expected {what} in one of {', '.join(PARTITIONS)}"
            )
            return None
        return t

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
