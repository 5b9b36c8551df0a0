"""Velocity: how long the legs of the funnel take, and how that changes month by month.

Cohort: the leads given (the report's cohort, or one group of a breakdown). Each leg is measured for
the leads that made it, from the first arrival at its start stage (or later) to the first arrival at
its end stage (or later); recycled leads count once, at their first arrival. Clocks: wall-clock days,
except MQL -> SAL, which is counted in working hours of the rep who accepted, as the SLA counts
(from the accepted handoff's assignment to its acceptance). Trend: by the month (UTC) the leg ended.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nurture.reports.clocks import WorkingClock
from nurture.reports.handoffs import Handoffs
from nurture.reports.instants import NEVER, days, month_label, months
from nurture.reports.journeys import Journeys
from nurture.reports.rows import FUNNEL_RANK
from nurture.reports.stats import median, quantiles, rounded

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
    journeys: Journeys, members: np.ndarray, handoffs: Handoffs, clock: WorkingClock
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per leg of :data:`LEGS`, (when the leg ended, how long it took) for each lead that made it."""
    found = []
    top = journeys.top[members]
    arrivals = journeys.arrivals[members]
    for start, end in LEGS:
        first, last = FUNNEL_RANK[start], FUNNEL_RANK[end]
        began, ended = arrivals[:, first], arrivals[:, last]
        made_it = (top >= last) & (began != NEVER) & (ended != NEVER)
        if (start, end) != ("mql", "sal"):
            found.append((ended[made_it], days(ended[made_it] - began[made_it])))
            continue
        # Measured from the lead's first accepted handoff, in the accepting rep's working hours;
        # a lead that moved on without a rep's acceptance has no SLA clock to read.
        picked = handoffs.first_acceptance(len(journeys))[members[made_it]]
        picked = picked[picked >= 0]
        answered = handoffs.responded[picked]
        spent = np.empty(len(picked), dtype=np.float64)
        for rep in np.unique(handoffs.rep[picked]):
            of_rep = handoffs.rep[picked] == rep
            spent[of_rep] = clock.hours_between(
                handoffs.reps.text(int(rep)), handoffs.assigned[picked][of_rep], answered[of_rep]
            )
        found.append((answered, spent))
    return found


def _stable_order(month: np.ndarray) -> np.ndarray:
    """``np.argsort(month, kind="stable")``: as offsets from the first month where they fit in 16
    bits, which numpy sorts by radix (a fifth of the time of 64-bit integers)."""
    if len(month) and int(month.max()) - int(month.min()) < 2**15:
        return np.argsort((month - month.min()).astype(np.int16), kind="stable")
    return np.argsort(month, kind="stable")


def velocity(journeys: Journeys, members: np.ndarray, handoffs: Handoffs, clock: WorkingClock) -> Velocity:
    legs: list[Leg] = []
    trend: list[LegMonth] = []
    for (start, end), (ended, values) in zip(
        LEGS, _durations(journeys, members, handoffs, clock), strict=True
    ):
        name = f"{start} -> {end}"
        clock_name = "working hours" if (start, end) == ("mql", "sal") else "days"
        middle, high = quantiles(values, 0.5, 0.9)
        legs.append(Leg(name, clock_name, len(values), rounded(middle), rounded(high)))
        month = months(ended)
        order = _stable_order(month)
        found, starts = np.unique(month[order], return_index=True)
        for index, (at, begin) in enumerate(zip(found, starts, strict=True)):
            stop = starts[index + 1] if index + 1 < len(starts) else len(order)
            chosen = values[order[begin:stop]]
            trend.append(LegMonth(month_label(int(at)), name, len(chosen), rounded(median(chosen))))
    return Velocity(legs, trend)
