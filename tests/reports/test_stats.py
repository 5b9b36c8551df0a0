"""The order statistics every figure uses (numpy's default, linear, definition; one partition for
several), and the calendar months the stage balance counts in."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nurture.reports import balance
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


@pytest.mark.parametrize("size", [1_000, 4_321])
def test_several_quantiles_of_many_values_are_those_of_the_values_sorted(size: int) -> None:
    """Every rank one partition places, bit for bit as a full sort gives them."""
    values = np.random.default_rng(size).normal(size=size)
    qs = (0.5, 0.9, 0.1, 0.99, 0.25, 0.0, 1.0)
    assert quantiles(values, *qs) == quantiles(sorted(values.tolist()), *qs)


def test_a_median_and_a_90th_percentile_by_hand() -> None:
    values = np.array([7.0, 1.0, 3.0, 9.0, 5.0])  # in order: 1 3 5 7 9
    assert quantiles(values, 0.5, 0.9, 0.0, 1.0) == [5.0, 8.2, 1.0, 9.0]
    assert median([4.0, 1.0]) == 2.5
    assert quantiles(np.array([]), 0.5, 0.9) == [None, None]


@given(st.lists(st.integers(-719_000, 2_932_000), min_size=1, max_size=50), st.integers(0, 30))
def test_each_days_month_start_is_the_calendars(days: list[int], spread: int) -> None:
    """Looked up over the span of days (every instant of years 1 to 9999 is within a span looked up)."""
    day = np.array([d // (1 + spread) for d in days], dtype=np.int64)
    expected = [(date(1970, 1, 1) + timedelta(days=int(d))).replace(day=1) for d in day]
    found = balance._month_starts(day)
    assert [date(1970, 1, 1) + timedelta(days=int(d)) for d in found] == expected
