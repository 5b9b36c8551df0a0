"""AUC and its interval against references computed another way."""

from __future__ import annotations

import itertools
import random

import numpy as np
import pytest

from nurture.scoring.auc import auc, expected_auc, midranks


def brute_force(scores: list[float], converted: list[bool]) -> tuple[float, float]:
    """AUC by counting every pair, and DeLong's variance from the per-lead pair shares."""
    pos = [s for s, y in zip(scores, converted, strict=True) if y]
    neg = [s for s, y in zip(scores, converted, strict=True) if not y]

    def win(a: float, b: float) -> float:
        return 1.0 if a > b else 0.5 if a == b else 0.0

    v10 = [sum(win(p, n) for n in neg) / len(neg) for p in pos]
    v01 = [sum(win(p, n) for p in pos) / len(pos) for n in neg]
    value = sum(v10) / len(pos)
    variance = float(np.var(v10, ddof=1)) / len(pos) + float(np.var(v01, ddof=1)) / len(neg)
    return value, variance


@pytest.mark.parametrize(
    ("scores", "converted", "expected"),
    [
        ([1, 2, 3, 4], [False, False, True, True], 1.0),
        ([1, 2, 3, 4], [True, True, False, False], 0.0),
        ([5, 5, 5, 5], [True, False, True, False], 0.5),
        ([1, 2, 3, 4], [False, True, False, True], 0.75),  # pairs: (2>1) (2<3) (4>1) (4>3)
        ([1, 3, 3, 4], [False, True, False, True], 0.875),  # the tie at 3 counts one half
    ],
)
def test_auc_of_hand_computed_tables(scores: list[float], converted: list[bool], expected: float) -> None:
    found = auc(scores, converted)
    assert found is not None
    assert found.value == pytest.approx(expected)


def test_no_auc_without_both_kinds_of_lead() -> None:
    assert auc([1, 2], [True, True]) is None
    assert auc([], []) is None


@pytest.mark.parametrize("seed", range(5))
def test_auc_and_its_variance_match_a_pair_count(seed: int) -> None:
    rng = random.Random(seed)
    scores = [float(rng.randint(0, 12)) for _ in range(80)]  # many ties
    converted = [rng.random() < 0.2 + s / 30 for s in scores]
    found = auc(scores, converted)
    assert found is not None
    value, variance = brute_force(scores, converted)
    assert found.value == pytest.approx(value, abs=1e-12)
    assert found.standard_error**2 == pytest.approx(variance, rel=1e-9)


def test_auc_matches_scikit_learn_when_installed() -> None:
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(3)
    scores = rng.integers(0, 50, 2_000).astype(float)
    converted = rng.random(2_000) < scores / 60
    found = auc(scores, converted)
    assert found is not None
    assert found.value == pytest.approx(metrics.roc_auc_score(converted, scores), abs=1e-12)


def test_midranks_share_ties() -> None:
    assert midranks(np.array([3.0, 1.0, 3.0, 2.0])).tolist() == [3.5, 1.0, 3.5, 2.0]


def test_expected_auc_is_the_weighted_pair_count() -> None:
    scores = [1.0, 2.0, 2.0, 5.0]
    p = [0.1, 0.4, 0.6, 0.9]
    wins = pairs = 0.0
    for i, j in itertools.permutations(range(4), 2):
        weight = p[i] * (1 - p[j])
        pairs += weight
        wins += weight * (1.0 if scores[i] > scores[j] else 0.5 if scores[i] == scores[j] else 0.0)
    assert expected_auc(scores, p) == pytest.approx(wins / pairs)


def test_the_95_percent_interval_covers_the_true_auc_about_95_percent_of_the_time() -> None:
    # Scores of converted leads ~ N(1, 1), others ~ N(0, 1): true AUC = Phi(1 / sqrt 2).
    truth = 0.7602499389065233
    rng = np.random.default_rng(11)
    runs, covered = 400, 0
    for _ in range(runs):
        converted = rng.random(150) < 0.3
        scores = rng.normal(converted.astype(float), 1.0)
        found = auc(scores, converted)
        assert found is not None
        lo, hi = found.interval
        covered += lo <= truth <= hi
    # Binomial(400, 0.95): standard deviation 4.4 runs; allow 3.5 of them either side.
    assert abs(covered - 0.95 * runs) <= 3.5 * (runs * 0.95 * 0.05) ** 0.5
