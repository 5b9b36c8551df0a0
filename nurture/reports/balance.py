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

from nurture.reports.rows import FUNNEL, SIDE_STAGES, StageChange

STAGES = ("subscriber", *FUNNEL, *SIDE_STAGES)


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


def stage_balance(
    changes: Iterable[StageChange], since: datetime | None, until: datetime, every: str
) -> list[StageBalance]:
    """Per period from ``since`` (else the first change) up to ``until``, per stage."""
    inflow: Counter[tuple[date, str]] = Counter()
    outflow: Counter[tuple[date, str]] = Counter()
    first: date | None = None
    for change in changes:
        if change.at >= until:
            continue
        start = period_start(change.at, every)
        first = start if first is None or start < first else first
        inflow[(start, change.to_stage)] += 1
        if change.from_stage:
            outflow[(start, change.from_stage)] += 1
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
