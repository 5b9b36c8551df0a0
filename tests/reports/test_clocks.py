"""Working hours counted day by day (the report's cache) equal the SLA's own count, to the
microsecond, across DST changes, night shifts, days off and spans of any length."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from nurture.reports.clocks import CountedHours, working_hours_between
from nurture.timewindows import WeeklyHours, working_time_between

SHIFTS = {
    "office": (WeeklyHours.parse("mon-fri", "08:00-18:00"), ZoneInfo("Europe/Berlin")),
    "night": (WeeklyHours.parse("mon-sat", "22:00-06:00"), ZoneInfo("America/New_York")),
    "early": (WeeklyHours.parse("sun-thu", "00:30-03:30"), ZoneInfo("Europe/London")),
    "holidays": (
        replace(
            WeeklyHours.parse("mon-fri", "09:00-17:00"),
            closed=frozenset({date(2026, 3, 30), date(2026, 10, 26), date(2026, 12, 24)}),
        ),
        ZoneInfo("Europe/Berlin"),
    ),
}
# Around the spring and autumn changes of Europe and America, and plain weeks.
AROUND = [datetime(2026, 3, 8, tzinfo=UTC), datetime(2026, 3, 29, tzinfo=UTC),
          datetime(2026, 10, 25, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC),
          datetime(2026, 6, 10, tzinfo=UTC)]  # fmt: skip


@pytest.mark.parametrize("rep", sorted(SHIFTS))
def test_day_by_day_count_equals_the_slas(rep: str) -> None:
    weekly, zone = SHIFTS[rep]
    counted = CountedHours(SHIFTS)
    chance = random.Random(rep)
    for _ in range(400):
        start = chance.choice(AROUND) + timedelta(minutes=chance.uniform(-5 * 1440, 5 * 1440))
        start = start.replace(microsecond=chance.randrange(1_000_000))
        end = start + timedelta(hours=chance.choice([0, 0.5, 3, 30, 200]) * chance.random())
        if chance.random() < 0.1:
            start, end = end, start  # answered "before" it was assigned: negative, as the SLA counts
        assert counted.working_time(rep, start, end) == working_time_between(weekly, zone, start, end)
        assert working_hours_between(counted, rep, start, end) == (
            working_time_between(weekly, zone, start, end).total_seconds() / 3600
        )


def test_a_rep_without_hours_and_the_manager_count_wall_clock_hours() -> None:
    counted = CountedHours(SHIFTS)
    start = datetime(2026, 3, 28, 20, tzinfo=UTC)
    assert working_hours_between(counted, None, start, start + timedelta(hours=7)) == 7.0
    assert working_hours_between(counted, "gone", start, start + timedelta(hours=7, minutes=30)) == 7.5
