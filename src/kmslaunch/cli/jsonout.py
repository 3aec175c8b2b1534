"""JSON on standard output, written as it is made.

A report of a large organization holds a hundred thousand launch paths: ``json.dumps(report, indent=2)`` runs
Python's pure-Python encoder (the C one does not indent) over all of it and holds the whole text and the whole
tree in memory at once (285 MB of text and 1.5 GB resident for 96,000 paths). ``write_json`` indents the outer
levels as ``indent=2`` does and, from depth ``flat`` on, writes each value on one line with the C encoder:
a report is then one launch path per line, still one JSON document, and lists may be given as iterators, so
that each element is made, written and dropped in turn. With no ``flat`` (or one deeper than the data) the text
is exactly ``json.dumps(value, indent=2)``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

_INDENT = "  "
_BATCH = 512  # pieces joined per write: one write per piece would cost more than the encoding


def write_json(value: Any, write: Callable[[str], object], *, flat: int | None = None) -> None:
    """Write ``value`` as JSON (and a newline) through ``write``; see the module's docstring for ``flat``."""
    pending: list[str] = []
    for piece in _pieces(value, 0, flat):
        pending.append(piece)
        if len(pending) >= _BATCH:
            write("".join(pending))
            pending.clear()
    pending.append("\n")
    write("".join(pending))


def _key(k: object) -> str:
    # As json.dumps turns keys into strings: True -> "true", 1 -> "1", None -> "null".
    return json.dumps(k if isinstance(k, str) else json.dumps(k))


def _pieces(value: Any, depth: int, flat: int | None) -> Iterator[str]:
    if flat is not None and depth >= flat:
        yield json.dumps(list(value) if isinstance(value, Iterator) else value)
        return
    if isinstance(value, dict):
        if not value:
            yield "{}"
            return
        pad = "\n" + _INDENT * (depth + 1)
        sep = "{" + pad
        for k, v in value.items():
            yield sep + _key(k) + ": "
            yield from _pieces(v, depth + 1, flat)
            sep = "," + pad
        yield "\n" + _INDENT * depth + "}"
    elif isinstance(value, list | tuple | Iterator):
        pad = "\n" + _INDENT * (depth + 1)
        sep = "[" + pad
        for v in value:
            yield sep
            yield from _pieces(v, depth + 1, flat)
            sep = "," + pad
        yield "[]" if sep.startswith("[") else "\n" + _INDENT * depth + "]"
    else:
        yield json.dumps(value)
