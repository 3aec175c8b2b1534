"""Policy variables: ``${aws:username}``, ``${aws:PrincipalTag/team, 'default'}``, ``${*}``, ``${?}``, ``${$}``.

IAM substitutes variables in the Resource element and in the values of string and ARN condition operators
("IAM policy elements: Variables and tags"). ``${*}``, ``${?}`` and ``${$}`` stand for the literal
characters, so a policy can match a real asterisk. A variable whose key is absent from the request and
that has no default makes the value match nothing (AWS: "If the key is not present ... the policy
doesn't match"); a default written as ``${key, 'value'}`` is used instead when it has one.
Values taken from the request are literal: a ``*`` in a user name is not a wildcard.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache

from kmslaunch.policy.wildcard import Matcher, _translate

Context = Mapping[str, tuple[str, ...]]

_VAR = re.compile(r"\$\{([^}]*)\}")
_DEFAULT = re.compile(r"^\s*([^,\s]+)\s*,\s*'([^']*)'\s*$")
_SPECIAL = {"*": "*", "?": "?", "$": "$"}


@dataclass(frozen=True, slots=True)
class Literal:
    text: str


@dataclass(frozen=True, slots=True)
class Special:
    """``${*}``, ``${?}`` or ``${$}``: the character itself, never a wildcard."""

    char: str


@dataclass(frozen=True, slots=True)
class Variable:
    key: str  # as written, for messages
    key_lower: str
    default: str | None


Part = Literal | Special | Variable


@dataclass(frozen=True, slots=True)
class Template:
    """A value with at least one ``${...}``; resolved against the request context at evaluation time."""

    source: str
    parts: tuple[Part, ...]
    # Resolved text and matchers by the variables' values: the same caller resolves the same way every time.
    _texts: dict[tuple[str, ...], str] = field(default_factory=dict, compare=False, repr=False, hash=False)
    _globs: dict[tuple[tuple[str, ...], bool], Matcher] = field(
        default_factory=dict, compare=False, repr=False, hash=False
    )

    def keys(self) -> tuple[str, ...]:
        return tuple(p.key for p in self.parts if isinstance(p, Variable))

    def _values(self, ctx: Context) -> list[str] | None:
        out: list[str] = []
        for p in self.parts:
            if isinstance(p, Variable):
                got = ctx.get(p.key_lower)
                if got is None or len(got) != 1:
                    # Absent (or multi-valued, which IAM cannot substitute): fall back on the default.
                    if p.default is None:
                        return None
                    out.append(p.default)
                else:
                    out.append(got[0])
        return out

    def resolve_text(self, ctx: Context) -> str | None:
        """The value with variables replaced, for exact comparisons; None when a variable is missing."""
        values = self._values(ctx)
        if values is None:
            return None
        memo = tuple(values)
        got = self._texts.get(memo)
        if got is not None:
            return got
        it = iter(values)
        pieces: list[str] = []
        for p in self.parts:
            if isinstance(p, Literal):
                pieces.append(p.text)
            elif isinstance(p, Special):
                pieces.append(p.char)
            else:
                pieces.append(next(it))
        text = "".join(pieces)
        if len(self._texts) < 1024:
            self._texts[memo] = text
        return text

    def resolve_glob(self, ctx: Context, ignore_case: bool = False) -> Matcher | None:
        """A wildcard matcher where only the policy's own ``*`` and ``?`` are wildcards."""
        values = self._values(ctx)
        if values is None:
            return None
        memo = (tuple(values), ignore_case)
        got = self._globs.get(memo)
        if got is not None:
            return got
        it = iter(values)
        pieces: list[str] = []
        for p in self.parts:
            if isinstance(p, Literal):
                pieces.append(_translate(p.text))
            elif isinstance(p, Special):
                pieces.append(re.escape(p.char))
            else:
                pieces.append(re.escape(next(it)))
        matcher = _regex_matcher("".join(pieces), ignore_case)
        if len(self._globs) < 1024:
            self._globs[memo] = matcher
        return matcher


@lru_cache(maxsize=16384)
def _regex_matcher(regex: str, ignore_case: bool) -> Matcher:
    fullmatch = re.compile(regex, re.DOTALL | (re.IGNORECASE if ignore_case else 0)).fullmatch
    return lambda s: fullmatch(s) is not None


def parse_template(text: str) -> Template | None:
    """Parse ``text`` into a Template, or None when it holds no variable (the common, fast case)."""
    if "${" not in text:
        return None
    parts: list[Part] = []
    pos = 0
    for m in _VAR.finditer(text):
        if m.start() > pos:
            parts.append(Literal(text[pos : m.start()]))
        inner = m.group(1)
        if inner in _SPECIAL:
            parts.append(Special(_SPECIAL[inner]))
        else:
            dm = _DEFAULT.match(inner)
            key, default = (dm.group(1), dm.group(2)) if dm else (inner.strip(), None)
            parts.append(Variable(key, key.lower(), default))
        pos = m.end()
    if pos < len(text):
        parts.append(Literal(text[pos:]))
    return Template(text, tuple(parts))
