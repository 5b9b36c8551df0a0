"""Rates and their differences, with intervals, and the sample a comparison of two rates needs.

* A rate's interval is Wilson's score interval (Wilson 1927): unlike the textbook ``p ± z·SE`` it
  stays inside [0, 1] and keeps close to its stated coverage for the small counts and rates near 0
  that email outcomes have.
* The interval of a difference of two independent rates is Newcombe's hybrid score interval
  (Newcombe 1998, method 10), built from the two Wilson intervals: no continuity correction,
  coverage close to nominal even for rates near 0 or 1.
* The sample is the classic normal-approximation formula for two proportions (Fleiss, Levin & Paik,
  without continuity correction), for a two-sided test at ``alpha`` with ``power``, allowing
  unequal groups (``ratio`` = size of the second group / size of the first).

Quantiles of the normal distribution come from the standard library (:class:`statistics.NormalDist`).
"""

from __future__ import annotations

import math
from statistics import NormalDist

ALPHA = 0.05
POWER = 0.8
_NORMAL = NormalDist()


def z_two_sided(alpha: float) -> float:
    """The normal quantile of a two-sided test at ``alpha`` (1.96 for 0.05)."""
    return _NORMAL.inv_cdf(1 - alpha / 2)


def wilson(successes: int, trials: int, alpha: float = ALPHA) -> tuple[float, float]:
    """Wilson's score interval of ``successes / trials``; (0, 1) when there are no trials."""
    if trials <= 0:
        return 0.0, 1.0
    z = z_two_sided(alpha)
    p = successes / trials
    z2n = z * z / trials
    centre = (p + z2n / 2) / (1 + z2n)
    half = z * math.sqrt(p * (1 - p) / trials + z2n / (4 * trials)) / (1 + z2n)
    # Exact at the edges: 0 successes give 0 as the lower bound, all successes give 1 as the upper.
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == trials else min(1.0, centre + half)
    return low, high


def newcombe(
    control: tuple[int, int], other: tuple[int, int], alpha: float = ALPHA
) -> tuple[float, float, float]:
    """The difference ``rate(other) - rate(control)`` and Newcombe's hybrid score interval of it;
    each argument is (successes, trials), each with at least one trial."""
    (k1, n1), (k2, n2) = control, other
    p1, p2 = k1 / n1, k2 / n2
    l1, u1 = wilson(k1, n1, alpha)
    l2, u2 = wilson(k2, n2, alpha)
    difference = p2 - p1
    low = difference - math.sqrt((p2 - l2) ** 2 + (u1 - p1) ** 2)
    high = difference + math.sqrt((u2 - p2) ** 2 + (p1 - l1) ** 2)
    return difference, max(-1.0, low), min(1.0, high)


def sample_size(
    baseline: float, min_effect: float, alpha: float = ALPHA, power: float = POWER, ratio: float = 1.0
) -> tuple[int, int]:
    """Leads needed in the control and the other group to find a difference of ``min_effect``
    (absolute) from a control rate of ``baseline``, two-sided at ``alpha`` with ``power``; the other
    group is ``ratio`` times the control's size. The effect is taken upwards unless that passes 1."""
    p1 = baseline
    p2 = baseline + min_effect if baseline + min_effect <= 1 else baseline - min_effect
    if not (0 < min_effect < 1) or not (0 <= p2 <= 1) or ratio <= 0:
        raise ValueError(f"cannot plan for a rate of {baseline} and an effect of {min_effect}")
    z_alpha, z_beta = z_two_sided(alpha), _NORMAL.inv_cdf(power)
    pooled = (p1 + ratio * p2) / (1 + ratio)
    spread = z_alpha * math.sqrt(pooled * (1 - pooled) * (1 + 1 / ratio)) + z_beta * math.sqrt(
        p1 * (1 - p1) + p2 * (1 - p2) / ratio
    )
    control = math.ceil(spread**2 / min_effect**2 - 1e-9)
    return control, math.ceil(control * ratio - 1e-9)
