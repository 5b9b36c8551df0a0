"""How deep JSON may nest: events and lead rows are flat records, never towers of brackets.

Python's JSON decoder recurses once per level and gives up with a RecursionError after about a
thousand; every later walk of the value (checks, storage, scoring) would recurse as deep. A limit
far below that turns such a document into a plain "400: nested too deeply" instead. The raw text
is looked at first: a text with fewer opening brackets than the limit cannot nest deeper.
"""

from __future__ import annotations

from typing import Any

MAX_DEPTH = 32
"""Objects and lists inside one another: an event and its ``properties`` use two or three."""

TOO_DEEP = f"JSON nested deeper than {MAX_DEPTH} levels of objects and lists"


def may_nest_too_deeply(raw: bytes | str) -> bool:
    """Whether ``raw`` has enough opening brackets to nest deeper than :data:`MAX_DEPTH`."""
    if isinstance(raw, str):
        return raw.count("[") + raw.count("{") > MAX_DEPTH
    return raw.count(b"[") + raw.count(b"{") > MAX_DEPTH


def nests_too_deeply(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether a decoded JSON value holds objects or lists more than ``limit`` levels deep.

    A walk with its own stack: a value that got past the decoder is never walked by recursion.
    """
    if not isinstance(value, (dict, list)):
        return False
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        current, depth = pending.pop()
        children = current.values() if isinstance(current, dict) else current
        for child in children:
            if isinstance(child, (dict, list)):
                if depth + 1 > limit:
                    return True
                pending.append((child, depth + 1))
    return False
