"""Bounce and complaint rates over a sliding window: the figures a circuit breaker judges.

The definition (the one mailbox providers use when they judge a sender):

* **denominator** — emails of the campaign *handed over* in the window: accepted by the relay
  (``sent``) or refused by it for good at once (an SMTP hard bounce). Mail still queued, retried
  or suppressed before sending is not counted.
* **hard-bounce numerator** — hard bounces *recorded* in the window: the relay's refusals at once,
  plus delivery-status notifications read from the bounce mailbox that name one of our messages.
* **complaint numerator** — spam complaints (feedback-loop reports) recorded in the window that
  name one of our messages.
* **window** — ``breaker_window`` (default 1 h) back from now, counted in whole minutes, and never
  before the last ``nurture resume`` of that campaign (or of all marketing mail), so a resumed
  campaign is not tripped again by the figures that paused it.

Complaints arrive hours after their emails, so the complaint rate compares complaints received with
emails handed over in the same window, as providers' postmaster dashboards do. A rate is judged only
once ``breaker_min_sends`` emails were handed over in the window: one bounce in three emails is
noise, not a signal. The workspace's figures are the sums over its campaigns.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from nurture.durations import format_duration

HARD_BOUNCE = "hard_bounce_rate"
COMPLAINT = "complaint_rate"


@dataclass(frozen=True)
class BreakerLimits:
    hard_bounce_rate: float  # 0 = not judged
    complaint_rate: float  # 0 = not judged
    min_sends: int
    window: timedelta


@dataclass(frozen=True)
class WindowFigures:
    """One campaign's (or the workspace's) counts in its window."""

    handed_over: int
    hard_bounces: int
    complaints: int
    since: datetime

    @property
    def hard_bounce_rate(self) -> float:
        return self.hard_bounces / self.handed_over if self.handed_over else 0.0

    @property
    def complaint_rate(self) -> float:
        return self.complaints / self.handed_over if self.handed_over else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "handed_over": self.handed_over,
            "hard_bounces": self.hard_bounces,
            "complaints": self.complaints,
            "hard_bounce_rate": round(self.hard_bounce_rate, 6),
            "complaint_rate": round(self.complaint_rate, 6),
            "since": self.since.isoformat(),
        }


@dataclass(frozen=True)
class Trip:
    """A breaker that trips: which rate, and the figures that tripped it."""

    reason: str  # HARD_BOUNCE | COMPLAINT
    figures: WindowFigures
    limit: float

    def describe(self, scope: str, window: timedelta) -> str:
        if self.reason == HARD_BOUNCE:
            what, count = "hard bounces", self.figures.hard_bounces
            rate = self.figures.hard_bounce_rate
        else:
            what, count = "complaints", self.figures.complaints
            rate = self.figures.complaint_rate
        return (
            f"{scope}: {count} {what} in {self.figures.handed_over} emails handed over "
            f"({rate:.2%}, limit {self.limit:.2%}) within {_window_text(window)}"
        )


def judge(figures: WindowFigures, limits: BreakerLimits) -> Trip | None:
    """The breaker's verdict: trip on the first rate over its limit, once the sample is big enough.

    A rate equal to its limit does not trip: the limit is the highest rate still tolerated.
    """
    if figures.handed_over < limits.min_sends:
        return None
    if limits.hard_bounce_rate > 0 and figures.hard_bounce_rate > limits.hard_bounce_rate:
        return Trip(HARD_BOUNCE, figures, limits.hard_bounce_rate)
    if limits.complaint_rate > 0 and figures.complaint_rate > limits.complaint_rate:
        return Trip(COMPLAINT, figures, limits.complaint_rate)
    return None


def window_start(now: datetime, window: timedelta, resumed_at: datetime | None) -> datetime:
    """Where the window begins: ``window`` back from now, or the last resume when that is later."""
    start = now - window
    return max(start, resumed_at) if resumed_at is not None else start


def minute_of(instant: datetime) -> datetime:
    """The minute a tally falls in."""
    return instant.replace(second=0, microsecond=0)


def _window_text(window: timedelta) -> str:
    return f"the last {format_duration(window)}"
