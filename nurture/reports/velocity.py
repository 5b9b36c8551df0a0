"""Velocity: how long the legs of the funnel take, and how that changes month by month.

Cohort: the leads given (the report's cohort, or one group of a breakdown). Each leg is measured for
the leads that made it, from the first arrival at its start stage (or later) to the first arrival at
its end stage (or later); recycled leads count once, at their first arrival. Clocks: wall-clock days,
except MQL -> SAL, which is counted in working hours of the rep who accepted, as the SLA counts
(from the accepted handoff's assignment to its acceptance). Trend: by the month (UTC) the leg ended.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from nurture.reports.clocks import RepHours, days_between, working_hours_between
from nurture.reports.journeys import Journey
from nurture.reports.rows import FUNNEL_RANK, Handoff
from nurture.reports.stats import median, percentile, rounded

LEGS = (("lead", "mql"), ("mql", "sal"), ("sal", "sql"), ("lead", "customer"))


@dataclass(frozen=True)
class Leg:
    leg: str  # "lead -> mql"
    clock: str  # days | working hours
    leads: int
    median: float | None
    p90: float | None


@dataclass(frozen=True)
class LegMonth:
    month: str
    leg: str
    leads: int
    median: float | None


@dataclass(frozen=True)
class Velocity:
    legs: list[Leg]
    trend: list[LegMonth]



def _durations(
    leads: Sequence[Journey], handoffs: dict[int, Handoff], hours: RepHours
) -> list[list[tuple[datetime, float]]]:
    """Per leg of :data:`LEGS`, (when the leg ended, how long it took) for each lead that made it;
    one pass over the leads for all legs."""
    legs = [(FUNNEL_RANK[start], FUNNEL_RANK[end], (start, end) == ("mql", "sal")) for start, end in LEGS]
    found: list[list[tuple[datetime, float]]] = [[] for _ in LEGS]
    for j in leads:
        arrivals, top = j.arrivals, j.top
        for (start, end, in_hours), measured in zip(legs, found, strict=True):
            if top < end:
                continue  # (a lead that got there has arrived at every earlier stage too)
            began, ended = arrivals[start], arrivals[end]
            if began is None or ended is None:
                continue
            if in_hours:
                accepted = handoffs.get(j.lead.id)
                if accepted is None or accepted.responded_at is None:
                    continue  # moved on without a rep's acceptance: no SLA clock to read
                measured.append(
                    (
                        accepted.responded_at,
                        working_hours_between(
                            hours, accepted.rep_id, accepted.assigned_at, accepted.responded_at
                        ),
                    )
                )
            else:
                measured.append((ended, days_between(began, ended)))
    return found


def velocity(leads: Sequence[Journey], handoffs: Sequence[Handoff], hours: RepHours) -> Velocity:
    accepted: dict[int, Handoff] = {}
    for handoff in handoffs:  # in id order: the first acceptance of each lead
        if handoff.status in ("accepted", "converted") and handoff.responded_at is not None:
            accepted.setdefault(handoff.lead_id, handoff)
    legs: list[Leg] = []
    trend: list[LegMonth] = []
    for (start, end), measured in zip(LEGS, _durations(leads, accepted, hours), strict=True):
        name = f"{start} -> {end}"
        values = [v for _, v in measured]
        clock = "working hours" if (start, end) == ("mql", "sal") else "days"
        legs.append(Leg(name, clock, len(values), rounded(median(values)), rounded(percentile(values, 0.9))))
        months: dict[tuple[int, int], list[float]] = defaultdict(list)
        for ended, value in measured:
            utc = ended.astimezone(UTC)
            months[(utc.year, utc.month)].append(value)  # formatted once per month, not per lead
        trend.extend(
            LegMonth(f"{year:04d}-{month:02d}", name, len(v), rounded(median(v)))
            for (year, month), v in sorted(months.items())
        )
    return Velocity(legs, trend)
