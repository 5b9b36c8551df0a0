"""Order statistics used by every figure, defined once so every surface agrees."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-quantile (0..1) by linear interpolation between closest ranks; None when empty.

    The same definition as numpy's default and spreadsheets' PERCENTILE.INC, so exported figures can
    be checked in a spreadsheet.
    """
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    lower = math.floor(position)
    upper = min(lower + 1, len(ordered) - 1)
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (position - lower)


def median(values: Sequence[float]) -> float | None:
    return percentile(values, 0.5)


def rounded(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def share(part: float, whole: float) -> float | None:
    """``part / whole``, None when there is nothing to divide by."""
    return part / whole if whole else None
