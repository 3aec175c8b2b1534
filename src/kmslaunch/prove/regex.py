"""Regular expressions for z3: IAM's wildcards, the ARN patterns of ArnLike, and the shapes of well-formed names."""

from __future__ import annotations

import z3


def _chars(text: str) -> z3.ReRef:
    return z3.Re(z3.StringVal(text))


ANY = z3.Full(z3.ReSort(z3.StringSort()))
ONE = z3.AllChar(z3.ReSort(z3.StringSort()))
_NOT_COLON = z3.Diff(ONE, z3.Re(":"))
_DIGIT = z3.Range("0", "9")
_NAME_CHAR = z3.Union(z3.Range("a", "z"), z3.Range("A", "Z"), _DIGIT, *(z3.Re(c) for c in "+=,.@_-"))
NAME = z3.Plus(_NAME_CHAR)
ACCOUNT_ID = z3.Loop(_DIGIT, 12, 12)
_LOWER_WORD = z3.Plus(z3.Union(z3.Range("a", "z"), _DIGIT, z3.Re("-")))
ACTION = z3.Concat(_LOWER_WORD, z3.Re(":"), z3.Plus(z3.Union(z3.Range("a", "z"), _DIGIT)))
_PRINTABLE = z3.Range(" ", "~")
# A resource is an ARN: six colon-separated parts, the fifth an account id or empty
# (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference-arns.html).
RESOURCE = z3.Concat(
    z3.Re("arn:"),
    _LOWER_WORD,
    z3.Re(":"),
    z3.Star(z3.Union(z3.Range("a", "z"), _DIGIT, z3.Re("-"))),
    z3.Re(":"),
    z3.Star(z3.Union(z3.Range("a", "z"), _DIGIT, z3.Re("-"))),
    z3.Re(":"),
    z3.Option(ACCOUNT_ID),
    z3.Re(":"),
    z3.Plus(_PRINTABLE),
)
_WITH_ACCOUNT = z3.Concat(*([z3.Star(_NOT_COLON), z3.Re(":")] * 4), z3.Plus(_DIGIT), z3.Re(":"), ANY)


def glob_re(pattern: str, ignore_case: bool = False) -> z3.ReRef:
    """IAM's ``*`` and ``?`` (policy/wildcard.py) as a z3 regular expression."""
    parts: list[z3.ReRef] = []
    literal = ""
    for ch in pattern:
        if ch in "*?":
            if literal:
                parts.append(_literal_re(literal, ignore_case))
                literal = ""
            parts.append(ANY if ch == "*" else ONE)
        else:
            literal += ch
    if literal:
        parts.append(_literal_re(literal, ignore_case))
    if not parts:
        return _chars("")
    return parts[0] if len(parts) == 1 else z3.Concat(*parts)


def _literal_re(text: str, ignore_case: bool) -> z3.ReRef:
    if not ignore_case or text.lower() == text.upper():
        return _chars(text)
    pieces = [
        z3.Union(z3.Re(c.lower()), z3.Re(c.upper())) if c.lower() != c.upper() else z3.Re(c)
        for c in text
        if len(c.lower()) == 1 and len(c.upper()) == 1
    ]
    if len(pieces) != len(text):
        return _chars(text.lower()) if text.lower() == text else _chars(text)
    return pieces[0] if len(pieces) == 1 else z3.Concat(*pieces)


def _python_regex_re(regex: str) -> z3.ReRef:
    """The regular expressions ``operators._arn_regex`` writes: escaped literals, ``[^:]*``, ``[^:]``, ``.*``,
    ``.``."""
    out: list[z3.ReRef] = []
    i = 0
    while i < len(regex):
        if regex.startswith("[^:]*", i):
            out.append(z3.Star(_NOT_COLON))
            i += 5
        elif regex.startswith("[^:]", i):
            out.append(_NOT_COLON)
            i += 4
        elif regex.startswith(".*", i):
            out.append(ANY)
            i += 2
        elif regex[i] == ".":
            out.append(ONE)
            i += 1
        elif regex[i] == "\\":
            out.append(z3.Re(regex[i + 1]))
            i += 2
        else:
            out.append(z3.Re(regex[i]))
            i += 1
    return z3.Concat(*out) if len(out) > 1 else out[0]
