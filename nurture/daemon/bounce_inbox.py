"""Reading the bounce mailbox: late bounces and complaints become events on the message they
name, so the address is suppressed (hard bounce, complaint) and the lead's history shows why.

Only reports whose bounce token verified are acted on: anyone can mail the bounce address, and a
forged bounce must never suppress an address. Each mailbox message is stored under an idempotency
key made from its Maildir name, so a message read twice (a crash before it was filed under
``cur/``) is recorded once.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime
from itertools import islice
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Engine

from nurture.daemon.logs import log_event
from nurture.definitions import Program
from nurture.delivery.bounces import BounceKind, BounceReport, InboxItem, MaildirBounceInbox
from nurture.engagement import NewEvent, store_events
from nurture.store.schema import messages

MESSAGES_PER_RUN = 500  # a flood of bounces is read over several runs, never in one long one

_log = logging.getLogger("nurture.daemon.bounces")


def read_bounce_inbox(
    db: Engine, inbox: MaildirBounceInbox, program: Program | None, now: datetime
) -> Counter[str]:
    """Handle the waiting messages of the bounce mailbox; how many of each kind were read
    (``hard``, ``soft``, ``complaint``, ``auto_reply``, ``unknown``, ``forged``, ``unmatched``)."""
    tally: Counter[str] = Counter()
    for item in islice(inbox.new_messages(), MESSAGES_PER_RUN):
        tally[_handle(db, item, program, now)] += 1
        inbox.done(item)
    return tally


def _handle(db: Engine, item: InboxItem, program: Program | None, now: datetime) -> str:
    report = item.report
    if report.forged:
        log_event(
            _log, logging.WARNING, "bounce.forged",
            file=item.path.name, subject=report.subject[:120], note="bounce token did not verify; ignored",
        )  # fmt: skip
        return "forged"
    if report.kind in (BounceKind.AUTO_REPLY, BounceKind.UNKNOWN):
        return str(report.kind)
    message_id = _message_number(report.message_ref)
    if message_id is None:
        return "unmatched"
    with db.begin() as conn:
        row = conn.execute(
            select(messages.c.id, messages.c.lead_id, messages.c.campaign_key, messages.c.step_id).where(
                messages.c.id == message_id
            )
        ).first()
        if row is None or row.lead_id is None:
            return "unmatched"  # erased since: the suppression hash was kept when it was
        event_type, properties = _event_for(report)
        event = NewEvent(
            type=event_type,
            occurred_at=now,
            lead_id=int(row.lead_id),
            message_id=int(row.id),
            campaign_key=row.campaign_key,
            step_id=row.step_id,
            idempotency_key=f"bounce-inbox:{item.path.name.split(':', 1)[0]}"[:200],
            properties=properties,
        )
        store_events(conn, program, [event], now)
        if report.kind is BounceKind.HARD:
            conn.execute(
                update(messages)
                .where(messages.c.id == row.id, messages.c.status == "sent")
                .values(status="bounced", last_error=(report.diagnostic or report.status or "bounced")[:500])
            )
    return str(report.kind)


def _event_for(report: BounceReport) -> tuple[str, dict[str, Any]]:
    details: dict[str, Any] = {"source": "bounce_mailbox"}
    if report.status:
        details["status"] = report.status
    if report.diagnostic:
        details["detail"] = report.diagnostic[:500]
    if report.kind is BounceKind.COMPLAINT:
        return "complaint", details
    return "bounce", {"bounce_type": str(report.kind), **details}


def _message_number(ref: Any) -> int | None:
    if isinstance(ref, int):
        return ref
    if isinstance(ref, str) and ref.isdigit():
        return int(ref)
    return None
