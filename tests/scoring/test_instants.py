"""Instants as whole microseconds give the same days and fading as datetimes do, to the bit."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from nurture.scoring.instants import EPOCH, halvings, local_days, micros, micros_column

START = datetime(2025, 3, 29, tzinfo=UTC)


def every(start: datetime, days: int, step: timedelta) -> list[datetime]:
    return [start + step * n for n in range(int(timedelta(days=days) / step))]


@pytest.mark.parametrize(
    "zone", ["Europe/Berlin", "America/St_Johns", "Australia/Lord_Howe", "Asia/Kathmandu", "America/Godthab"]
)
def test_local_days_are_the_calendar_days_of_the_zone_also_when_the_clock_changes(zone: str) -> None:
    tz = ZoneInfo(zone)
    # Around both changes of 2025 in the north and the south, every 7 minutes and 13 seconds.
    moments = [
        *every(START, 3, timedelta(minutes=7, seconds=13)),
        *every(datetime(2025, 10, 24, 12, tzinfo=UTC), 3, timedelta(minutes=7, seconds=13)),
        *every(datetime(2025, 4, 4, tzinfo=UTC), 3, timedelta(minutes=7, seconds=13)),
        *every(datetime(2025, 9, 26, tzinfo=UTC), 3, timedelta(minutes=7, seconds=13)),
    ]
    days = local_days(np.array([micros(at) for at in moments], dtype=np.int64), tz)
    expected = [(at.astimezone(tz).date() - date(1970, 1, 1)).days for at in moments]
    assert days.tolist() == expected


def test_fading_by_whole_microseconds_is_fading_by_timedeltas() -> None:
    now = datetime(2025, 11, 3, 8, 15, 1, 123457, tzinfo=UTC)
    half_life = timedelta(days=30)
    moments = every(datetime(2024, 11, 3, tzinfo=UTC), 365, timedelta(hours=5, microseconds=7919))
    ages = np.array([micros(now) - micros(at) for at in moments], dtype=np.int64)
    assert halvings(ages, half_life).tolist() == [0.5 ** ((now - at) / half_life) for at in moments]


def test_stored_text_becomes_microseconds_also_when_written_with_an_offset() -> None:
    stored = ["2025-05-11 09:00:00.000001", "1970-01-01 00:00:00.000000", "2025-12-31 23:59:59.999999"]
    assert micros_column(stored).tolist() == [
        micros(datetime.fromisoformat(text + "+00:00")) for text in stored
    ]
    by_hand = [stored[0], "2025-05-11 11:00:00+02:00", stored[2]]
    assert micros_column(by_hand).tolist()[1] == micros(datetime(2025, 5, 11, 9, tzinfo=UTC))
    moments = [EPOCH + timedelta(microseconds=5), datetime(2025, 5, 11, 9, tzinfo=UTC)]
    assert micros_column(moments).tolist() == [5, micros(moments[1])]
