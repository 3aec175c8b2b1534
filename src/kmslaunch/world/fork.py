"""A world's copy for a what-if (a fix round of the doctor, a path of the audit, a change of impact): the same
as ``copy.deepcopy``, in a fifth of its time.

The doctor copies its world once per fix round, and an organization's audit makes thousands of such copies;
``copy.deepcopy`` spends most of that time on generic machinery (``__reduce_ex__``, a memo entry for every
string). The world is made of plain dataclasses, dicts, lists, sets and tuples over values that cannot change
(strings, numbers, enums, times, frozen dataclasses of those, and ``Document``, which is shared by design):
``fork`` walks exactly those, keeps what cannot change shared, gives every mutable object its own copy and keeps
aliasing as deepcopy does (an object reached twice is copied once). Anything else goes to ``copy.deepcopy``,
with the same memo, so a type this module does not know is still copied right, only not faster.
"""

from __future__ import annotations

import copy
import dataclasses
import enum
from collections import defaultdict
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, TypeVar

T = TypeVar("T")

# Values that never change, kept as they are (as deepcopy's ``_deepcopy_atomic`` keeps them).
_ATOMS: frozenset[type] = frozenset(
    {str, int, float, bool, type(None), bytes, complex, datetime, date, time, timedelta, timezone, range}
)

# How each type met so far is copied, decided once per type.
_ATOM, _OWN, _DICT, _LIST, _SET, _TUPLE, _DEFAULTDICT, _DATACLASS, _FROZEN, _OTHER = range(10)
_how: dict[type, int] = dict.fromkeys(_ATOMS, _ATOM)
_how.update({dict: _DICT, list: _LIST, set: _SET, tuple: _TUPLE, frozenset: _TUPLE, defaultdict: _DEFAULTDICT})
_fields: dict[type, tuple[str, ...]] = {}  # of the frozen dataclasses


def fork(value: T) -> T:
    """A copy of ``value`` (a world, or any part of one) that shares nothing that can change with it."""
    return _copy(value, {})  # type: ignore[no-any-return]


def _kind(cls: type) -> int:
    if issubclass(cls, enum.Enum):
        how = _ATOM
    elif "__deepcopy__" in dir(cls):
        how = _OWN  # the type says how it is copied (Document: shared)
    elif dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen:  # type: ignore[attr-defined]
        how = _FROZEN
        _fields[cls] = tuple(f.name for f in dataclasses.fields(cls))
    elif dataclasses.is_dataclass(cls) and "__slots__" not in cls.__dict__:
        # A subclass may add attributes of its own (``ReusedIds``): all of them live in ``__dict__``.
        how = _DATACLASS
    else:
        how = _OTHER
    _how[cls] = how
    return how


def _copy(x: Any, memo: dict[int, Any]) -> Any:
    cls = type(x)
    how = _how.get(cls)
    if how is None:
        how = _kind(cls)
    if how == _ATOM:
        return x
    i = id(x)
    if i in memo:
        return memo[i]
    out: Any
    if how == _DICT:
        out = memo[i] = {}
        for k, v in x.items():
            out[k] = v if type(v) in _ATOMS else _copy(v, memo)
    elif how == _LIST:
        out = memo[i] = []
        out.extend(v if type(v) in _ATOMS else _copy(v, memo) for v in x)
    elif how == _DATACLASS:
        out = memo[i] = object.__new__(cls)
        state = out.__dict__
        for k, v in x.__dict__.items():
            state[k] = v if type(v) in _ATOMS else _copy(v, memo)
    elif how == _TUPLE:
        # A tuple (or frozenset) is shared when all it holds is: copied only around something mutable.
        items = [_copy(v, memo) for v in x]
        out = x if all(a is b for a, b in zip(items, x, strict=True)) else cls(items)
        memo[i] = out
    elif how == _SET:
        # Set members are hashable, hence values (strings, tuples of strings): the set itself is what changes.
        out = memo[i] = set(x)
    elif how == _DEFAULTDICT:
        out = memo[i] = defaultdict(x.default_factory)
        for k, v in x.items():
            out[k] = v if type(v) in _ATOMS else _copy(v, memo)
    elif how == _FROZEN:
        # A frozen dataclass is shared when its fields are; one that holds something mutable is deep-copied.
        if all((v := getattr(x, f)) is _copy(v, memo) for f in _fields[cls]):
            out = memo[i] = x
        else:
            out = copy.deepcopy(x, memo)
    else:  # _OWN, _OTHER: deepcopy, with this memo so that aliasing across both is kept
        out = copy.deepcopy(x, memo)
    return out
