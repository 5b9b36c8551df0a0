"""The working clock over columns of instants gives, for every pair, the very float the SLA's
own count gives one handoff at a time: across holidays, night shifts, DST changes (including Lord
Howe's half hour), whole-day windows, ends before starts and spans of months."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nurture.reports.clocks import RepHours, WorkingClock, working_hours_between
from nurture.timewindows import WeeklyHours, open_intervals

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)
HOUR_US = 3_600_000_000
DAY_US = 24 * HOUR_US

ZONES = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",  # a 30-minute DST shift
    "Europe/London",
    "Asia/Kathmandu",  # +05:45, no DST
    "America/St_Johns",  # -03:30 with DST
    "Pacific/Chatham",  # +12:45 / +13:45
    "Africa/Casablanca",  # leaves its summer time for Ramadan: four changes a year
    "Antarctica/Troll",  # a two-hour DST shift
    "America/Santiago",
    "Asia/Tehran",
]
FIRST = datetime(2025, 12, 1, tzinfo=UTC)
LAST = datetime(2027, 2, 1, tzinfo=UTC)


def micros(at: datetime) -> int:
    return (at - EPOCH) // MICROSECOND


def instant(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


def bits(values: list[float]) -> list[str]:
    # float.hex tells 0.0 from -0.0 and shows every bit of the mantissa.
    return [value.hex() for value in values]


def assert_as_the_sla_counts(
    clock: WorkingClock, hours: RepHours, rep: str | None, pairs: list[tuple[int, int]]
) -> list[float]:
    starts = np.array([start for start, _ in pairs], dtype=np.int64)
    ends = np.array([end for _, end in pairs], dtype=np.int64)
    got = clock.hours_between(rep, starts, ends)
    assert got.dtype == np.float64
    want = [working_hours_between(hours, rep, instant(start), instant(end)) for start, end in pairs]
    assert bits(got.tolist()) == bits(want), pairs
    return want


def local(zone: str, *parts: int) -> int:
    return micros(datetime(*parts, tzinfo=ZoneInfo(zone)))


# --- generated weeks, zones, holidays and instants -----------------------------------------------

clock_times = st.one_of(
    st.builds(time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45])),
    st.builds(time, st.integers(0, 23), st.integers(0, 59), st.integers(0, 59), st.integers(0, 999_999)),
)


@st.composite
def rep_hours(draw: st.DrawFn, around: date) -> tuple[WeeklyHours, ZoneInfo]:
    days = draw(st.frozensets(st.integers(0, 6), min_size=1))
    start = draw(clock_times)
    # An end equal to the start is a whole day (00:00-24:00 among them); an end before it, a night
    # shift running into the next day.
    end = draw(st.one_of(st.just(start), clock_times))
    # Days off near the instants asked, so that spans meet them.
    near = st.dates(around - timedelta(days=130), around + timedelta(days=130))
    closed = draw(
        st.frozensets(
            st.one_of(near, st.dates(around - timedelta(days=5), around + timedelta(days=5))), max_size=12
        )
    )
    return WeeklyHours(days, start, end, closed=closed), ZoneInfo(draw(st.sampled_from(ZONES)))


durations = st.one_of(
    st.just(0),
    st.integers(0, 10),
    st.integers(0, 3 * HOUR_US),
    st.integers(0, 4 * DAY_US),
    st.integers(0, 100 * DAY_US),  # spans of months
)


@st.composite
def pairs(draw: st.DrawFn, edges: list[int], lowest: int, highest: int) -> list[tuple[int, int]]:
    # Instants anywhere, and at an opening or closing or a microsecond either side of one.
    anywhere = st.integers(lowest, highest)
    near_edge = st.builds(
        lambda edge, nudge: edge + nudge, st.sampled_from(edges), st.sampled_from([-1, 0, 1])
    )
    instants = st.one_of(anywhere, near_edge) if edges else anywhere
    found = []
    for _ in range(draw(st.integers(1, 12))):
        start = draw(instants)
        kind = draw(st.sampled_from(["after", "before", "any"]))
        if kind == "any":
            end = draw(instants)  # either side of the start, the start itself, or an edge
        else:
            length = draw(durations)
            end = start + length if kind == "after" else start - length
        found.append((start, end))
    return found


@settings(max_examples=300)
@given(data=st.data())
def test_every_pair_counts_as_the_sla_does(data: st.DataObject) -> None:
    center = data.draw(st.integers(micros(FIRST) + 130 * DAY_US, micros(LAST) - 130 * DAY_US))
    known = data.draw(rep_hours(instant(center).date()))
    weekly, zone = known
    hours = {"rep": known}
    # Batches in varying places, the later ones before, after and around the earlier: the clock
    # walks more of the rep's week as it is asked, and must count as a fresh one would.
    edges = [
        micros(moment)
        for interval in open_intervals(
            weekly, zone, instant(center - 20 * DAY_US), instant(center + 20 * DAY_US)
        )
        for moment in interval
    ]
    clock = WorkingClock(hours)
    for _ in range(data.draw(st.integers(1, 3))):
        reach = data.draw(st.sampled_from([DAY_US, 20 * DAY_US, 120 * DAY_US]))
        batch = data.draw(pairs(edges, center - reach, center + reach))
        assert_as_the_sla_counts(clock, hours, "rep", batch)
        assert_as_the_sla_counts(WorkingClock(hours), hours, "rep", batch)


@settings(max_examples=60)
@given(
    batch=st.lists(
        st.tuples(
            st.integers(-(2**62), 2**62),
            st.integers(-(2**62), 2**62),
        ),
        min_size=1,
        max_size=20,
    )
)
def test_wall_clock_hours_round_as_timedelta_does_even_beyond_2_53_microseconds(
    batch: list[tuple[int, int]],
) -> None:
    # The manager's (and a gone rep's) hours come straight from the microseconds; beyond 2**53 a
    # float64 no longer holds them whole, and timedelta's own division must still be matched.
    starts = np.array([start for start, _ in batch], dtype=np.int64)
    ends = np.array([end for _, end in batch], dtype=np.int64)
    got = WorkingClock({}).hours_between(None, starts, ends)
    want = [timedelta(microseconds=end - start).total_seconds() / 3600 for start, end in batch]
    assert bits(got.tolist()) == bits(want)


def test_microseconds_either_side_of_2_53_round_as_timedelta_does() -> None:
    edge = 2**53
    spans = [edge + d for d in range(-3, 4)] + [-(edge + d) for d in range(-3, 4)]
    spans += [2**60 + 1, 2**62 + 12_345, 10**18 + 500_001, 3 * 2**53 + 1]
    got = WorkingClock({}).hours_between(None, np.zeros(len(spans), dtype=np.int64), np.array(spans))
    want = [timedelta(microseconds=span).total_seconds() / 3600 for span in spans]
    assert bits(got.tolist()) == bits(want)
    # The far ones differ from float64 arithmetic: the test would catch a plain division.
    plain = (np.array(spans, dtype=np.int64).astype(np.float64) / 1e6 / 3600).tolist()
    assert bits(plain) != bits(want)


# --- one test per case ----------------------------------------------------------------------------

OFFICE = WeeklyHours.parse("mon-fri", "09:00-17:00")


def test_a_holiday_counts_no_hours() -> None:
    # Wednesday 2026-12-23 is an ordinary day; Thursday 2026-12-24 is closed.
    hours = {"rep": (replace(OFFICE, closed=frozenset({date(2026, 12, 24)})), ZoneInfo("Europe/Berlin"))}
    wednesday_four = local("Europe/Berlin", 2026, 12, 23, 16)
    friday_ten = local("Europe/Berlin", 2026, 12, 25, 10)
    thursday_noon = local("Europe/Berlin", 2026, 12, 24, 12)
    clock = WorkingClock(hours)
    assert assert_as_the_sla_counts(
        clock, hours, "rep", [(wednesday_four, friday_ten), (thursday_noon, thursday_noon + HOUR_US)]
    ) == [2.0, 0.0]


def test_a_night_shift_belongs_to_the_day_it_starts_on() -> None:
    # Mon-Sat 22:00-06:00: Saturday's night runs into Sunday; Sunday night is off.
    hours = {"rep": (WeeklyHours.parse("mon-sat", "22:00-06:00"), ZoneInfo("America/New_York"))}
    zone = "America/New_York"
    saturday_evening = local(zone, 2026, 6, 13, 20)
    sunday_noon = local(zone, 2026, 6, 14, 12)
    monday_noon = local(zone, 2026, 6, 15, 12)
    sunday_three = local(zone, 2026, 6, 14, 3)
    tuesday_one = local(zone, 2026, 6, 16, 1)
    counted = assert_as_the_sla_counts(
        WorkingClock(hours),
        hours,
        "rep",
        [(saturday_evening, sunday_noon), (sunday_noon, monday_noon), (sunday_three, tuesday_one)],
    )
    # Sunday 03:00-06:00 (Saturday's night), nothing on Sunday night, Monday 22:00 on.
    assert counted == [8.0, 0.0, 3.0 + 3.0]


@pytest.mark.parametrize(
    ("zone", "day", "length"),
    [
        ("Europe/Berlin", date(2026, 3, 29), 23.0),
        ("Europe/Berlin", date(2026, 10, 25), 25.0),
        ("America/New_York", date(2026, 3, 8), 23.0),
        ("America/New_York", date(2026, 11, 1), 25.0),
        ("Australia/Lord_Howe", date(2026, 4, 5), 24.5),
        ("Australia/Lord_Howe", date(2026, 10, 4), 23.5),
        ("Europe/Berlin", date(2026, 6, 10), 24.0),
    ],
)
def test_a_whole_day_window_lasts_as_long_as_the_day_on_dst_days(zone: str, day: date, length: float) -> None:
    hours = {"rep": (WeeklyHours.parse("daily", "00:00-24:00"), ZoneInfo(zone))}
    midnight = local(zone, day.year, day.month, day.day)
    next_midnight = local(zone, *(day + timedelta(days=1)).timetuple()[:3])
    clock = WorkingClock(hours)
    # The whole day, and around it: a whole-day window counts every instant.
    pairs = [(midnight, next_midnight), (midnight - 5 * DAY_US, next_midnight + 3 * DAY_US + 17)]
    assert assert_as_the_sla_counts(clock, hours, "rep", pairs)[0] == length
    assert (
        clock.hours_between("rep", np.array([midnight - 7]), np.array([midnight + 11]))[0] == 18 / 1e6 / 3600
    )


@pytest.mark.parametrize(
    ("zone", "day"),
    [
        ("Europe/Berlin", date(2026, 3, 29)),
        ("Europe/Berlin", date(2026, 10, 25)),
        ("America/New_York", date(2026, 3, 8)),
        ("America/New_York", date(2026, 11, 1)),
        ("Australia/Lord_Howe", date(2026, 4, 5)),
        ("Australia/Lord_Howe", date(2026, 10, 4)),
    ],
)
@pytest.mark.parametrize("shift", ["01:30-03:00", "02:15-02:45", "22:00-06:00", "01:45-02:15", "02:00-02:30"])
def test_shifts_across_a_dst_change_count_as_the_sla_does(zone: str, day: date, shift: str) -> None:
    # Shifts opening or closing in the skipped or repeated hour (and Lord Howe's half hour).
    hours = {"rep": (WeeklyHours.parse("daily", shift), ZoneInfo(zone))}
    around = micros(datetime.combine(day, time(0), UTC))
    edges = [
        micros(moment)
        for interval in open_intervals(
            *hours["rep"], instant(around - 2 * DAY_US), instant(around + 2 * DAY_US)
        )
        for moment in interval
    ]
    moments = sorted({edge + nudge for edge in edges for nudge in (-1, 0, 1)} | {around - 2 * DAY_US})
    pairs = [(start, end) for start in moments for end in moments]
    assert assert_as_the_sla_counts(WorkingClock(hours), hours, "rep", pairs)


def test_an_end_before_the_start_counts_negative_and_equal_instants_nothing() -> None:
    hours = {"rep": (OFFICE, ZoneInfo("Europe/Berlin"))}
    monday_ten = local("Europe/Berlin", 2026, 6, 8, 10)
    tuesday_ten = local("Europe/Berlin", 2026, 6, 9, 10)
    saturday = local("Europe/Berlin", 2026, 6, 13, 10)
    counted = assert_as_the_sla_counts(
        WorkingClock(hours),
        hours,
        "rep",
        [(tuesday_ten, monday_ten), (monday_ten, monday_ten), (saturday + HOUR_US, saturday)],
    )
    assert bits(counted) == bits([-8.0, 0.0, 0.0])  # never -0.0


def test_a_manager_and_a_rep_gone_from_the_program_count_wall_clock_hours() -> None:
    hours = {"rep": (OFFICE, ZoneInfo("Europe/Berlin"))}
    start = micros(datetime(2026, 3, 28, 20, tzinfo=UTC))
    pairs = [(start, start + 7 * HOUR_US), (start, start + 7 * HOUR_US + 30 * 60_000_000), (start, start - 1)]
    clock = WorkingClock(hours)
    assert assert_as_the_sla_counts(clock, hours, None, pairs) == [7.0, 7.5, -1 / 1e6 / 3600]
    assert assert_as_the_sla_counts(clock, hours, "gone", pairs) == [7.0, 7.5, -1 / 1e6 / 3600]


def test_later_calls_beyond_the_walked_span_count_as_a_fresh_clock() -> None:
    hours = {"rep": (WeeklyHours.parse("sun-thu", "00:30-03:30"), ZoneInfo("Europe/London"))}
    clock = WorkingClock(hours)
    middle = micros(datetime(2026, 6, 1, tzinfo=UTC))
    for reach in (0, -40, 40, -200, 200, 3):  # days from the middle: before, after, around
        at = middle + reach * DAY_US
        pairs = [(at, at + 9 * DAY_US + 123), (at - 13 * HOUR_US, at), (middle, at)]
        assert assert_as_the_sla_counts(clock, hours, "rep", pairs)
    # Decades, and instants before 1970 (negative microseconds).
    decades = [
        (micros(datetime(1965, 2, 3, 1, 2, tzinfo=UTC)), micros(datetime(2031, 5, 6, 7, 8, tzinfo=UTC))),
        (
            micros(datetime(1969, 12, 31, 23, 59, tzinfo=UTC)),
            micros(datetime(1970, 1, 5, 1, 0, 1, tzinfo=UTC)),
        ),
    ]
    assert assert_as_the_sla_counts(clock, hours, "rep", decades)
    assert assert_as_the_sla_counts(WorkingClock(hours), hours, "rep", decades)


def test_reps_with_equal_hours_share_a_walk_and_others_keep_their_own() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    hours = {
        "anna": (WeeklyHours.parse("mon-fri", "09:00-17:00"), berlin),
        "ben": (WeeklyHours.parse("mon-fri", "09:00-17:00"), berlin),  # equal to anna's, not the same
        "cem": (WeeklyHours.parse("mon-fri", "09:00-17:00"), ZoneInfo("America/New_York")),
        "dora": (WeeklyHours.parse("mon-fri", "09:00-16:00"), berlin),
        # Days off in a set (no hash): dora's week, but a line of its own.
        "emil": (WeeklyHours(frozenset(range(5)), time(9), time(16), closed={date(2026, 10, 26)}), berlin),
    }
    clock = WorkingClock(hours)
    spring = micros(datetime(2026, 3, 27, 10, tzinfo=UTC))
    autumn = micros(datetime(2026, 10, 23, 10, tzinfo=UTC))
    for rep, at in [("anna", spring), ("ben", autumn), ("cem", spring), ("dora", autumn), ("emil", autumn)]:
        pairs = [(at, at + k * 13 * HOUR_US) for k in range(-20, 20)] + [(spring, autumn)]
        assert assert_as_the_sla_counts(clock, hours, rep, pairs)
    assert len(clock._lines) == 4


def test_empty_columns_and_columns_of_different_lengths() -> None:
    clock = WorkingClock({"rep": (OFFICE, ZoneInfo("Europe/Berlin"))})
    empty = np.zeros(0, dtype=np.int64)
    assert clock.hours_between("rep", empty, empty).shape == (0,)
    assert clock.hours_between(None, empty, empty).dtype == np.float64
    with pytest.raises(ValueError, match="one length"):
        clock.hours_between("rep", np.zeros(2, dtype=np.int64), np.zeros(3, dtype=np.int64))
