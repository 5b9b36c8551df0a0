"""The clocks figures are measured in: wall-clock days, and the SLA's working hours of a rep."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from nurture.timewindows import Interval, WeeklyHours, open_intervals, working_time_between

_DAY = timedelta(days=1)

RepHours = Mapping[str, tuple[WeeklyHours, ZoneInfo]]
"""Each rep's working hours and time zone, by rep id (from the program's sales teams)."""


class CountedHours(dict[str, tuple[WeeklyHours, ZoneInfo]]):
    """Rep hours that keep each span already counted: the SLA (overall and per rep), velocity and
    every group of a breakdown count the same handoffs, and walking a rep's week is the costliest
    step of the report (a million leads hand over some two million times)."""

    def __init__(self, hours: Mapping[str, tuple[WeeklyHours, ZoneInfo]]) -> None:
        super().__init__(hours)
        self.counted: dict[tuple[str | None, datetime, datetime], float] = {}
        self._days: dict[tuple[str, date], list[Interval]] = {}

    def working_time(self, rep_id: str, start: datetime, end: datetime) -> timedelta:
        """:func:`nurture.timewindows.working_time_between` for the rep, to the microsecond, from
        the rep's open intervals of each UTC day, each day's found once: a handoff is answered
        within a day or two, so walking the rep's week afresh for each would repeat the same days."""
        start, end = start.astimezone(UTC), end.astimezone(UTC)
        if end < start:
            return -self.working_time(rep_id, end, start)
        weekly, zone = self[rep_id]
        total = timedelta(0)
        day = start.date()
        while (midnight := datetime.combine(day, time(0), UTC)) < end:
            key = (rep_id, day)
            intervals = self._days.get(key)
            if intervals is None:
                intervals = self._days[key] = open_intervals(weekly, zone, midnight, midnight + _DAY)
            for opens, closes in intervals:
                if closes > start and opens < end:
                    total += min(closes, end) - max(opens, start)
            day += _DAY
        return total


def days_between(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds() / 86_400


def working_hours_between(hours: RepHours, rep_id: str | None, start: datetime, end: datetime) -> float:
    """Hours inside the rep's working hours, as the SLA counts them; wall-clock hours for the
    team's manager or a rep no longer in the program, who have no working hours to count in."""
    counted = hours.counted if isinstance(hours, CountedHours) else None
    if counted is not None and (found := counted.get((rep_id, start, end))) is not None:
        return found
    known = hours.get(rep_id) if rep_id is not None else None
    if known is None:
        value = (end - start).total_seconds() / 3600
    elif isinstance(hours, CountedHours) and rep_id is not None:
        value = hours.working_time(rep_id, start, end).total_seconds() / 3600
    else:
        weekly, zone = known
        value = working_time_between(weekly, zone, start, end).total_seconds() / 3600
    if counted is not None:
        counted[(rep_id, start, end)] = value
    return value
