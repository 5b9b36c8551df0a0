"""Erasure (GDPR Art. 17): the person's data goes, a suppression hash stays."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, func, select

from nurture.leads.addresses import normalise_email, suppression_hash
from nurture.leads.consent import keep_proofs
from nurture.store.cursors import NEW_LEADS, move_cursor, read_cursor
from nurture.store.schema import events, leads, messages, suppressions


@dataclass(frozen=True)
class Erasure:
    email_hash: str
    lead_found: bool
    anonymous_events: int


def _reopen_new_lead_feed(conn: Connection, now: datetime) -> None:
    """SQLite gives a new row the highest id there is plus one, so erasing the newest lead frees
    its id for the next one; the engine, which offers leads above the last id it offered, would
    pass that lead over. Its feed is set back to the newest lead still there."""
    newest = int(conn.scalar(select(func.max(leads.c.id))) or 0)
    position, _ = read_cursor(conn, NEW_LEADS)
    if position > newest:
        move_cursor(conn, NEW_LEADS, newest, now)


def forget_lead(conn: Connection, email: str, now: datetime, *, detail: str = "erasure request") -> Erasure:
    """Delete the lead and everything hanging off it; keep only the hash that blocks re-mailing.

    The lead's enrollments, messages, events, ledger, stage history and handoffs go with it by
    foreign-key cascade; its consent records are kept under the address's hash, with the
    erasure as a withdrawal of each topic (the proof of consent outlives the person's data).
    Events received before the lead existed, and sales notifications about it, are matched by
    address and removed as well.
    """
    normalised = normalise_email(email)
    digest = suppression_hash(normalised)
    lead_id = conn.scalar(select(leads.c.id).where(leads.c.email == normalised))
    keep_proofs(conn, lead_id, digest, now, detail)
    if lead_id is not None:
        conn.execute(delete(messages).where(messages.c.lead_id == lead_id))
        conn.execute(delete(leads).where(leads.c.id == lead_id))
        if conn.dialect.name == "sqlite":
            _reopen_new_lead_feed(conn, now)
    anonymous = conn.execute(delete(events).where(events.c.anonymous_email == normalised)).rowcount
    existing = conn.scalar(select(suppressions.c.reason).where(suppressions.c.email_hash == digest))
    if existing is None:
        conn.execute(
            suppressions.insert().values(email_hash=digest, reason="forgotten", detail=detail, created_at=now)
        )
    elif existing != "forgotten":
        conn.execute(
            suppressions.update()
            .where(suppressions.c.email_hash == digest)
            .values(reason="forgotten", detail=f"{detail} (was: {existing})", created_at=now)
        )
    return Erasure(digest, lead_id is not None, anonymous or 0)
