"""Unsubscribes, hard bounces and complaints: the address is never mailed again, at once.

Each call, in the caller's transaction: suppresses the address (its sha256, which survives
erasure), marks the lead unsubscribed (unsubscribe, complaint), ends every active enrollment and
records one event. A repeated call changes nothing and records nothing: the one-click POST may be
retried by mail systems, and a bounce may be reported twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select

from nurture.engagement.optouts import (
    SUPPRESSION_REASONS,
    add_suppression,
    mark_unsubscribed,
    stop_nurturing,
)
from nurture.engagement.store import NewEvent, store_events
from nurture.leads.addresses import normalise_email, suppression_hash
from nurture.store.schema import leads, messages

if TYPE_CHECKING:
    from nurture.facts import WhatFollows

# The event each kind of suppression leaves in the lead's history.
_EVENTS: dict[str, tuple[str, dict[str, Any]]] = {
    "unsubscribe": ("unsubscribe", {}),
    "hard_bounce": ("bounce", {"bounce_type": "hard"}),
    "complaint": ("complaint", {}),
}


@dataclass(frozen=True)
class OptOut:
    """What an unsubscribe or suppression did."""

    lead_id: int | None
    email_hash: str | None
    already: bool  # nothing changed: it had been done before
    enrollments_ended: int = 0
    event_id: int | None = None


def unsubscribe(
    conn: Connection,
    lead: int | str,
    now: datetime,
    source: str,
    *,
    then: WhatFollows | None = None,
    message_id: int | None = None,
) -> OptOut:
    """Unsubscribe a lead, given by id or e-mail; ``source`` says how (``one_click``, ``page``, ...).

    An address that is not a lead yet is suppressed all the same, with an event kept under it.
    """
    return _opt_out(conn, lead, "unsubscribe", now, source, then=then, message_id=message_id)


def suppress(
    conn: Connection,
    email: str,
    reason: str,
    now: datetime,
    detail: str | None = None,
    *,
    then: WhatFollows | None = None,
    message_id: int | None = None,
) -> OptOut:
    """Never mail ``email`` again for ``reason`` (``hard_bounce``, ``complaint``, ``unsubscribe``,
    ``manual``); ``detail`` is kept with the suppression (e.g. the bounce's diagnostic line)."""
    if reason not in SUPPRESSION_REASONS:
        raise ValueError(f"not a suppression reason: {reason!r} (one of {', '.join(SUPPRESSION_REASONS)})")
    return _opt_out(conn, email, reason, now, detail, then=then, message_id=message_id)


def _opt_out(
    conn: Connection,
    lead: int | str,
    reason: str,
    now: datetime,
    detail: str | None,
    *,
    then: WhatFollows | None,
    message_id: int | None,
) -> OptOut:
    if isinstance(lead, int):
        merged_into = lead_of_link(conn, lead, message_id)
        if merged_into is None:  # erased since the email was sent: its hash is kept already
            return OptOut(None, None, already=True)
        lead = merged_into
    found = _find_lead(conn, lead)
    if found is not None:
        lead_id, email = found
    elif isinstance(lead, int):  # erased meanwhile
        return OptOut(None, None, already=True)
    else:
        email, lead_id = normalise_email(lead), None
    new = add_suppression(conn, email, reason, detail, now)
    flags_lead = reason in ("unsubscribe", "complaint")
    how = (f"{reason}: {detail}" if detail else reason)[:200]  # e.g. "unsubscribe: one_click"
    changed = lead_id is not None and flags_lead and mark_unsubscribed(conn, lead_id, now, now, source=how)
    if not new and not changed:
        return OptOut(lead_id, suppression_hash(email), already=True)
    program = then.program if then is not None else None
    ended = stop_nurturing(conn, lead_id, reason, now, program=program) if lead_id is not None else 0
    event_id = _record(conn, then, reason, lead_id, email, detail, message_id, now)
    return OptOut(lead_id, suppression_hash(email), False, ended, event_id)


def lead_of_link(conn: Connection, lead_id: int, message_id: int | None) -> int | None:
    """The lead a link in an email stands for now, or None when it was erased.

    The link names the lead the email went to; when that record has since been merged into
    another (``nurture leads merge``), its row is gone but the email moved along with the rest,
    so the email says whose choice the click is. Both ids come from a signed token.
    """
    if conn.scalar(select(leads.c.id).where(leads.c.id == lead_id)) is not None:
        return lead_id
    if message_id is None:
        return None
    m = messages.c
    found = conn.scalar(select(leads.c.id).join(messages, m.lead_id == leads.c.id).where(m.id == message_id))
    return int(found) if found is not None else None


def _find_lead(conn: Connection, lead: int | str) -> tuple[int, str] | None:
    query = select(leads.c.id, leads.c.email)
    if isinstance(lead, int):
        query = query.where(leads.c.id == lead)
    else:
        query = query.where(leads.c.email == normalise_email(lead))
    row = conn.execute(query).first()
    if row is None:
        return None
    return int(row.id), row.email


def _record(
    conn: Connection,
    then: WhatFollows | None,
    reason: str,
    lead_id: int | None,
    email: str,
    detail: str | None,
    message_id: int | None,
    now: datetime,
) -> int | None:
    if reason not in _EVENTS:
        return None  # a manual suppression is an operator's decision, not the lead's engagement
    event_type, properties = _EVENTS[reason]
    if detail:
        properties = {**properties, ("source" if reason == "unsubscribe" else "detail"): detail[:500]}
    event = NewEvent(
        type=event_type,
        occurred_at=now,
        lead_id=lead_id,
        anonymous_email=email if lead_id is None else None,
        properties=properties,
    )
    if message_id is not None:
        m = messages.c
        row = conn.execute(
            select(m.id, m.campaign_key, m.step_id, m.lead_id).where(m.id == message_id)
        ).first()
        if row is not None and (lead_id is None or row.lead_id == lead_id):
            event.message_id, event.campaign_key, event.step_id = int(row.id), row.campaign_key, row.step_id
    (event_id,) = store_events(conn, then, [event], now, apply_opt_outs=False)
    return event_id
