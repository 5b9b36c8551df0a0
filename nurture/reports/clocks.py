"""The clocks figures are measured in: wall-clock days, and the SLA's working hours of a rep."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from zoneinfo import ZoneInfo

from nurture.timewindows import WeeklyHours, working_time_between

RepHours = Mapping[str, tuple[WeeklyHours, ZoneInfo]]
"""Each rep's working hours and time zone, by rep id (from the program's sales teams)."""


def days_between(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds() / 86_400


def working_hours_between(hours: RepHours, rep_id: str | None, start: datetime, end: datetime) -> float:
    """Hours inside the rep's working hours, as the SLA counts them; wall-clock hours for the
    team's manager or a rep no longer in the program, who have no working hours to count in."""
    known = hours.get(rep_id) if rep_id is not None else None
    if known is None:
        return (end - start).total_seconds() / 3600
    weekly, zone = known
    return working_time_between(weekly, zone, start, end).total_seconds() / 3600
