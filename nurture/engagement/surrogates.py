"""JSON may spell a string no database can store: an unpaired UTF-16 surrogate (``"\\ud800"``).

Python decodes such an escape into a string that cannot be encoded as UTF-8, so the insert fails
and, with it, the whole batch. Events carrying one are refused one by one instead. The raw text
is looked at first: only a document with a ``\\uD800``-``\\uDFFF`` escape is walked.
"""

from __future__ import annotations

import re
from typing import Any

_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def may_hold_surrogates(raw: bytes) -> bool:
    """Whether the JSON text has a surrogate escape at all (most never do)."""
    return b"\\u" in raw and _SURROGATE_ESCAPE.search(raw) is not None


def has_unpaired_surrogate(value: Any) -> bool:
    """Whether any string in a decoded JSON value (keys included) holds an unpaired surrogate."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, dict):
        return any(has_unpaired_surrogate(k) or has_unpaired_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(has_unpaired_surrogate(v) for v in value)
    return False


UNPAIRED_SURROGATE = "text with an unpaired UTF-16 surrogate escape (e.g. \\ud800) cannot be stored"
