"""Touches before MQL: how many emails and human engagements it took to qualify a lead.

Cohort: the leads given that became MQLs (recorded at ``mql``). Counted per lead, up to its first
qualification: marketing emails sent, and engagements by a person (opens and clicks from privacy
proxies and scanners are not touches). Distribution in buckets of sent emails.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from nurture.reports.journeys import Journey
from nurture.reports.rows import Touch
from nurture.reports.stats import median, percentile, rounded

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


def touches_before_mql(leads: Sequence[Journey], touches: Mapping[int, Sequence[Touch]]) -> TouchFigures:
    counter = TouchCounter()
    for j in leads:
        counter.add(j, touches.get(j.lead.id, ()))
    return counter.figures()


class TouchCounter:
    """The figures taken one lead at a time, so a million leads' touches are never held at once."""

    def __init__(self) -> None:
        self.emails: list[float] = []
        self.engagements: list[float] = []

    def add(self, j: Journey, touches: Sequence[Touch]) -> None:
        qualified = j.first_at.get("mql")
        if qualified is None:
            return
        before = [t.kind for t in touches if t.at <= qualified]
        sent = before.count("sent")
        self.emails.append(sent)
        self.engagements.append(len(before) - sent)

    def figures(self) -> TouchFigures:
        emails = self.emails
        distribution = {_bucket(low): 0 for low, _ in BUCKETS}
        for count in emails:
            distribution[_bucket(int(count))] += 1
        return TouchFigures(
            mqls=len(emails),
            median_emails=rounded(median(emails)),
            median_engagements=rounded(median(self.engagements)),
            p90_emails=rounded(percentile(emails, 0.9)),
            emails_distribution=distribution,
        )
