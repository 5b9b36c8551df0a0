"""Reading the bounce mailbox: late bounces and complaints become events on the message they
name, so the address is suppressed (hard bounce, complaint) and the lead's history shows why.

Only reports whose bounce token verified are acted on: anyone can mail the bounce address, and a
forged bounce must never suppress an address. A message is marked processed (filed under ``cur/``,
moved out of the IMAP mailbox) only after its effects were committed, and its event is stored under
the item's stable key, so a message read twice (a crash in between, or the same report delivered
twice) is recorded once. Soft bounces on ``soft_bounce_limit`` emails suppress the address too
(:mod:`nurture.daemon.soft_bounces`).
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from datetime import datetime
from itertools import islice
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Engine

from nurture.daemon.logs import log_event
from nurture.daemon.soft_bounces import suppress_after_soft_bounces
from nurture.delivery.bounce_mailbox import BounceMailbox, InboxItem, open_bounce_mailbox
from nurture.delivery.bounces import BounceKind, BounceReport
from nurture.engagement import NewEvent, store_events
from nurture.facts import WhatFollows
from nurture.sending.factory import signer_for
from nurture.store.schema import messages
from nurture.workspace import Workspace

MESSAGES_PER_RUN = 500  # a flood of bounces is read over several runs, never in one long one
SOFT_BOUNCE_LIMIT = 3  # the soft_bounce_limit setting's default

_log = logging.getLogger("nurture.daemon.bounces")


def workspace_bounce_mailbox(workspace: Workspace) -> BounceMailbox | None:
    """The mailbox the workspace's ``bounce_mailbox`` setting names, or None when it names none;
    :class:`~nurture.delivery.bounce_mailbox.BounceMailboxError` when it cannot be understood."""
    url = workspace.settings.bounce_mailbox
    return open_bounce_mailbox(url, workspace.root, signer_for(workspace)) if url else None


def read_bounce_inbox(
    db: Engine,
    inbox: BounceMailbox,
    then: WhatFollows | None,
    now: datetime,
    *,
    soft_bounce_limit: int = SOFT_BOUNCE_LIMIT,
    stopping: threading.Event | None = None,
) -> Counter[str]:
    """Handle the waiting messages of the bounce mailbox; how many of each kind were read
    (``hard``, ``soft``, ``complaint``, ``auto_reply``, ``unknown``, ``forged``, ``unmatched``).

    Raises :class:`~nurture.delivery.bounce_mailbox.BounceMailboxError` when the mailbox cannot
    be read; what was handled until then stays handled, the rest waits for the next run, as it
    does when ``stopping`` is set.
    """
    tally: Counter[str] = Counter()
    with inbox.open() as mailbox:
        for item in islice(mailbox.new_messages(), MESSAGES_PER_RUN):
            tally[_handle(db, item, then, now, soft_bounce_limit)] += 1
            mailbox.done(item)
            if stopping is not None and stopping.is_set():
                break
    return tally


def _handle(db: Engine, item: InboxItem, then: WhatFollows | None, now: datetime, soft_limit: int) -> str:
    report = item.report
    if report.forged:
        log_event(
            _log, logging.WARNING, "bounce.forged",
            message=item.name, subject=report.subject[:120], note="bounce token did not verify; ignored",
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
            idempotency_key=item.key[:200],
            properties=properties,
        )
        (stored,) = store_events(conn, then, [event], now)
        # Counted only when this report is new: a report read twice must not count twice.
        soft_limit_reached = (
            stored is not None
            and report.kind is BounceKind.SOFT
            and suppress_after_soft_bounces(conn, int(row.lead_id), soft_limit, now)
        )
        if report.kind is BounceKind.HARD:
            conn.execute(
                update(messages)
                .where(messages.c.id == row.id, messages.c.status == "sent")
                .values(status="bounced", last_error=(report.diagnostic or report.status or "bounced")[:500])
            )
    if soft_limit_reached:
        log_event(_log, logging.INFO, "bounce.soft_limit", lead=int(row.lead_id), limit=soft_limit)
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
