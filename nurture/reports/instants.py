"""Instants as the report's columns hold them: int64 microseconds since 1970-01-01 UTC.

Durations come out as the figures always measured them: ``timedelta.total_seconds()`` is the
whole microseconds divided by 10**6, correctly rounded, and a float64 division of the same integer
(exact below 2**53 microseconds, some 285 years) gives the same double, so days and hours computed
over columns equal those computed from datetimes bit for bit.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

NEVER = np.iinfo(np.int64).max
"""A stage never reached (sorts after every instant, so the earliest arrival is a minimum)."""

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def micros(at: datetime) -> int:
    """An aware instant as microseconds since the epoch."""
    return (at - EPOCH) // _MICROSECOND


def instant(value: int) -> datetime:
    """The aware UTC datetime of microseconds since the epoch."""
    return EPOCH + timedelta(microseconds=int(value))


def days(span: np.ndarray) -> np.ndarray:
    """Microsecond spans as days (``timedelta.total_seconds() / 86_400``, bit for bit)."""
    return span / 1e6 / 86_400


def hours(span: np.ndarray) -> np.ndarray:
    """Microsecond spans as hours (``timedelta.total_seconds() / 3600``, bit for bit)."""
    return span / 1e6 / 3600


def months(at: np.ndarray) -> np.ndarray:
    """The UTC month of each instant, as months since January 1970."""
    return at.astype("datetime64[us]").astype("datetime64[M]").astype(np.int64)


def month_label(month: int) -> str:
    year, index = divmod(int(month), 12)
    return f"{1970 + year:04d}-{index + 1:02d}"
