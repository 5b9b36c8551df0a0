"""Warm-up of a new sending domain: a daily volume of marketing mail that grows day by day.

Mailbox providers judge a domain they have not seen by how it starts; a domain that sends 50,000
emails on its first day is filtered or blocked. With ``warmup_start`` set (the domain's first
day), day N (0 on that date, in the workspace time zone) may hand over ``warmup_schedule[N]``
marketing emails; after the last day of the schedule there is no limit. The default schedule
starts at 50 and doubles every second day, reaching 102,400 a day on days 22 and 23.

Marketing mail over the day's volume waits in the queue (it is never dropped) and goes on the
following days, the most engaged leads first: the highest lead score (which rises with opens,
clicks and visits) before lower ones, then the earliest due. Transactional mail is never held
back (:func:`is_transactional`).

The day's count is read from the outbox at every claim (marketing emails sent since the day
began, and those claimed or on the wire now), so every replica sees the others' sends; replicas
claiming at the same moment may together go past the volume by at most one batch each.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Connection, and_, func, or_, select

from nurture.store.schema import messages

DEFAULT_SCHEDULE = tuple(50 * 2 ** (day // 2) for day in range(24))

# The kinds of message that are not marketing: nurture's own notices to reps, escalations,
# operator alerts, confirmations. Everything but ``marketing`` is transactional.
MARKETING = "marketing"


def is_transactional(kind: str) -> bool:
    """Whether a message of this kind is exempt from the warm-up (and never held back by it):
    every kind but marketing mail. The one place that decides it; :func:`held_back` is the
    same rule for a query."""
    return kind != MARKETING


def held_back() -> ColumnElement[bool]:
    """The rows the warm-up may hold back, as a condition on ``messages`` (see :func:`is_transactional`)."""
    return messages.c.kind == MARKETING


@dataclass(frozen=True)
class Warmup:
    start: date
    schedule: tuple[int, ...]
    zone: ZoneInfo

    def allowance(self, now: datetime) -> int | None:
        """Marketing emails the day of ``now`` may hand over; None once the warm-up is over."""
        day = max((now.astimezone(self.zone).date() - self.start).days, 0)
        return self.schedule[day] if day < len(self.schedule) else None

    def day_began(self, now: datetime) -> datetime:
        """When the day of ``now`` began (midnight in the workspace time zone), in UTC."""
        local = now.astimezone(self.zone).date()
        return datetime.combine(local, time(0), tzinfo=self.zone).astimezone(UTC)

    def used(self, conn: Connection, now: datetime) -> int:
        """Marketing emails handed over since the day began, and those in a sender's hand now."""
        m = messages.c
        began = self.day_began(now)
        counted = conn.execute(
            select(func.count()).where(
                held_back(),
                or_(
                    and_(m.status == "sent", m.sent_at >= began),
                    m.status.in_(("claimed", "sending")),
                ),
            )
        ).scalar_one()
        return int(counted)
