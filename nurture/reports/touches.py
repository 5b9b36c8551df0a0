"""Touches before MQL: how many emails and human engagements it took to qualify a lead.

Cohort: the leads given that became MQLs (recorded at ``mql``). Counted per lead, up to its first
qualification: marketing emails sent, and engagements by a person (opens and clicks from privacy
proxies and scanners are not touches). Distribution in buckets of sent emails.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from nurture.reports.instants import NEVER
from nurture.reports.journeys import MQL, Journeys
from nurture.reports.stats import median, quantiles, rounded
from nurture.reports.touch_columns import Touches

BUCKETS = ((0, 0), (1, 2), (3, 5), (6, 8), (9, 12), (13, None))


@dataclass(frozen=True)
class TouchFigures:
    mqls: int
    median_emails: float | None
    median_engagements: float | None
    p90_emails: float | None
    emails_distribution: dict[str, int] = field(default_factory=dict)  # "6-8" -> MQLs


def _bucket(count: int) -> str:
    for low, high in BUCKETS:
        if count >= low and (high is None or count <= high):
            return f"{low}+" if high is None else (str(low) if low == high else f"{low}-{high}")
    raise AssertionError(count)


def touches_before_mql(journeys: Journeys, members: np.ndarray, touches: Touches) -> TouchFigures:
    """The touches of the ``members`` (rows) that qualified, up to their first qualification."""
    qualified = journeys.first_at[:, MQL]
    counted = np.zeros(len(journeys), dtype=bool)
    counted[members] = True
    counted &= qualified != NEVER
    size = len(journeys)
    emails = np.zeros(size, dtype=np.int64)
    engagements = np.zeros(size, dtype=np.int64)
    for begin, end in touches.blocks():
        lead, sent = touches.lead[begin:end], touches.sent[begin:end]
        before = counted[lead] & (touches.at[begin:end] <= qualified[lead])
        emails += np.bincount(lead[before & sent], minlength=size)
        engagements += np.bincount(lead[before & ~sent], minlength=size)
    emails, engagements = emails[counted], engagements[counted]
    distribution = {_bucket(low): 0 for low, _ in BUCKETS}
    for low, high in BUCKETS:
        inside = (emails >= low) if high is None else ((emails >= low) & (emails <= high))
        distribution[_bucket(low)] = int(np.count_nonzero(inside))
    median_emails, p90_emails = quantiles(emails.astype(np.float64), 0.5, 0.9)
    return TouchFigures(
        mqls=len(emails),
        median_emails=rounded(median_emails),
        median_engagements=rounded(median(engagements.astype(np.float64))),
        p90_emails=rounded(p90_emails),
        emails_distribution=distribution,
    )
