"""The SLA clock runs in the rep's working hours and time zone: a table of deadlines."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from nurture.definitions import Rep, WorkingHours
from nurture.durations import parse_duration
from nurture.sales.deadlines import accept_due_at
from nurture.zones import zone


def rep(timezone: str, days: str, hours: str) -> Rep:
    return Rep(
        id="anna",
        name="Anna",
        email="anna@sales.example",
        working_hours=WorkingHours(timezone=timezone, days=days, hours=hours),
    )


BERLIN = ("Europe/Berlin", "mon-fri", "08:00-18:00")

# (working hours, assigned at (rep's wall clock), accept within, due (rep's wall clock))
CASES = [
    pytest.param(BERLIN, "2026-03-06 17:30", "4h", "2026-03-09 11:30", id="friday-evening-to-monday"),
    pytest.param(BERLIN, "2026-03-02 09:00", "4h", "2026-03-02 13:00", id="inside-one-day"),
    pytest.param(BERLIN, "2026-03-07 10:00", "4h", "2026-03-09 12:00", id="saturday-waits-for-monday"),
    pytest.param(BERLIN, "2026-03-02 06:00", "4h", "2026-03-02 12:00", id="before-hours"),
    pytest.param(BERLIN, "2026-03-02 19:00", "4h", "2026-03-03 12:00", id="after-hours"),
    pytest.param(BERLIN, "2026-03-02 18:00", "1h", "2026-03-03 09:00", id="at-closing-time"),
    pytest.param(BERLIN, "2026-03-02 17:59", "1m", "2026-03-02 18:00", id="last-minute-of-the-day"),
    pytest.param(BERLIN, "2026-03-02 08:00", "24h", "2026-03-04 12:00", id="several-working-days"),
    pytest.param(BERLIN, "2026-03-02 08:00", "1w", "2026-03-24 16:00", id="a-week-of-working-time"),
    pytest.param(BERLIN, "2026-03-27 16:00", "4h", "2026-03-30 10:00", id="over-spring-forward"),
    pytest.param(BERLIN, "2026-10-23 17:00", "2h", "2026-10-26 09:00", id="over-fall-back"),
    pytest.param(
        ("Europe/Zurich", "mon-fri", "08:00-17:00"), "2026-03-06 16:30", "4h", "2026-03-09 11:30", id="zurich"
    ),
    pytest.param(
        ("Europe/Vienna", "mon-thu", "08:30-17:30"),
        "2026-03-05 17:00",
        "1h",
        "2026-03-09 09:00",
        id="four-day-week",
    ),
    pytest.param(
        ("America/New_York", "mon-fri", "20:00-04:00"),
        "2026-03-02 23:00",
        "6h",
        "2026-03-03 21:00",
        id="night-shift-across-midnight",
    ),
    pytest.param(
        ("America/New_York", "mon-fri", "09:00-17:00"),
        "2026-03-06 15:00",
        "4h",
        "2026-03-09 11:00",
        id="new-york-spring-forward-weekend",
    ),
    pytest.param(
        ("Asia/Tokyo", "mon-fri", "09:00-18:00"), "2026-03-02 17:00", "2h", "2026-03-03 10:00", id="tokyo"
    ),
    pytest.param(
        ("Europe/Berlin", "daily", "00:00-24:00"),
        "2026-03-28 22:00",
        "4h",
        "2026-03-29 03:00",
        id="round-the-clock-loses-the-skipped-hour",
    ),
]


@pytest.mark.parametrize(("hours", "assigned", "within", "due"), CASES)
def test_acceptance_deadline(hours: tuple[str, str, str], assigned: str, within: str, due: str) -> None:
    tz = zone(hours[0])
    start = datetime.fromisoformat(assigned).replace(tzinfo=tz)
    expected = datetime.fromisoformat(due).replace(tzinfo=tz)
    assert accept_due_at(rep(*hours), parse_duration(within), start) == expected


def test_the_deadline_is_an_aware_utc_instant() -> None:
    start = datetime.fromisoformat("2026-03-06 17:30").replace(tzinfo=zone("Europe/Berlin"))
    due = accept_due_at(rep(*BERLIN), timedelta(hours=4), start)
    assert due.utcoffset() == timedelta(0)
    assert due.isoformat() == "2026-03-09T10:30:00+00:00"
