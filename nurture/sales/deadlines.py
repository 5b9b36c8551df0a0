"""The SLA clock: time to accept runs only in the holder's working hours, in their time zone.

A rep works the hours in their definition; a team's manager the hours in theirs, else Monday to
Friday 09:00-17:00 in the workspace's time zone. Days off (``holidays``) are closed all day.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from nurture.definitions import Manager, Rep
from nurture.timewindows import WeeklyHours, add_working_time
from nurture.zones import zone

MANAGER_HOURS = WeeklyHours.parse("mon-fri", "09:00-17:00")


def working_week(holder: Rep | Manager, default_zone: ZoneInfo) -> tuple[WeeklyHours, ZoneInfo]:
    """The holder's working week and time zone."""
    hours = holder.working_hours
    if hours is None:
        return MANAGER_HOURS, default_zone
    return hours.weekly, zone(hours.timezone)


def accept_due_at(rep: Rep, accept_within: timedelta, assigned_at: datetime) -> datetime:
    """When a lead handed to ``rep`` at ``assigned_at`` must be accepted.

    An MQL at Friday 17:30 in Berlin with 4h to accept and hours 08:00-18:00 is due Monday 11:30.
    """
    hours = rep.working_hours
    return add_working_time(hours.weekly, zone(hours.timezone), assigned_at, accept_within)


def due_at(holder: Rep | Manager, default_zone: ZoneInfo, within: timedelta, since: datetime) -> datetime:
    """``within`` of the holder's working time after ``since``."""
    weekly, tz = working_week(holder, default_zone)
    return add_working_time(weekly, tz, since, within)


def remind_at(
    holder: Rep | Manager, default_zone: ZoneInfo, within: timedelta, before: timedelta, assigned_at: datetime
) -> datetime:
    """When to remind: ``before`` of working time ahead of the deadline (at once when ``before``
    is as long as the whole time to accept)."""
    return due_at(holder, default_zone, max(within - before, timedelta(0)), assigned_at)
