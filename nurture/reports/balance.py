"""Inflow, outflow and balance of each stage per week or month.

Not a cohort: every recorded stage change of every lead counts in the period it happened. Inflow is
the number of moves into the stage in the period, outflow the moves out of it; balance is the number
of leads at the stage at the end of the period (all moves since the beginning, in minus out), so the
balance of a period follows from the one before it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np

from nurture.reports.instants import micros
from nurture.reports.journeys import STAGES, stage_code
from nurture.reports.rows import StageChange


@dataclass(frozen=True)
class StageBalance:
    period: str  # 2026-03 (month) or 2026-03-02 (the Monday a week starts on)
    stage: str
    inflow: int
    outflow: int
    balance: int


def period_start(at: datetime, every: str) -> date:
    """The first day of the week (Monday, UTC) or month ``at`` falls in."""
    day = at.astimezone(UTC).date()
    if every == "week":
        return day - timedelta(days=day.weekday())
    if every == "month":
        return day.replace(day=1)
    raise ValueError(f"every must be week or month, not {every!r}")


def _next(start: date, every: str) -> date:
    if every == "week":
        return start + timedelta(days=7)
    return date(start.year + start.month // 12, start.month % 12 + 1, 1)


def _label(start: date, every: str) -> str:
    return start.isoformat() if every == "week" else start.strftime("%Y-%m")


Moves = tuple[Counter[tuple[date, str]], Counter[tuple[date, str]]]
"""Moves into (inflow) and out of (outflow) each stage, by the start of the period they fell in."""


def stage_moves(changes: Iterable[StageChange], until: datetime, every: str) -> Moves:
    """The moves before ``until`` counted per period and stage (plain rows)."""
    listed = list(changes)
    return counted_moves(
        np.array([stage_code(c.from_stage) for c in listed], dtype=np.int64),
        np.array([stage_code(c.to_stage) for c in listed], dtype=np.int64),
        np.array([micros(c.at) for c in listed], dtype=np.int64),
        until,
        every,
    )


_EPOCH_DAY = date(1970, 1, 1)
_DAY_US = 86_400_000_000
_DENSE = 10_000_000  # (day, stage) keys counted in an array; beyond, by sorting


def counted_moves(
    from_stage: np.ndarray, to_stage: np.ndarray, at: np.ndarray, until: datetime, every: str
) -> Moves:
    """:func:`stage_moves` of changes as columns (stage codes, -1 for none; µs instants): each
    change's period worked out for all at once, the moves counted per period and stage."""
    if every not in ("week", "month"):
        raise ValueError(f"every must be week or month, not {every!r}")
    before = at < micros(until)
    day = np.floor_divide(at[before], _DAY_US)
    # 1970-01-01 was a Thursday; weeks start on Monday.
    start = day - (day + 3) % 7 if every == "week" else _month_starts(day)
    inflow: Counter[tuple[date, str]] = Counter()
    outflow: Counter[tuple[date, str]] = Counter()
    first = int(start.min()) if len(start) else 0
    for counter, stage in ((inflow, to_stage[before]), (outflow, from_stage[before])):
        known = stage >= 0
        keys = (start[known] - first) * len(STAGES) + stage[known]
        if len(keys) and int(keys.max()) < _DENSE:  # the usual span of days: counted in one pass
            counts = np.bincount(keys)
            found, counted = np.flatnonzero(counts), counts[counts > 0]
        else:  # a history spread over centuries (hand-written instants): counted by sorting
            found, counted = np.unique(keys, return_counts=True)
        for key, count in zip(found.tolist(), counted.tolist(), strict=True):
            period, code = divmod(key, len(STAGES))
            counter[(_EPOCH_DAY + timedelta(days=first + period), STAGES[code])] += count
    return inflow, outflow


def _month_starts(day: np.ndarray) -> np.ndarray:
    """The first day of each day's month (days since 1970-01-01). Over the usual span of days,
    each day of the span is worked out once and the changes look theirs up: numpy's calendar,
    per change, cost half a second for five million changes."""
    if len(day) and int(day.max()) - int(day.min()) < _DENSE:
        first = int(day.min())
        span = np.arange(first, int(day.max()) + 1)
        looked_up: np.ndarray = _calendar_month_starts(span)[day - first]
        return looked_up
    return _calendar_month_starts(day)


def _calendar_month_starts(day: np.ndarray) -> np.ndarray:
    return day.astype("datetime64[D]").astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)


def stage_balance(
    changes: Iterable[StageChange], since: datetime | None, until: datetime, every: str
) -> list[StageBalance]:
    """Per period from ``since`` (else the first change) up to ``until``, per stage."""
    return balance_rows(stage_moves(changes, until, every), since, until, every)


def balance_rows(moves: Moves, since: datetime | None, until: datetime, every: str) -> list[StageBalance]:
    """:func:`stage_balance` from the moves already counted."""
    inflow, outflow = moves
    # Every counted move is a move into a stage: the first period is the earliest of those.
    first = min((start for start, _ in inflow), default=None)
    if first is None:
        return []
    begin = period_start(since, every) if since is not None else first
    end = period_start(until, every)
    balance: Counter[str] = Counter()
    for (start, stage), count in inflow.items():
        if start < begin:
            balance[stage] += count
    for (start, stage), count in outflow.items():
        if start < begin:
            balance[stage] -= count
    rows: list[StageBalance] = []
    start = begin
    while start <= end:
        for stage in STAGES:
            came, left = inflow[(start, stage)], outflow[(start, stage)]
            balance[stage] += came - left
            if came or left or balance[stage]:
                rows.append(StageBalance(_label(start, every), stage, came, left, balance[stage]))
        start = _next(start, every)
    return rows
