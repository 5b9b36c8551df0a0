"""AUC: how often the score ranks a lead that converted above one that did not.

AUC is the Mann-Whitney statistic: over every (converted, not converted) pair, 1 when the converted
lead has the higher score, 1/2 on a tie, 0 otherwise, averaged. 0.5 is a coin toss, 1.0 a perfect
ranking. The 95% interval is DeLong's (DeLong, DeLong & Clarke-Pearson 1988): the AUC's variance
from each lead's share of the pairs, computed from mid-ranks in O(n log n), with the interval
clipped to [0, 1].
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

Z95 = 1.959963984540054


@dataclass(frozen=True)
class Auc:
    value: float
    standard_error: float
    positives: int
    negatives: int

    @property
    def interval(self) -> tuple[float, float]:
        """The 95% interval (normal approximation, clipped to [0, 1])."""
        half = Z95 * self.standard_error
        return max(0.0, self.value - half), min(1.0, self.value + half)


def midranks(values: NDArray[np.float64]) -> NDArray[np.float64]:
    """Ranks from 1, tied values sharing the mean of their ranks."""
    order = np.argsort(values, kind="mergesort")
    ordered = values[order]
    ranks = np.empty(len(values), dtype=np.float64)
    # Each run of equal values gets the mean of the positions it spans.
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    ends = np.r_[starts[1:], len(values)]
    mean_rank = (starts + ends + 1) / 2.0
    ranks[order] = np.repeat(mean_rank, ends - starts)
    return ranks


def auc(
    scores: Sequence[float] | NDArray[np.float64], converted: Sequence[bool] | NDArray[np.bool_]
) -> Auc | None:
    """The AUC of ``scores`` for ``converted``, or None without both kinds of lead."""
    x = np.asarray(scores, dtype=np.float64)
    y = np.asarray(converted, dtype=bool)
    pos, neg = x[y], x[~y]
    m, n = len(pos), len(neg)
    if m == 0 or n == 0:
        return None
    all_ranks = midranks(np.concatenate([pos, neg]))
    pos_ranks, neg_ranks = midranks(pos), midranks(neg)
    # A positive's rank among all, less its rank among positives, counts the negatives below it
    # (a tie counting one half): its share of the pairs it wins.
    v10 = (all_ranks[:m] - pos_ranks) / n
    v01 = 1.0 - (all_ranks[m:] - neg_ranks) / m
    value = float(v10.mean())
    variance = (float(v10.var(ddof=1)) / m if m > 1 else 0.0) + (float(v01.var(ddof=1)) / n if n > 1 else 0.0)
    return Auc(value, variance**0.5, m, n)


def expected_auc(
    scores: Sequence[float] | NDArray[np.float64], probabilities: Sequence[float] | NDArray[np.float64]
) -> float:
    """The AUC ``scores`` would have on average when each lead converts with its ``probabilities``
    (the truth of a generated history): pairs weighted by P(i converts) * P(j does not)."""
    x = np.asarray(scores, dtype=np.float64)
    p = np.asarray(probabilities, dtype=np.float64)
    order = np.argsort(x, kind="mergesort")
    x, p = x[order], p[order]
    q = 1.0 - p
    # For each lead, the weight of not-converting leads strictly below and tied with it.
    starts = np.flatnonzero(np.r_[True, x[1:] != x[:-1]])
    ends = np.r_[starts[1:], len(x)]
    group_q = np.add.reduceat(q, starts)
    below = np.repeat(np.cumsum(group_q) - group_q, ends - starts)
    tied = np.repeat(group_q, ends - starts) - q  # not the lead itself
    wins = float(np.sum(p * (below + 0.5 * tied)))
    pairs = float(p.sum() * q.sum() - np.sum(p * q))
    return wins / pairs if pairs > 0 else float("nan")
