"""The experiment statistics against known answers: published interval values, and simulated
tests whose truth is known (vectorised draws, no engine). Tolerances are three binomial standard
errors of the simulated rate (a fixed seed, so a run never flakes; the bound says how far an
honest method may stray)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from nurture.definitions.experiments import choose_by_weight, holdout_point, variant_point
from nurture.definitions.steps import SendStep
from nurture.reports.experiments import (
    VariantSend,
    comparison_alpha,
    decide,
    judge_variants,
    planned_samples,
)
from nurture.reports.proportions import newcombe, sample_size, wilson

SIMULATIONS = 1_000


def three_se(rate: float, runs: int = SIMULATIONS) -> float:
    return 3 * math.sqrt(rate * (1 - rate) / runs)


@pytest.mark.parametrize(
    ("successes", "trials", "low", "high"),
    # Newcombe (1998), Statistics in Medicine 17:857, table I, method 3 (Wilson score).
    [(81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605), (0, 20, 0.0, 0.1611), (1, 29, 0.0061, 0.1718)],
)
def test_wilson_intervals_match_the_published_values(
    successes: int, trials: int, low: float, high: float
) -> None:
    found = wilson(successes, trials)
    assert found == pytest.approx((low, high), abs=5e-5)


@pytest.mark.parametrize(
    ("control", "other", "difference", "low", "high"),
    # Newcombe (1998), Statistics in Medicine 17:873, table II, method 10 (hybrid score).
    [
        ((48, 80), (56, 70), 0.2, 0.0524, 0.3339),
        ((3, 10), (9, 10), 0.6, 0.1705, 0.8090),
        ((0, 29), (5, 56), 0.0893, -0.0381, 0.1926),
        ((0, 20), (0, 10), 0.0, -0.1611, 0.2775),
        ((0, 20), (10, 10), 1.0, 0.6791, 1.0),
    ],
)
def test_newcombe_differences_match_the_published_values(
    control: tuple[int, int], other: tuple[int, int], difference: float, low: float, high: float
) -> None:
    assert newcombe(control, other) == pytest.approx((difference, low, high), abs=5e-5)


def test_sample_sizes_match_the_textbook_formula() -> None:
    # Fleiss, Levin & Paik, without continuity correction: 10% against 15%, alpha 0.05, power 0.8.
    assert sample_size(0.10, 0.05) == (686, 686)
    # The worst case for 5 points: 47.5% against 52.5%.
    assert sample_size(0.475, 0.05) == (1569, 1569)
    assert planned_samples([1, 1], 0.05, None, 0.05) == [1569, 1569]
    assert planned_samples([1, 3], 0.05, 0.10, 0.05)[1] == 3 * planned_samples([1, 3], 0.05, 0.10, 0.05)[0]


def verdicts(
    rng: np.random.Generator, rates: list[float], planned: list[int], alpha: float
) -> list[tuple[str, int | None]]:
    draws = np.stack([rng.binomial(n, p, SIMULATIONS) for n, p in zip(planned, rates, strict=True)], axis=1)
    found = []
    for row in draws:
        verdict, winner, _ = decide([(int(k), n) for k, n in zip(row, planned, strict=True)], planned, alpha)
        found.append((verdict, winner))
    return found


def test_a_thousand_a_a_tests_find_a_false_winner_about_five_percent_of_the_time() -> None:
    planned = planned_samples([1, 1], 0.05, 0.10, 0.05)
    found = verdicts(np.random.default_rng(21), [0.10, 0.10], planned, 0.05)
    assert {v for v, _ in found} <= {"winner", "no difference"}
    false_winners = sum(v == "winner" for v, _ in found) / SIMULATIONS
    assert abs(false_winners - 0.05) <= three_se(0.05), false_winners


def test_a_known_lift_is_found_at_the_planned_power() -> None:
    planned = planned_samples([1, 1], 0.05, 0.10, 0.05)
    found = verdicts(np.random.default_rng(22), [0.10, 0.15], planned, 0.05)
    power = sum(v == ("winner", 1) for v in found) / SIMULATIONS
    assert abs(power - 0.80) <= three_se(0.80), power


def test_a_holdout_of_ten_percent_reaches_its_planned_power_with_unequal_groups() -> None:
    held, treated = planned_samples([0.1, 0.9], 0.05, 0.10, 0.05)
    assert treated == pytest.approx(9 * held, abs=1)
    found = verdicts(np.random.default_rng(23), [0.10, 0.15], [held, treated], 0.05)
    power = sum(v == ("winner", 1) for v in found) / SIMULATIONS
    assert abs(power - 0.80) <= three_se(0.80), power


def test_three_variants_keep_the_false_winners_at_five_percent_over_both_comparisons() -> None:
    alpha = comparison_alpha(3)
    planned = planned_samples([1, 1, 1], 0.05, 0.10, alpha)
    found = verdicts(np.random.default_rng(24), [0.10, 0.10, 0.10], planned, alpha)
    false_winners = sum(v == "winner" for v, _ in found) / SIMULATIONS
    # Bonferroni bounds the family-wise rate by 5%; with two correlated comparisons it is a little below.
    assert false_winners <= 0.05 + three_se(0.05), false_winners


def chi_square(counts: list[int], shares: list[float]) -> float:
    total = sum(counts)
    return sum((c - total * s) ** 2 / (total * s) for c, s in zip(counts, shares, strict=True))


@pytest.mark.parametrize(
    ("weights", "critical"),
    # chi-square critical values at p = 0.001 for 1 and 2 degrees of freedom.
    [([1, 1], 10.828), ([1, 3], 10.828), ([1, 1, 2], 13.816), ([0.2, 0.8], 10.828)],
)
def test_hash_splits_land_within_sampling_error_of_the_weights(weights: list[float], critical: float) -> None:
    counts = [0] * len(weights)
    for lead_id in range(1, 20_001):
        counts[choose_by_weight(weights, variant_point("trial", "welcome", lead_id))] += 1
    shares = [w / sum(weights) for w in weights]
    assert chi_square(counts, shares) < critical, counts


def test_holdout_and_variant_splits_are_independent_and_the_holdout_share_holds() -> None:
    leads = range(1, 20_001)
    held = [holdout_point("trial", i) < 0.1 for i in leads]
    bound = 3.29 * math.sqrt(20_000 * 0.1 * 0.9)  # two-sided p = 0.001
    assert abs(sum(held) - 2_000) < bound
    b_among_held = sum(
        1 for i, h in zip(leads, held, strict=True) if h and variant_point("trial", "welcome", i) >= 0.5
    )
    assert abs(b_among_held - sum(held) / 2) < 3.29 * math.sqrt(sum(held) / 4)


def test_the_hash_is_stable_across_processes() -> None:
    # SHA-256 of "variant/trial/welcome/42": the same number in every process and on every machine.
    assert variant_point("trial", "welcome", 42) == pytest.approx(
        int.from_bytes(__import__("hashlib").sha256(b"variant/trial/welcome/42").digest()[:8], "big") / 2**64
    )


START = datetime(2026, 1, 5, 9, tzinfo=UTC)
STEP = SendStep.model_validate(
    {
        "id": "welcome",
        "send": {
            "template": "t/welcome",
            "subject": "Hallo",
            "variants": [{"id": "a"}, {"id": "b"}],
            "decide_on": {"metric": "clicked", "within": "1d", "min_effect": "20%", "baseline": "30%"},
        },
    }
)


def test_daily_looks_never_change_a_verdict_once_given() -> None:
    """The verdict is decided on each group's first planned leads: looking every day, or more leads
    arriving after the plan is reached, changes nothing (no peeking bias)."""
    rng = np.random.default_rng(25)
    planned = planned_samples([1, 1], 0.20, 0.30, 0.05)[0]
    for _ in range(10):
        sends = []
        for day in range(60):
            for variant in ("a", "b"):
                for n in range(4):
                    at = START + timedelta(days=day, minutes=n)
                    click = at + timedelta(hours=2) if rng.random() < 0.3 else None
                    sends.append(VariantSend(len(sends), "trial", "welcome", variant, at, at, click, click))
        seen = []
        for look in range(1, 61):
            now = START + timedelta(days=look)
            shown = judge_variants(STEP, "trial", [s for s in sends if s.created_at < now], {}, now, None)
            complete = all(v["judged"] >= planned for v in shown["variants"])
            assert (shown["verdict"] != "collecting") == complete
            seen.append((shown["verdict"], shown["winner"], [v["outcomes"] for v in shown["variants"]]))
        decided = [s for s in seen if s[0] != "collecting"]
        assert len(decided) > 20 and all(s == decided[0] for s in decided)
