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
    return quantiles(values, q)[0]


def quantiles(values: Sequence[float] | np.ndarray, *qs: float) -> list[float | None]:
    """Several quantiles of the same values (each as :func:`percentile`), the order statistics of
    all of them picked by one partition: a median and a 90th percentile of a million values cost
    one pass, not two."""
    if len(values) == 0:
        return [None] * len(qs)
    last = len(values) - 1
    positions = [last * q for q in qs]
    ranks = sorted(
        {
            rank
            for position in positions
            for rank in (math.floor(position), min(math.floor(position) + 1, last))
        }
    )
    if isinstance(values, np.ndarray):
        # The order statistics alone (a million values: no full sort), as Python floats.
        picked = np.partition(values, ranks)
        at = {rank: float(picked[rank]) for rank in ranks}
    else:
        ordered = sorted(values)
        at = {rank: ordered[rank] for rank in ranks}
    found: list[float | None] = []
    for position in positions:
        lower = math.floor(position)
        low, high = at[lower], at[min(lower + 1, last)]
        found.append(low + (high - low) * (position - lower))
    return found


def median(values: Sequence[float] | np.ndarray) -> float | None:
    return percentile(values, 0.5)


def rounded(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def share(part: float, whole: float) -> float | None:
    """``part / whole``, None when there is nothing to divide by."""
    return part / whole if whole else None
