"""Order statistics used by every figure, defined once so every surface agrees."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def percentile(values: Sequence[float] | np.ndarray, q: float) -> float | None:
    """The ``q``-quantile (0..1) by linear interpolation between closest ranks; None when empty.

    The same definition as numpy's default and spreadsheets' PERCENTILE.INC, so exported figures can
    be checked in a spreadsheet.
    """
    if len(values) == 0:
        return None
    position = (len(values) - 1) * q
    lower = math.floor(position)
    upper = min(lower + 1, len(values) - 1)
    if isinstance(values, np.ndarray):
        # The two order statistics alone (a million values: no full sort), as Python floats.
        picked = np.partition(values, [lower, upper]) if upper != lower else np.partition(values, lower)
        low, high = float(picked[lower]), float(picked[upper])
    else:
        ordered = sorted(values)
        low, high = ordered[lower], ordered[upper]
    return low + (high - low) * (position - lower)


def median(values: Sequence[float] | np.ndarray) -> float | None:
    return percentile(values, 0.5)


def rounded(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def share(part: float, whole: float) -> float | None:
    """``part / whole``, None when there is nothing to divide by."""
    return part / whole if whole else None
