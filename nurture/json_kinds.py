"""A JSON value's kind in the words an error message uses ("must be a string, not a list")."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def json_kind(value: Any) -> str:
    """``null``, ``a boolean``, ``a number``, ``a string``, ``a list`` or ``an object``; for a
    value JSON cannot hold, its Python type's name."""
    if value is None:
        return "null"
    # bool first: True is an int too, and a sender who wrote true should read "a boolean".
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__
