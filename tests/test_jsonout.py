"""``cli.jsonout``: the JSON writer of large reports, exactly ``json.dumps(indent=2)`` down to depth ``flat``
and one value per line from there."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from kmslaunch.cli.jsonout import write_json

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=4) | st.integers() | st.booleans(), inner, max_size=4)
    ),
    max_leaves=30,
)


def _written(value: Any, flat: int | None) -> str:
    out: list[str] = []
    write_json(value, out.append, flat=flat)
    return "".join(out)


@given(_json)
def test_write_json_is_json_dumps_indent_2(value: Any) -> None:
    assert _written(value, None) == json.dumps(value, indent=2) + "\n"


@given(_json, st.integers(min_value=0, max_value=4))
def test_write_json_flat_reads_back(value: Any, flat: int) -> None:
    text = _written(value, flat)
    assert json.loads(text) == json.loads(json.dumps(value))
    # Nothing at depth ``flat`` or deeper spans lines: the text has at most as many lines as values above it.
    assert text.count("\n") <= _shallow(value, flat) + 1


def _shallow(value: Any, flat: int, depth: int = 0) -> int:
    if depth >= flat or not isinstance(value, dict | list) or not value:
        return 1
    items = value.values() if isinstance(value, dict) else value
    return 2 + sum(_shallow(v, flat, depth + 1) for v in items)


def test_write_json_takes_iterators() -> None:
    def paths() -> Iterator[dict[str, Any]]:
        yield {"a": [1, {"b": 2}]}
        yield {"a": []}

    text = _written({"paths": paths(), "empty": iter(())}, 2)
    assert text == '{\n  "paths": [\n    {"a": [1, {"b": 2}]},\n    {"a": []}\n  ],\n  "empty": []\n}\n'
    assert _written({"deep": iter([1, 2])}, 1) == '{\n  "deep": [1, 2]\n}\n'
