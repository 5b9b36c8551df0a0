"""Stored instants a column at a time: whole microseconds since 1970 (UTC), and local days.

The rescore reads millions of events; parsing each moment into a datetime and fading it with
timedelta arithmetic is most of the cost of a row. As whole microseconds the same figures come
out exactly: ``(as_of - at) / half_life`` of two timedeltas divides their whole microseconds, as
``(as_of_us - at_us) / half_life_us`` does on integers below 2**53 (both give the correctly
rounded quotient). The fading itself, ``0.5 ** x``, is Python's own power applied value by value,
the function scoring uses live (numpy's may round differently on some machines).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from itertools import repeat
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from numpy.typing import NDArray

from nurture.store import bulk

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)
DAY = 86_400_000_000  # microseconds


def micros(at: datetime) -> int:
    """``at`` as whole microseconds since 1970 (UTC)."""
    return (at - EPOCH) // MICROSECOND


def micros_column(values: Sequence[Any]) -> NDArray[np.int64]:
    """Stored instants (SQLite's UTC text or the driver's datetimes) as microseconds since 1970."""
    if not values:
        return np.zeros(0, dtype=np.int64)
    # SQLite's text as SQLAlchemy writes it, 'YYYY-MM-DD HH:MM:SS.ffffff', numpy reads at once;
    # text written by hand (with an offset of its own) is read value by value.
    if isinstance(values[0], str) and set(map(len, values)) == {26}:
        return np.array(values, dtype="datetime64[us]").astype(np.int64)
    read = bulk.read_instant
    return np.array([micros(read(value) or EPOCH) for value in values], dtype=np.int64)


def halvings(ages: NDArray[np.int64], half_life: timedelta) -> NDArray[np.float64]:
    """``0.5 ** (age / half_life)`` for ages in microseconds, each as Python computes it."""
    exponents = (ages / (half_life // MICROSECOND)).tolist()
    return np.fromiter(map(pow, repeat(0.5), exponents), dtype=np.float64, count=len(exponents))


def local_days(at: NDArray[np.int64], zone: ZoneInfo) -> NDArray[np.int64]:
    """The calendar day in ``zone`` of each instant, as days since 1970-01-01 there.

    The zone's offset is looked up once per UTC day the instants fall on; on a day whose offset
    changes (it differs at the day's first and last microsecond) each instant of that day is
    converted on its own.
    """
    if not len(at):
        return np.zeros(0, dtype=np.int64)
    utc_days, where = np.unique(at // DAY, return_inverse=True)
    offsets = np.empty(len(utc_days), dtype=np.int64)
    changing = np.zeros(len(utc_days), dtype=bool)
    for n, day in enumerate(utc_days.tolist()):
        first, last = offset_at(day * DAY, zone), offset_at((day + 1) * DAY - 1, zone)
        offsets[n] = first
        changing[n] = first != last
    days = (at + offsets[where]) // DAY
    for i in np.flatnonzero(changing[where]).tolist():
        days[i] = (int(at[i]) + offset_at(int(at[i]), zone)) // DAY
    return days


def offset_at(at: int, zone: ZoneInfo) -> int:
    """The zone's offset from UTC at the instant ``at``, both in microseconds."""
    offset = (EPOCH + timedelta(microseconds=at)).astimezone(zone).utcoffset()
    return 0 if offset is None else offset // MICROSECOND
