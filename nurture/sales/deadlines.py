"""The SLA clock: a rep's time to accept runs only in their working hours, in their time zone."""

from __future__ import annotations

from datetime import datetime, timedelta

from nurture.definitions import Rep
from nurture.timewindows import add_working_time
from nurture.zones import zone


def accept_due_at(rep: Rep, accept_within: timedelta, assigned_at: datetime) -> datetime:
    """When a lead handed to ``rep`` at ``assigned_at`` must be accepted.

    An MQL at Friday 17:30 in Berlin with 4h to accept and hours 08:00-18:00 is due Monday 11:30.
    """
    hours = rep.working_hours
    return add_working_time(hours.weekly, zone(hours.timezone), assigned_at, accept_within)
