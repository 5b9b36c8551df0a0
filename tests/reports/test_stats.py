"""The order statistics every figure uses: numpy's default (linear) definition, one partition for several."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nurture.reports.stats import median, percentile, quantiles

VALUES = st.lists(st.floats(-1e6, 1e6, allow_nan=False), max_size=60)
QS = st.lists(st.floats(0, 1), min_size=1, max_size=4)


@given(VALUES, QS)
def test_quantiles_are_numpys_linear_percentiles(values: list[float], qs: list[float]) -> None:
    """Of arrays and of lists alike."""
    expected = [float(np.percentile(values, q * 100)) for q in qs] if values else [None] * len(qs)
    for given_values in (np.array(values), values):
        found = quantiles(given_values, *qs)
        assert found == [None if e is None else pytest.approx(e, rel=1e-9, abs=1e-6) for e in expected]
        assert [percentile(given_values, q) for q in qs] == found


def test_a_median_and_a_90th_percentile_by_hand() -> None:
    values = np.array([7.0, 1.0, 3.0, 9.0, 5.0])  # in order: 1 3 5 7 9
    assert quantiles(values, 0.5, 0.9, 0.0, 1.0) == [5.0, 8.2, 1.0, 9.0]
    assert median([4.0, 1.0]) == 2.5
    assert quantiles(np.array([]), 0.5, 0.9) == [None, None]
