"""Weekly hours (send windows, reps' working hours) and the calendar maths over them.

A window is a set of days and a daily span of wall-clock time in one time zone. An instant lies inside
the window when its wall-clock time in that zone falls inside the span of an included day; a span that
crosses midnight belongs to the day it starts on. Durations are always real elapsed time, so a whole-day
window has 23 hours on spring-forward day and 25 on fall-back day.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Container, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

__all__ = [
    "Interval",
    "WeeklyHours",
    "add_working_time",
    "next_open",
    "open_intervals",
    "parse_days",
    "parse_hours",
    "working_time_between",
]

_DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_DAYS = {name: i for names in (_DAY_NAMES, _FULL_NAMES) for i, name in enumerate(names)}
_ALIASES = {
    "daily": frozenset(range(7)),
    "weekdays": frozenset(range(5)),
    "weekends": frozenset({5, 6}),
}
_DAYS_HELP = (
    "use mon..sun, a range such as mon-fri (fri-mon wraps round), a list such as mon,wed-fri, "
    "or daily, weekdays, weekends"
)
_HOURS = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
_HOURS_HELP = 'write "HH:MM-HH:MM", e.g. "09:00-17:00", "22:00-06:00" (crosses midnight) or "00:00-24:00"'


def _day(name: str, text: str) -> int:
    try:
        return _DAYS[name.strip()]
    except KeyError:
        raise ValueError(f"{name.strip()!r} in days {text!r} is not a day; {_DAYS_HELP}") from None


def parse_days(text: str) -> frozenset[int]:
    """Parse a day set such as ``mon-fri`` or ``sat,sun`` into weekday numbers (0 = Monday)."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"days {text!r} is empty; {_DAYS_HELP}")
    days: set[int] = set()
    for part in text.lower().split(","):
        part = part.strip()
        if part in _ALIASES:
            days |= _ALIASES[part]
        elif "-" in part:
            first, _, last = part.partition("-")
            lo, hi = _day(first, text), _day(last, text)
            # A wrapping range such as fri-mon runs on through Sunday.
            days.update((lo + i) % 7 for i in range((hi - lo) % 7 + 1))
        elif part:
            days.add(_day(part, text))
        else:
            raise ValueError(f"days {text!r} has an empty item; {_DAYS_HELP}")
    return frozenset(days)


def parse_hours(text: str) -> tuple[time, time]:
    """Parse ``HH:MM-HH:MM``; an end at or before the start means the span ends on the next day.

    ``24:00`` is accepted as an end only and becomes ``00:00`` of the next day, so ``00:00-24:00``
    is ``(00:00, 00:00)``: a whole day.
    """
    match = _HOURS.match(text) if isinstance(text, str) else None
    if not match:
        raise ValueError(f"hours {text!r} is not a time span; {_HOURS_HELP}")
    sh, sm, eh, em = (int(g) for g in match.groups())
    if sh > 23 or sm > 59:
        raise ValueError(f"hours {text!r} starts at an impossible time; {_HOURS_HELP}")
    if (eh, em) != (24, 0) and (eh > 23 or em > 59):
        raise ValueError(f"hours {text!r} ends at an impossible time; {_HOURS_HELP}")
    if (sh, sm) == (eh, em):
        raise ValueError(f"hours {text!r} is an empty span; for a whole day write 00:00-24:00")
    return time(sh, sm), time(eh % 24, em)


@dataclass(frozen=True)
class WeeklyHours:
    """Days of the week and a daily span of wall-clock time.

    ``end <= start`` means the span ends on the next day (``end == start`` is 24 hours); such a span
    belongs to the day it starts on.
    """

    days: frozenset[int]
    start: time
    end: time
    closed: Container[date] = frozenset()  # days off (holidays): no span starts on them

    def __post_init__(self) -> None:
        if not self.days:
            raise ValueError(f"weekly hours need at least one day; {_DAYS_HELP}")
        if not self.days <= frozenset(range(7)):
            raise ValueError(f"days must be weekday numbers 0 (Monday) to 6 (Sunday): {sorted(self.days)}")

    @classmethod
    def parse(cls, days: str, hours: str) -> WeeklyHours:
        """Build from the definition strings, e.g. ``WeeklyHours.parse("mon-fri", "09:00-17:00")``."""
        start, end = parse_hours(hours)
        return cls(parse_days(days), start, end)

    @property
    def crosses_midnight(self) -> bool:
        """True when each day's span ends on the following day."""
        return self.end <= self.start

    def contains(self, local: datetime) -> bool:
        """Whether a wall-clock time (naive, or aware in the window's zone) is inside the window."""
        wall = local.time().replace(fold=0)
        weekday = local.weekday()
        if not self.crosses_midnight:
            return weekday in self.days and self.start <= wall < self.end
        return (weekday in self.days and wall >= self.start) or (
            (weekday - 1) % 7 in self.days and wall < self.end
        )

    @property
    def span(self) -> timedelta:
        """The wall-clock length of one day's span (its real length differs on DST days)."""
        length = datetime.combine(date.min, self.end) - datetime.combine(date.min, self.start)
        return length if length > timedelta(0) else length + timedelta(days=1)


Interval = tuple[datetime, datetime]
"""An instant range ``[opens, closes)`` in aware UTC."""

# No zone has ever been a whole day away from UTC, so the instant with wall time w is w - offset
# for an offset strictly inside this margin.
_MARGIN = timedelta(days=1)
_WEEK = timedelta(weeks=1)


def _utc(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime, got naive {value.isoformat()}")
    return value.astimezone(UTC)


def _offset(zone: ZoneInfo, instant: datetime) -> timedelta:
    offset = instant.astimezone(zone).utcoffset()
    assert offset is not None
    return offset


def _transition(zone: ZoneInfo, before: datetime, after: datetime) -> datetime:
    """The instant in (before, after] where the offset changes; assumes it changes once in between."""
    target = _offset(zone, after)
    lo, hi = int(before.timestamp()), int(after.timestamp())
    # The tz database records transitions to the second, so bisecting whole seconds finds the instant.
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _offset(zone, datetime.fromtimestamp(mid, UTC)) == target:
            hi = mid
        else:
            lo = mid
    return datetime.fromtimestamp(hi, UTC)


def _day_intervals(hours: WeeklyHours, zone: ZoneInfo, day: date) -> list[Interval]:
    """The instants whose wall time lies in ``day``'s span, as UTC intervals.

    Usually one interval; a local start that does not exist opens at the first instant after the gap,
    and a fall-back inside the span makes the repeated wall times count twice (two intervals when the
    span starts or ends inside the repeated hour).
    """
    # Wall times are written as UTC datetimes so that subtracting an offset gives the instant.
    opens = datetime.combine(day, hours.start, UTC)
    closes = datetime.combine(day + timedelta(days=hours.crosses_midnight), hours.end, UTC)
    lo, hi = opens - _MARGIN, closes + _MARGIN
    before, after = _offset(zone, lo), _offset(zone, hi)
    if before == after:
        return [(opens - before, closes - before)]
    change = _transition(zone, lo, hi)
    # Before the change, wall = instant + before; from it on, wall = instant + after.
    first = (opens - before, min(change, closes - before))
    second = (max(change, opens - after), closes - after)
    pieces = [interval for interval in (first, second) if interval[0] < interval[1]]
    if len(pieces) == 2 and first[1] == second[0]:
        return [(first[0], second[1])]
    return pieces


def _intervals(hours: WeeklyHours, zone: ZoneInfo, since: datetime) -> Iterator[Interval]:
    """The window's UTC intervals that end after ``since``, in order, without end."""
    # A span can hold wall times up to two days after its day, and wall times are within a day of UTC.
    day = since.date() - timedelta(days=3)
    pending: list[Interval] = []
    while True:
        if day.weekday() in hours.days and day not in hours.closed:
            for interval in _day_intervals(hours, zone, day):
                if interval[1] > since:
                    heapq.heappush(pending, interval)
        day += timedelta(days=1)
        # Around a fall-back one day's second interval may come after the next day's first; later days
        # only hold wall times from this day's opening on, so nothing of theirs starts before `horizon`.
        horizon = datetime.combine(day, hours.start, UTC) - _MARGIN
        while pending and pending[0][0] <= horizon:
            yield heapq.heappop(pending)


def open_intervals(hours: WeeklyHours, zone: ZoneInfo, start: datetime, end: datetime) -> list[Interval]:
    """The window's UTC intervals overlapping ``[start, end)``, clipped to it."""
    start, end = _utc(start, "start"), _utc(end, "end")
    found: list[Interval] = []
    for opens, closes in _intervals(hours, zone, start):
        if opens >= end:
            return found
        found.append((max(opens, start), min(closes, end)))
    return found


def next_open(hours: WeeklyHours, zone: ZoneInfo, at: datetime) -> datetime:
    """The earliest instant at or after ``at`` inside the window in ``zone`` (aware UTC)."""
    at = _utc(at, "at")
    opens, _ = next(_intervals(hours, zone, at))
    return max(opens, at)


def _whole_weeks(hours: WeeklyHours, zone: ZoneInfo, at: datetime, left: timedelta) -> int:
    """How many whole weeks from ``at`` hold the nominal weekly total and leave work after them."""
    if hours.closed:
        return 0  # a week with a day off is shorter: walk it day by day
    weekly = hours.span * len(hours.days)
    offset, weeks = _offset(zone, at), 0
    # A week with one offset throughout repeats the wall-clock pattern exactly; checking each boundary
    # finds every DST change, since a zone never changes and changes back within a week.
    while weekly * (weeks + 1) < left and _offset(zone, at + _WEEK * (weeks + 1)) == offset:
        weeks += 1
    return weeks


def add_working_time(hours: WeeklyHours, zone: ZoneInfo, start: datetime, duration: timedelta) -> datetime:
    """The instant (aware UTC) when ``duration`` of time inside the window has passed since ``start``.

    Zero returns ``start`` itself; otherwise the result lies inside or at the close of an interval.
    """
    if duration < timedelta(0):
        raise ValueError(f"working time must not be negative, got {duration}")
    cursor, left = _utc(start, "start"), duration
    if not left:
        return cursor
    intervals = _intervals(hours, zone, cursor)
    while True:
        opens, closes = next(intervals)
        opens = max(opens, cursor)
        if closes - opens >= left:
            return opens + left
        left -= closes - opens
        cursor = closes
        weeks = _whole_weeks(hours, zone, cursor, left)
        if weeks:
            cursor += _WEEK * weeks
            left -= hours.span * len(hours.days) * weeks
            intervals = _intervals(hours, zone, cursor)


def working_time_between(hours: WeeklyHours, zone: ZoneInfo, start: datetime, end: datetime) -> timedelta:
    """The real elapsed time inside the window between two instants (negative if ``end`` < ``start``)."""
    start, end = _utc(start, "start"), _utc(end, "end")
    if end < start:
        return -working_time_between(hours, zone, end, start)
    return sum((closes - opens for opens, closes in open_intervals(hours, zone, start, end)), timedelta(0))
