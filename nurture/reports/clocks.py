"""The clocks figures are measured in: wall-clock days, and the SLA's working hours of a rep.

:func:`working_hours_between` defines a handoff's hours; the report counts them a column at a time
(:class:`WorkingClock`, over instants as whole microseconds since 1970 UTC), the same floats, bit
for bit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from nurture.timewindows import WeeklyHours, open_intervals, working_time_between

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

RepHours = Mapping[str, tuple[WeeklyHours, ZoneInfo]]
"""Each rep's working hours and time zone, by rep id (from the program's sales teams)."""


def working_hours_between(hours: RepHours, rep_id: str | None, start: datetime, end: datetime) -> float:
    """Hours inside the rep's working hours, as the SLA counts them; wall-clock hours for the
    team's manager or a rep no longer in the program, who have no working hours to count in."""
    known = hours.get(rep_id) if rep_id is not None else None
    if known is None:
        return (end - start).total_seconds() / 3600
    weekly, zone = known
    return working_time_between(weekly, zone, start, end).total_seconds() / 3600


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_DAY_US = 86_400_000_000
_MARGIN_US = 7 * _DAY_US  # walked beyond the instants asked, so that nearby later ones need no walk
# The instants a datetime can hold (a rep's week is walked in datetimes).
_FIRST_US = (datetime.min.replace(tzinfo=UTC) - _EPOCH) // _MICROSECOND
_LAST_US = (datetime.max.replace(tzinfo=UTC) - _EPOCH) // _MICROSECOND
_EXACT_US = 2**53  # up to here a float64 holds whole microseconds exactly


def _hours(micros: NDArray[np.int64]) -> NDArray[np.float64]:
    """``timedelta(microseconds=m).total_seconds() / 3600`` for each ``m``, bit for bit.

    ``total_seconds`` divides the whole microseconds by 10**6, correctly rounded; a float64 holds
    microseconds up to 2**53 (285 years) exactly, so dividing it by 1e6 rounds to the same float.
    Longer spans go through timedelta itself.
    """
    hours: NDArray[np.float64] = micros.astype("float64") / 1e6 / 3600
    for at in ((micros > _EXACT_US) | (micros < -_EXACT_US)).nonzero()[0].tolist():
        hours[at] = timedelta(microseconds=int(micros[at])).total_seconds() / 3600
    return hours


def _open_micros(weekly: WeeklyHours, zone: ZoneInfo, first: int, last: int) -> list[tuple[int, int]]:
    """The rep's open intervals in ``[first, last)``, in microseconds since 1970."""
    since, until = _EPOCH + timedelta(microseconds=first), _EPOCH + timedelta(microseconds=last)
    return [
        ((opens - _EPOCH) // _MICROSECOND, (closes - _EPOCH) // _MICROSECOND)
        for opens, closes in open_intervals(weekly, zone, since, until)
    ]


@dataclass
class _WorkingLine:
    """A rep's working microseconds from ``first`` up to any instant of ``[first, last]``.

    The count is a line broken at each opening and closing: from ``breaks[k]`` on it rises by
    ``rate[k]`` microseconds a microsecond (the number of intervals open there: 0 or 1 for a
    rep's week, though overlapping intervals would count once each, as the SLA's sum counts
    them), from ``worked[k]``. All in whole microseconds, so differences are exact.
    """

    first: int
    last: int
    intervals: list[tuple[int, int]]  # as walked, to build on when the span grows
    breaks: NDArray[np.int64]
    rate: NDArray[np.int64]
    worked: NDArray[np.int64]

    @classmethod
    def build(cls, first: int, last: int, intervals: list[tuple[int, int]]) -> _WorkingLine:
        # why: numpy loads only when a column of handoffs is counted, not for everyday commands
        import numpy as np

        # The span's first instant is a breakpoint of its own, so every instant asked has one at
        # or before it.
        times = np.array(
            [first, *(opens for opens, _ in intervals), *(closes for _, closes in intervals)], dtype=np.int64
        )
        steps = np.array([0] + [1] * len(intervals) + [-1] * len(intervals), dtype=np.int64)
        breaks, which = np.unique(times, return_inverse=True)
        change = np.zeros(len(breaks), dtype=np.int64)
        np.add.at(change, which, steps)
        rate = np.cumsum(change)
        worked = np.concatenate([np.zeros(1, dtype=np.int64), np.cumsum(rate[:-1] * np.diff(breaks))])
        return cls(first, last, intervals, breaks, rate, worked)

    def until(self, at: NDArray[np.int64]) -> NDArray[np.int64]:
        """Working microseconds from the span's first instant to each of ``at`` (inside the span)."""
        k = self.breaks.searchsorted(at, side="right") - 1
        return self.worked[k] + self.rate[k] * (at - self.breaks[k])


class WorkingClock:
    """The SLA's working hours of a rep between instants, a column at a time.

    ``hours_between(rep, starts, ends)[i]`` is exactly ``working_hours_between(hours, rep, start,
    end)`` for the i-th pair (instants as whole microseconds since 1970 UTC): the rep's working
    hours, negative when the end comes first; wall-clock hours for ``None`` (a team's manager
    without hours) or a rep not in ``hours`` (no longer in the program). Each rep's week is walked
    once over the span of the instants asked, and again only for instants beyond it: a report asks
    rep by rep, some two million handoffs over a year or so.
    """

    def __init__(self, hours: RepHours) -> None:
        self.hours = hours
        # Reps of a team share their hours: one line serves all who have equal ones.
        self._lines: dict[object, _WorkingLine] = {}

    def hours_between(
        self, rep_id: str | None, starts: NDArray[np.int64], ends: NDArray[np.int64]
    ) -> NDArray[np.float64]:
        if starts.shape != ends.shape or starts.ndim != 1:
            raise ValueError(
                f"starts and ends must be columns of one length, got {starts.shape} and {ends.shape}"
            )
        starts, ends = starts.astype("int64", copy=False), ends.astype("int64", copy=False)
        known = self.hours.get(rep_id) if rep_id is not None else None
        if rep_id is None or known is None or not len(starts):
            return _hours(ends - starts)
        lowest = min(int(starts.min()), int(ends.min()))
        highest = max(int(starts.max()), int(ends.max()))
        line = self._line(rep_id, known, lowest, highest)
        return _hours(line.until(ends) - line.until(starts))

    def _line(
        self, rep_id: str, known: tuple[WeeklyHours, ZoneInfo], lowest: int, highest: int
    ) -> _WorkingLine:
        """The rep's line over a span holding ``[lowest, highest]``; walks only days not yet walked."""
        key: object = known
        try:
            hash(known)
        except TypeError:  # days off kept in a container without a hash: the rep's own line
            key = rep_id
        line = self._lines.get(key)
        if line is not None and line.first <= lowest and highest <= line.last:
            return line
        weekly, zone = known
        # Whole UTC days and a week beyond, within what a datetime can hold.
        first = max(_FIRST_US, (lowest // _DAY_US) * _DAY_US - _MARGIN_US)
        last = min(_LAST_US, -(-highest // _DAY_US) * _DAY_US + _MARGIN_US)
        if line is None:
            intervals = _open_micros(weekly, zone, first, last)
        else:
            # An interval clipped at the walked span's end meets its other part exactly there.
            before = _open_micros(weekly, zone, first, line.first) if first < line.first else []
            after = _open_micros(weekly, zone, line.last, last) if last > line.last else []
            intervals = before + line.intervals + after
            first, last = min(first, line.first), max(last, line.last)
        line = self._lines[key] = _WorkingLine.build(first, last, intervals)
        return line
