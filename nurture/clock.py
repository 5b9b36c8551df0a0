"""The one clock seam: every "now" in nurture is read here and then passed along.

Domain code never calls ``datetime.now()`` itself; it takes ``now`` as an argument. Commands read it
once from a :class:`Clock`. ``NURTURE_NOW=ISO-8601`` pins the clock for any command (replays,
simulations, tests) and ``tick --now`` does the same for one tick. The system clock goes through
``datetime.now`` so freezegun reaches it too.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from nurture.errors import NurtureError

NOW_ENV = "NURTURE_NOW"


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware, in UTC."""
        ...


class SystemClock:
    """Wall-clock time."""

    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class FixedClock:
    """A clock that stands still until moved: simulations, replays and tests."""

    instant: datetime

    def __post_init__(self) -> None:
        self.instant = as_utc(self.instant)

    def now(self) -> datetime:
        return self.instant

    def advance(self, delta: timedelta) -> datetime:
        self.instant += delta
        return self.instant

    def set(self, instant: datetime) -> None:
        self.instant = as_utc(instant)


def as_utc(instant: datetime) -> datetime:
    """An aware UTC datetime; a naive one is taken to be UTC already."""
    if instant.tzinfo is None:
        return instant.replace(tzinfo=UTC)
    return instant.astimezone(UTC)


def parse_instant(text: str) -> datetime:
    """Parse an ISO-8601 instant (``2026-03-02T09:00``, ``...Z``, ``...+01:00``) as UTC."""
    cleaned = text.strip()
    if cleaned.endswith(("Z", "z")):
        cleaned = cleaned[:-1] + "+00:00"
    try:
        return as_utc(datetime.fromisoformat(cleaned))
    except ValueError:
        raise NurtureError(
            f"{text!r} is not an ISO-8601 date and time (e.g. 2026-03-02T09:00:00+01:00)"
        ) from None


def clock_from_env(environ: Mapping[str, str] | None = None) -> Clock:
    """The clock a command runs on: pinned by ``NURTURE_NOW`` when set, else the system clock."""
    env = os.environ if environ is None else environ
    pinned = env.get(NOW_ENV, "").strip()
    if pinned:
        return FixedClock(parse_instant(pinned))
    return SystemClock()
