"""Repeated soft bounces suppress the address, as one hard bounce does.

One soft bounce (mailbox full, server unreachable, a 4.x.x status) means "not now" and changes
nothing. An address that bounces softly on ``soft_bounce_limit`` different emails, with no human
open or click in between, is as good as dead: mailing it on only costs the sender's reputation
with the receiving providers. Emails are counted, not reports, because one email can bring a
delay warning and later its failure; opens by privacy proxies prove nothing and do not count.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, func, select

from nurture.engagement.items import BOUNCE, EMAIL_CLICK, EMAIL_OPEN
from nurture.engagement.optouts import add_suppression
from nurture.engine.enrollments import end_enrollments_of_lead
from nurture.store.schema import events, leads

REASON = "soft_bounces"  # the suppression's reason, as `leads show` prints it
EXIT_REASON = "address bounced (soft, repeatedly)"


def suppress_after_soft_bounces(conn: Connection, lead_id: int, limit: int, now: datetime) -> bool:
    """Suppress the lead's address and end its enrollments when its soft bounces reached ``limit``
    (0: never); True when it was suppressed now."""
    if limit <= 0:
        return False
    bounced = _softly_bounced_emails(conn, lead_id)
    if len(bounced) < limit:
        return False
    email = conn.scalar(select(leads.c.email).where(leads.c.id == lead_id))
    detail = f"{len(bounced)} emails bounced softly with no open or click in between"
    if email is None or not add_suppression(conn, email, REASON, detail, now):
        return False  # erased meanwhile, or suppressed before for another reason
    end_enrollments_of_lead(conn, lead_id, EXIT_REASON, now)
    return True


def _softly_bounced_emails(conn: Connection, lead_id: int) -> set[int]:
    e = events.c
    engaged = conn.scalar(
        select(func.max(e.occurred_at)).where(
            e.lead_id == lead_id, e.type.in_((EMAIL_OPEN, EMAIL_CLICK)), e.machine_reason.is_(None)
        )
    )
    query = select(e.message_id, e.properties).where(
        e.lead_id == lead_id, e.type == BOUNCE, e.message_id.is_not(None)
    )
    if engaged is not None:
        query = query.where(e.occurred_at > engaged)
    return {
        int(row.message_id)
        for row in conn.execute(query)
        if (row.properties or {}).get("bounce_type") == "soft"
    }
