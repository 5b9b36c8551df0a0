"""Send windows and working hours: parsing, next opening, working-time arithmetic, across DST."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nurture.durations import parse_duration
from nurture.timewindows import (
    WeeklyHours,
    add_working_time,
    next_open,
    open_intervals,
    parse_days,
    parse_hours,
    working_time_between,
)
from nurture.zones import zone

BER, NYC = "Europe/Berlin", "America/New_York"
KOL, LHI = "Asia/Kolkata", "Australia/Lord_Howe"
OFFICE = ("mon-fri", "08:00-18:00")
NIGHTS = ("mon-fri", "22:00-06:00")
ALL_DAY = ("daily", "00:00-24:00")


def at(text: str) -> datetime:
    """An aware instant written as ISO-8601 with its offset, so fall-back hours are unambiguous."""
    return datetime.fromisoformat(text)


def span(text: str) -> timedelta:
    """A duration as definitions write it, optionally negative: ``4h``, ``-4h``, ``0s``."""
    return -parse_duration(text[1:]) if text.startswith("-") else parse_duration(text)


# --- parsing -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mon-fri", {0, 1, 2, 3, 4}),
        ("sat,sun", {5, 6}),
        ("mon,wed-fri", {0, 2, 3, 4}),
        ("mon-sun", set(range(7))),
        ("daily", set(range(7))),
        ("weekdays", {0, 1, 2, 3, 4}),
        ("weekends", {5, 6}),
        ("fri-mon", {4, 5, 6, 0}),
        ("sun-sat", set(range(7))),
        ("sat-sat", {5}),
        ("Mon-FRI", {0, 1, 2, 3, 4}),
        (" mon , wed ", {0, 2}),
        ("mon - wed", {0, 1, 2}),
        ("monday-wednesday", {0, 1, 2}),
        ("tue,tue", {1}),
        ("weekends,mon", {5, 6, 0}),
    ],
)
def test_parse_days_accepts_names_ranges_lists_and_aliases(text: str, expected: set[int]) -> None:
    assert parse_days(text) == frozenset(expected)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "is empty"),
        ("   ", "is empty"),
        ("mon-xyz", "'xyz' in days 'mon-xyz' is not a day"),
        ("funday", "'funday' in days 'funday' is not a day"),
        ("mon,,tue", "has an empty item"),
        ("mon-", "'' in days 'mon-' is not a day"),
        ("mon-tue-wed", "'tue-wed' in days"),
        ("1-5", "'1' in days '1-5' is not a day"),
    ],
)
def test_parse_days_names_the_bad_part_and_the_accepted_forms(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=r"use mon\.\.sun") as error:
        parse_days(text)
    assert message in str(error.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("09:00-17:00", (time(9), time(17))),
        ("22:00-06:00", (time(22), time(6))),
        ("00:00-24:00", (time(0), time(0))),
        ("22:00-24:00", (time(22), time(0))),
        ("9:30-17:45", (time(9, 30), time(17, 45))),
        (" 08:00 - 18:00 ", (time(8), time(18))),
        ("23:59-00:00", (time(23, 59), time(0))),
    ],
)
def test_parse_hours(text: str, expected: tuple[time, time]) -> None:
    assert parse_hours(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("9-17", "is not a time span"),
        ("09:00", "is not a time span"),
        ("09:00-17", "is not a time span"),
        ("0900-1700", "is not a time span"),
        ("", "is not a time span"),
        ("25:00-26:00", "starts at an impossible time"),
        ("09:60-17:00", "starts at an impossible time"),
        ("24:00-06:00", "starts at an impossible time"),
        ("09:00-24:30", "ends at an impossible time"),
        ("09:00-17:61", "ends at an impossible time"),
        ("09:00-09:00", "is an empty span; for a whole day write 00:00-24:00"),
        ("00:00-00:00", "is an empty span"),
    ],
)
def test_parse_hours_rejects_with_a_message(text: str, message: str) -> None:
    with pytest.raises(ValueError, match="hours") as error:
        parse_hours(text)
    assert message in str(error.value)


def test_weekly_hours_parse_and_validation() -> None:
    assert WeeklyHours.parse("mon-fri", "08:00-18:00") == WeeklyHours(frozenset(range(5)), time(8), time(18))
    with pytest.raises(ValueError, match="at least one day"):
        WeeklyHours(frozenset(), time(8), time(18))
    with pytest.raises(ValueError, match="weekday numbers"):
        WeeklyHours(frozenset({7}), time(8), time(18))
    with pytest.raises(ValueError, match="impossible"):
        WeeklyHours.parse("mon", "08:00-25:00")


@pytest.mark.parametrize(
    ("days", "hours", "local", "inside"),
    [
        (*OFFICE, "2026-03-04T08:00", True),
        (*OFFICE, "2026-03-04T17:59:59", True),
        (*OFFICE, "2026-03-04T18:00", False),
        (*OFFICE, "2026-03-04T07:59", False),
        (*OFFICE, "2026-03-07T10:00", False),  # Saturday
        (*NIGHTS, "2026-03-06T23:00", True),  # Friday night
        (*NIGHTS, "2026-03-07T02:00", True),  # Saturday small hours belong to Friday
        (*NIGHTS, "2026-03-07T23:00", False),
        (*NIGHTS, "2026-03-09T02:00", False),  # Monday small hours belong to Sunday
        (*NIGHTS, "2026-03-10T05:59", True),
        (*NIGHTS, "2026-03-10T06:00", False),
        (*ALL_DAY, "2026-03-10T00:00", True),
        ("sat", "00:00-24:00", "2026-03-08T00:00", False),
        ("sat", "22:00-24:00", "2026-03-07T23:59", True),
        ("sat", "22:00-24:00", "2026-03-08T00:00", False),
        (*OFFICE, "2026-03-04T12:00+01:00", True),
    ],
)
def test_contains_reads_wall_time(days: str, hours: str, local: str, inside: bool) -> None:
    assert WeeklyHours.parse(days, hours).contains(datetime.fromisoformat(local)) is inside


# --- next_open ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tz", "days", "hours", "start", "expected"),
    [
        # An ordinary office week (6 March 2026 is a Friday).
        (BER, *OFFICE, "2026-03-04T07:00+01:00", "2026-03-04T08:00+01:00"),
        (BER, *OFFICE, "2026-03-04T08:00+01:00", "2026-03-04T08:00+01:00"),
        (BER, *OFFICE, "2026-03-04T10:15:30+01:00", "2026-03-04T10:15:30+01:00"),
        (BER, *OFFICE, "2026-03-04T17:59:59+01:00", "2026-03-04T17:59:59+01:00"),
        (BER, *OFFICE, "2026-03-04T18:00+01:00", "2026-03-05T08:00+01:00"),
        (BER, *OFFICE, "2026-03-06T18:30+01:00", "2026-03-09T08:00+01:00"),
        (BER, *OFFICE, "2026-03-07T12:00+01:00", "2026-03-09T08:00+01:00"),
        (BER, *OFFICE, "2026-03-08T23:59+01:00", "2026-03-09T08:00+01:00"),
        # `at` in any zone.
        (BER, *OFFICE, "2026-03-04T06:59:00+00:00", "2026-03-04T08:00+01:00"),
        (BER, *OFFICE, "2026-03-05T20:00-05:00", "2026-03-06T08:00+01:00"),
        (BER, *OFFICE, "2026-03-06T16:59+00:00", "2026-03-06T17:59+01:00"),
        # The weekends around DST changes.
        (BER, *OFFICE, "2026-03-27T18:00+01:00", "2026-03-30T08:00+02:00"),
        (BER, *OFFICE, "2026-10-23T18:00+02:00", "2026-10-26T08:00+01:00"),
        (NYC, *OFFICE, "2026-03-06T18:00-05:00", "2026-03-09T08:00-04:00"),
        (NYC, *OFFICE, "2026-10-30T18:00-04:00", "2026-11-02T08:00-05:00"),
        # Spans that cross midnight belong to the day they start on.
        (BER, *NIGHTS, "2026-03-06T23:00+01:00", "2026-03-06T23:00+01:00"),
        (BER, *NIGHTS, "2026-03-07T02:00+01:00", "2026-03-07T02:00+01:00"),
        (BER, *NIGHTS, "2026-03-07T06:00+01:00", "2026-03-09T22:00+01:00"),
        (BER, *NIGHTS, "2026-03-08T23:00+01:00", "2026-03-09T22:00+01:00"),
        (BER, *NIGHTS, "2026-03-09T03:00+01:00", "2026-03-09T22:00+01:00"),
        (BER, *NIGHTS, "2026-03-10T03:00+01:00", "2026-03-10T03:00+01:00"),
        (BER, "daily", "22:00-06:00", "2026-03-29T03:30+02:00", "2026-03-29T03:30+02:00"),
        (BER, "daily", "22:00-06:00", "2026-03-29T06:00+02:00", "2026-03-29T22:00+02:00"),
        (BER, "sat", "22:00-24:00", "2026-03-08T00:00+01:00", "2026-03-14T22:00+01:00"),
        # A start that does not exist opens at the first instant after the gap.
        (BER, "daily", "02:30-05:00", "2026-03-29T00:00+01:00", "2026-03-29T03:00+02:00"),
        (BER, "sun", "02:30-03:30", "2026-03-29T00:00+01:00", "2026-03-29T03:00+02:00"),
        (BER, "daily", "02:00-02:45", "2026-03-29T00:00+01:00", "2026-03-30T02:00+02:00"),
        (NYC, "daily", "02:30-04:00", "2026-03-08T01:00-05:00", "2026-03-08T03:00-04:00"),
        (LHI, "daily", "02:10-03:00", "2026-10-04T00:00+10:30", "2026-10-04T02:30+11:00"),
        (LHI, "daily", "02:00-02:15", "2026-10-04T00:00+10:30", "2026-10-05T02:00+11:00"),
        # Repeated wall times on fall-back day are inside twice.
        (BER, "daily", "02:30-02:45", "2026-10-25T02:40+02:00", "2026-10-25T02:40+02:00"),
        (BER, "daily", "02:30-02:45", "2026-10-25T02:50+02:00", "2026-10-25T02:30+01:00"),
        (BER, "daily", "02:30-02:45", "2026-10-25T02:50+01:00", "2026-10-26T02:30+01:00"),
        (NYC, "daily", "01:30-01:45", "2026-11-01T01:50-04:00", "2026-11-01T01:30-05:00"),
        (LHI, "daily", "01:35-01:40", "2026-04-05T01:45+11:00", "2026-04-05T01:35+10:30"),
        # Other zones and day sets.
        (NYC, "weekends", "00:00-24:00", "2026-10-30T23:00-04:00", "2026-10-31T00:00-04:00"),
        (KOL, *OFFICE, "2026-03-06T12:30+00:00", "2026-03-09T08:00+05:30"),
        ("UTC", "wed", "09:00-10:00", "2026-03-04T10:00+00:00", "2026-03-11T09:00+00:00"),
    ],
)
def test_next_open(tz: str, days: str, hours: str, start: str, expected: str) -> None:
    result = next_open(WeeklyHours.parse(days, hours), zone(tz), at(start))
    assert result == at(expected)
    assert result.tzinfo is UTC


def test_naive_instants_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        next_open(WeeklyHours.parse(*OFFICE), zone(BER), datetime(2026, 3, 4, 9))


# --- add_working_time --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tz", "days", "hours", "start", "duration", "expected"),
    [
        # The SLA anchor: an MQL on Friday 17:30 with 4 working hours to accept is due Monday 11:30.
        (BER, *OFFICE, "2026-03-06T17:30+01:00", "4h", "2026-03-09T11:30+01:00"),
        (BER, *OFFICE, "2026-03-04T07:00+01:00", "1h", "2026-03-04T09:00+01:00"),
        (BER, *OFFICE, "2026-03-04T10:00+01:00", "2h", "2026-03-04T12:00+01:00"),
        (BER, *OFFICE, "2026-03-04T10:00+01:00", "8h", "2026-03-04T18:00+01:00"),
        (BER, *OFFICE, "2026-03-04T10:00+01:00", "10h", "2026-03-05T10:00+01:00"),
        (BER, *OFFICE, "2026-03-02T08:00+01:00", "30h", "2026-03-04T18:00+01:00"),
        (BER, *OFFICE, "2026-03-07T12:00+01:00", "1h", "2026-03-09T09:00+01:00"),
        (BER, *OFFICE, "2026-03-06T17:59:30+01:00", "45s", "2026-03-09T08:00:15+01:00"),
        # Zero is the start itself, inside or outside the window.
        (BER, *OFFICE, "2026-03-07T12:00+01:00", "0s", "2026-03-07T12:00+01:00"),
        (BER, *OFFICE, "2026-03-04T12:00+01:00", "0s", "2026-03-04T12:00+01:00"),
        # Across DST: over the weekend, and through whole-day windows of 23 and 25 hours.
        (BER, *OFFICE, "2026-03-27T17:00+01:00", "2h", "2026-03-30T09:00+02:00"),
        (BER, *OFFICE, "2026-10-23T17:00+02:00", "2h", "2026-10-26T09:00+01:00"),
        (BER, *ALL_DAY, "2026-03-29T00:00+01:00", "24h", "2026-03-30T01:00+02:00"),
        (BER, *ALL_DAY, "2026-10-25T00:00+02:00", "24h", "2026-10-25T23:00+01:00"),
        (BER, *ALL_DAY, "2026-03-15T00:00+01:00", "21d", "2026-04-05T01:00+02:00"),
        (NYC, "daily", "09:00-17:00", "2026-03-07T16:00-05:00", "2h", "2026-03-08T10:00-04:00"),
        (NYC, "sun", "00:00-24:00", "2026-11-01T00:00-04:00", "24h", "2026-11-01T23:00-05:00"),
        # Spans across midnight, including one that gains an hour at fall-back.
        (BER, *NIGHTS, "2026-03-06T23:00+01:00", "8h", "2026-03-09T23:00+01:00"),
        (BER, "daily", "22:00-06:00", "2026-10-24T22:00+02:00", "9h", "2026-10-25T06:00+01:00"),
        (BER, "daily", "22:00-06:00", "2026-03-28T22:00+01:00", "7h", "2026-03-29T06:00+02:00"),
        # Long durations jump whole weeks, but not over a DST change.
        (BER, *OFFICE, "2026-01-05T08:00+01:00", "30d", "2026-04-14T18:00+02:00"),
        (BER, *OFFICE, "2026-01-05T08:00+01:00", "700h", "2026-04-10T18:00+02:00"),
        (KOL, "mon-fri", "09:00-17:00", "2026-03-06T16:00+05:30", "2h", "2026-03-09T10:00+05:30"),
    ],
)
def test_add_working_time(tz: str, days: str, hours: str, start: str, duration: str, expected: str) -> None:
    window = WeeklyHours.parse(days, hours)
    result = add_working_time(window, zone(tz), at(start), span(duration))
    assert result == at(expected)
    assert result.tzinfo is UTC
    assert working_time_between(window, zone(tz), at(start), result) == span(duration)


def test_add_working_time_refuses_negative_durations() -> None:
    with pytest.raises(ValueError, match="negative"):
        add_working_time(WeeklyHours.parse(*OFFICE), zone(BER), at("2026-03-04T09:00+01:00"), span("-1s"))


# --- working_time_between ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tz", "days", "hours", "start", "end", "expected"),
    [
        (BER, *OFFICE, "2026-03-06T17:30+01:00", "2026-03-09T11:30+01:00", "4h"),
        (BER, *OFFICE, "2026-03-09T11:30+01:00", "2026-03-06T17:30+01:00", "-4h"),
        (BER, *OFFICE, "2026-03-04T12:00+01:00", "2026-03-04T12:00+01:00", "0s"),
        (BER, *OFFICE, "2026-03-07T00:00+01:00", "2026-03-09T00:00+01:00", "0s"),
        (BER, *OFFICE, "2026-03-02T00:00+01:00", "2026-03-09T00:00+01:00", "50h"),
        (BER, *ALL_DAY, "2026-10-25T00:00+02:00", "2026-10-26T00:00+01:00", "25h"),
        (BER, *ALL_DAY, "2026-03-29T00:00+01:00", "2026-03-30T00:00+02:00", "23h"),
        (BER, "daily", "02:30-02:45", "2026-10-25T00:00+02:00", "2026-10-26T00:00+01:00", "30m"),
        (BER, "daily", "02:30-02:45", "2026-03-29T00:00+01:00", "2026-03-30T00:00+02:00", "0s"),
        (BER, "daily", "02:00-03:00", "2026-10-25T00:00+02:00", "2026-10-26T00:00+01:00", "2h"),
        (BER, "sun", "01:00-04:00", "2026-03-29T00:00+01:00", "2026-03-30T00:00+02:00", "2h"),
        (NYC, "sat", "22:00-06:00", "2026-10-31T00:00-04:00", "2026-11-02T00:00-05:00", "9h"),
        (LHI, "sun", "00:00-24:00", "2026-10-04T00:00+10:30", "2026-10-05T00:00+11:00", "1410m"),
        (LHI, "sun", "00:00-24:00", "2026-04-05T00:00+11:00", "2026-04-06T00:00+10:30", "1470m"),
        (KOL, "daily", "09:00-17:00", "2026-03-04T03:30+00:00", "2026-03-04T04:30+00:00", "1h"),
    ],
)
def test_working_time_between(tz: str, days: str, hours: str, start: str, end: str, expected: str) -> None:
    window = WeeklyHours.parse(days, hours)
    assert working_time_between(window, zone(tz), at(start), at(end)) == span(expected)


def test_open_intervals_lists_a_fall_back_span_twice() -> None:
    window = WeeklyHours.parse("sun", "02:30-02:45")
    sunday = (at("2026-10-25T00:00+02:00"), at("2026-10-26T00:00+01:00"))
    intervals = open_intervals(window, zone(BER), *sunday)
    assert intervals == [
        (at("2026-10-25T02:30+02:00"), at("2026-10-25T02:45+02:00")),
        (at("2026-10-25T02:30+01:00"), at("2026-10-25T02:45+01:00")),
    ]


# --- properties, against a brute-force oracle --------------------------------------------------

# Every window edge and every DST change in these zones lies on a quarter hour in UTC, so walking
# quarter hours and asking `contains` is an exact (if slow) reference.
QUARTER = timedelta(minutes=15)
ZONES = [BER, NYC, KOL, LHI, "Asia/Kathmandu", "America/St_Johns", "Australia/Sydney", "UTC"]
TRANSITIONS = [at(text) for text in (
    "2026-03-29T01:00+00:00", "2026-10-25T01:00+00:00", "2026-03-08T07:00+00:00", "2026-11-01T06:00+00:00",
    "2026-04-04T15:00+00:00", "2026-10-03T15:30+00:00", "2026-04-04T16:00+00:00", "2026-10-03T16:00+00:00",
    "2026-03-08T05:30+00:00", "2026-11-01T04:30+00:00",
)]  # fmt: skip


def quarter(index: int) -> time:
    """The wall time ``index`` quarter hours after midnight (wrapping at 24:00)."""
    return time(index % 96 // 4, index % 4 * 15)


windows = st.builds(
    lambda days, start, length: WeeklyHours(frozenset(days), quarter(start), quarter(start + length)),
    st.sets(st.integers(0, 6), min_size=1),
    st.integers(0, 95),
    st.integers(1, 96),
)
quarter_starts = st.builds(
    lambda base, quarters: base + QUARTER * quarters,
    st.sampled_from(TRANSITIONS),
    st.integers(-4 * 24 * 4, 4 * 24 * 4),
)


def oracle(window: WeeklyHours, tz: str, start: datetime, quarters: int) -> list[bool]:
    """Whether each quarter hour from `start` lies inside the window."""
    return [window.contains((start + QUARTER * i).astimezone(zone(tz))) for i in range(quarters)]


@settings(max_examples=200, deadline=None)
@given(windows, st.sampled_from(ZONES), quarter_starts, st.integers(1, 9 * 96))
def test_the_maths_agrees_with_walking_quarter_hours(
    window: WeeklyHours, tz: str, start: datetime, quarters: int
) -> None:
    inside = oracle(window, tz, start, quarters)
    end = start + QUARTER * quarters
    assert working_time_between(window, zone(tz), start, end) == QUARTER * sum(inside)
    if any(inside):
        assert next_open(window, zone(tz), start) == start + QUARTER * inside.index(True)
        opened = [i for i, flag in enumerate(inside) if flag]
        k = len(opened) // 2 + 1
        assert add_working_time(window, zone(tz), start, QUARTER * k) == start + QUARTER * (opened[k - 1] + 1)


@settings(max_examples=200, deadline=None)
@given(
    windows,
    st.sampled_from(ZONES),
    st.datetimes(datetime(2025, 1, 1), datetime(2028, 1, 1), timezones=st.just(UTC)),
    st.timedeltas(timedelta(0), timedelta(days=60)),
)
def test_working_time_between_inverts_add_working_time(
    window: WeeklyHours, tz: str, start: datetime, duration: timedelta
) -> None:
    end = add_working_time(window, zone(tz), start, duration)
    assert end >= start
    assert working_time_between(window, zone(tz), start, end) == duration
    opening = next_open(window, zone(tz), start)
    assert opening >= start
    assert window.contains(opening.astimezone(zone(tz)))
