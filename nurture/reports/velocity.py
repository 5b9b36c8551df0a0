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
from nurture.reports.rows import Handoff
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
    leads: Sequence[Journey], start: str, end: str, handoffs: dict[int, Handoff], hours: RepHours
) -> list[tuple[datetime, float]]:
    """(when the leg ended, how long it took) for each lead that made it."""
    found: list[tuple[datetime, float]] = []
    for j in leads:
        began, ended = j.arrived(start), j.arrived(end)
        if began is None or ended is None or not j.reached(end):
            continue
        if (start, end) == ("mql", "sal"):
            accepted = handoffs.get(j.lead.id)
            if accepted is None or accepted.responded_at is None:
                continue  # moved on without a rep's acceptance: no SLA clock to read
            found.append(
                (
                    accepted.responded_at,
                    working_hours_between(
                        hours, accepted.rep_id, accepted.assigned_at, accepted.responded_at
                    ),
                )
            )
        else:
            found.append((ended, days_between(began, ended)))
    return found


def velocity(leads: Sequence[Journey], handoffs: Sequence[Handoff], hours: RepHours) -> Velocity:
    accepted: dict[int, Handoff] = {}
    for handoff in handoffs:  # in id order: the first acceptance of each lead
        if handoff.status in ("accepted", "converted") and handoff.responded_at is not None:
            accepted.setdefault(handoff.lead_id, handoff)
    legs: list[Leg] = []
    trend: list[LegMonth] = []
    for start, end in LEGS:
        name = f"{start} -> {end}"
        measured = _durations(leads, start, end, accepted, hours)
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
