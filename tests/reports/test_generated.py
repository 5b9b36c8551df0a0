"""The waterfall on generated histories: rates and medians within sampling error of the truth.

Tolerances are four standard errors: binomial sqrt(p(1-p)/n) for a rate, and for the median of an
exponential wait with mean m over n leads, 1 / (2 f(median) sqrt(n)) = m / sqrt(n). A seed is fixed
so the test is repeatable, but the bounds are those of any seed (one failure in ~16,000).
"""

from __future__ import annotations

import math

import pytest

from nurture.reports.clocks import WorkingClock
from nurture.reports.cohort import waterfall
from nurture.reports.velocity import velocity
from tests.reports.generated import MEAN_DAYS, TRUTH, generate
from tests.reports.rows import every, handoffs_of

N = 6000


@pytest.fixture(scope="module")
def figures():  # type: ignore[no-untyped-def]
    return {s.stage: s for s in waterfall(generate(N, seed=20260302)).stages}


@pytest.mark.parametrize("stage", ["mql", "sal", "sql", "opportunity", "customer"])
def test_rates_are_within_binomial_error_of_the_truth(figures, stage: str) -> None:  # type: ignore[no-untyped-def]
    stages = list(figures)
    previous = figures[stages[stages.index(stage) - 1]].reached
    p = TRUTH.rates[stage]
    error = math.sqrt(p * (1 - p) / previous)
    assert figures[stage].rate == pytest.approx(p, abs=4 * error + 1e-4)  # + the report's rounding


def test_recycled_and_requalified_leads_count_once(figures) -> None:  # type: ignore[no-untyped-def]
    # Counted twice, MQLs would be about 0.3 + 0.3 * 0.4 * 0.5 = 36 % of leads, not 30 %.
    error = math.sqrt(0.3 * 0.7 / N)
    assert figures["mql"].reached / N == pytest.approx(0.3, abs=4 * error)


def test_skipped_stages_are_reached_and_reported_apart(figures) -> None:  # type: ignore[no-untyped-def]
    skipped = figures["opportunity"].skipped
    assert 0 < skipped < figures["opportunity"].reached
    error = math.sqrt(0.2 * 0.8 / figures["opportunity"].reached)
    assert skipped / figures["opportunity"].reached == pytest.approx(0.2, abs=4 * error)


@pytest.mark.parametrize("stage", ["mql", "sal", "sql", "opportunity"])
def test_median_days_are_within_sampling_error_of_the_truth(figures, stage: str) -> None:  # type: ignore[no-untyped-def]
    mean = MEAN_DAYS[stage]
    measured = figures[stage].reached - figures[stage].skipped
    assert figures[stage].median_days == pytest.approx(
        mean * math.log(2), abs=4 * mean / math.sqrt(measured) + 0.01
    )


def test_velocity_lead_to_mql_median_matches_the_waterfall() -> None:
    leads = generate(2000, seed=7)
    (lead_to_mql, *_) = velocity(leads, every(leads), handoffs_of([], leads), WorkingClock({})).legs
    assert lead_to_mql.median == {s.stage: s for s in waterfall(leads).stages}["mql"].median_days
