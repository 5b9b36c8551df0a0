"""The report's JSON text: exactly ``json.dumps(value, ensure_ascii=False, indent=2)``, made faster.

With ``indent`` the standard library leaves its C encoder aside and walks the value in Python,
one generator step per bracket, key and value; a million leads' report lists half a million stuck
leads, and that walk cost more than computing them. Here each scalar is still written by the
standard library's own functions (strings by its C escaper, numbers by ``repr`` as it does), and
only the layout is put together here, so the text is the same byte for byte.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from json.encoder import encode_basestring
from typing import Any

_INDENT = "  "


def _number(value: float) -> str:
    # What json.dumps writes for floats (allow_nan stays on, as there).
    if value != value:
        return "NaN"
    if value == float("inf"):
        return "Infinity"
    if value == float("-inf"):
        return "-Infinity"
    return float.__repr__(value)


def _key(key: Any) -> str:
    """An object key as json.dumps writes it (it turns numbers, booleans and None into text)."""
    if isinstance(key, str):
        return encode_basestring(key)
    if key is None or isinstance(key, (int, float)):  # a bool is an int
        text = _scalar(key)
        assert text is not None
        return encode_basestring(text)
    raise TypeError(f"keys must be str, int, float, bool or None, not {key.__class__.__name__}")


def _containers(value: Any) -> None:
    return None


# By exact type, the common case looked up at once; subclasses (an IntEnum, say) go the long way.
_BY_TYPE: dict[type, Callable[[Any], str | None]] = {
    str: encode_basestring,
    int: int.__repr__,
    float: _number,
    bool: lambda value: "true" if value else "false",
    type(None): lambda value: "null",
    dict: _containers,
    list: _containers,
    tuple: _containers,
}


def _scalar(value: Any) -> str | None:
    """The text of a scalar, None for a list or an object."""
    known = _BY_TYPE.get(type(value))
    if known is not None:
        return known(value)
    if isinstance(value, str):
        return encode_basestring(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, (dict, list, tuple)):
        return None
    raise TypeError(f"Object of type {value.__class__.__name__} is not JSON serializable")


def _write(value: Any, level: int, out: Callable[[str], object]) -> None:
    text = _scalar(value)
    if text is not None:
        out(text)
        return
    if not value:
        out("{}" if isinstance(value, dict) else "[]")
        return
    inner = "\n" + _INDENT * (level + 1)
    if isinstance(value, dict):
        flat = [(_key(k), _scalar(v)) for k, v in value.items()]
        if all(text is not None for _, text in flat):  # a record of scalars: one string
            out("{" + inner + ("," + inner).join(f"{k}: {v}" for k, v in flat) + "\n" + _INDENT * level + "}")
            return
        out("{")
        for number, ((key, text), item) in enumerate(zip(flat, value.values(), strict=True)):
            out(("," if number else "") + inner + key + ": ")
            if text is not None:
                out(text)
            else:
                _write(item, level + 1, out)
    else:
        out("[")
        written = _records(value, level + 1, out)
        for number, item in enumerate(value[written:], start=written):
            out("," + inner if number else inner)
            _write(item, level + 1, out)
    out("\n" + _INDENT * level + ("}" if isinstance(value, dict) else "]"))


def _records(items: Any, level: int, out: Callable[[str], object]) -> int:
    """Write the leading run of flat records with the keys of the first (in its order); how many
    were written. The report lists half a million stuck leads so: they are written a batch at a
    time, column by column (each column's texts made by one call over its values, the type's
    own function where the values share a type), and each record put together from its
    columns' texts by one format string. An empty list never comes here (written as ``[]``
    before)."""
    first = items[0]
    if type(first) is not dict or not first:
        return 0
    keys = tuple(first)
    if not all(type(k) is str for k in keys):
        return 0
    inner = "\n" + _INDENT * (level + 1)
    heads = [("," if number else "") + inner + encode_basestring(k) + ": " for number, k in enumerate(keys)]
    record = "{{" + "".join(_braces(head) + "{}" for head in heads) + _braces("\n" + _INDENT * level + "}")
    between = ",\n" + _INDENT * level
    written = 0
    while written < len(items):
        batch = items[written : written + _BATCH]
        run = 0
        for item in batch:
            if type(item) is not dict or tuple(item) != keys:
                break
            run += 1
        columns: list[list[str]] = []
        for key in keys:
            texts, run = _column_texts([item[key] for item in batch[:run]])
            columns.append(texts)
        if run == 0:
            break
        text = between.join(map(record.format, *(texts[:run] for texts in columns)))
        out((between if written else "\n" + _INDENT * level) + text)
        written += run  # short of the batch: a record of other keys, or holding a list or an object, is next
    return written


_BATCH = 10_000  # records laid out at a time


def _braces(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


def _column_texts(values: list[Any]) -> tuple[list[str], int]:
    """The texts of ``values`` up to the first that is not a scalar, and how many those are."""
    kinds = set(map(type, values))
    if kinds == {str}:
        return list(map(encode_basestring, values)), len(values)
    if kinds == {float} and all(map(math.isfinite, values)):
        return list(map(float.__repr__, values)), len(values)
    if kinds == {int}:
        return list(map(int.__repr__, values)), len(values)
    texts = []
    for value in values:
        text = _scalar(value)
        if text is None:
            break
        texts.append(text)
    return texts, len(texts)


def indented_json(value: Any) -> str:
    """``json.dumps(value, ensure_ascii=False, indent=2)`` for plain JSON data (dicts, lists,
    tuples, strings, numbers, booleans and None); anything else is left to json.dumps, which
    raises as it always did."""
    parts: list[str] = []
    try:
        _write(value, 0, parts.append)
    except TypeError:
        return json.dumps(value, ensure_ascii=False, indent=2)
    return "".join(parts)


def write_indented_json(value: Any, write: Callable[[str], object]) -> None:
    """:func:`indented_json` handed to ``write`` piece by piece, never held whole: a million
    leads' report is some hundred megabytes of text. Plain JSON data only: anything else raises
    TypeError, possibly after some text was written."""
    pending: list[str] = []
    size = 0

    def collect(text: str) -> None:
        nonlocal size
        pending.append(text)
        size += len(text)
        if size >= _FLUSH:
            flush()

    def flush() -> None:
        nonlocal size
        write("".join(pending))
        pending.clear()
        size = 0

    _write(value, 0, collect)
    flush()


_FLUSH = 1 << 20  # characters gathered before each write
