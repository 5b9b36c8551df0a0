"""Consent per lead and subscription topic: the one store every way of asking writes to.

Each change is a row (pending, confirmed, withdrawn) with its time, its source (a form, an
import, the command line), the version of the consent text the person saw and their IP address;
the latest row per topic is the state. When a person is erased, their records are kept under
the hash of their address only (:func:`keep_proofs`), as the proof that outlives them. Web
forms with double opt-in write ``pending`` when they send the confirmation link and
``confirmed`` when it is followed, or ``expired`` when it was not followed in time; an
unsubscribe from a topic writes ``withdrawn``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from nurture.clock import as_utc
from nurture.store.schema import consent_proofs, consents

CONSENT_STATES = ("pending", "confirmed", "withdrawn", "expired")


@dataclass(frozen=True)
class Consent:
    topic: str
    status: str
    at: datetime
    source: str
    text_version: str | None
    ip: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "topic": self.topic,
            "status": self.status,
            "at": self.at.isoformat(),
            "source": self.source,
            "text_version": self.text_version,
            "ip": self.ip,
        }


def record_consent(
    conn: Connection,
    lead_id: int,
    topic: str,
    status: str,
    now: datetime,
    *,
    source: str,
    text_version: str | None = None,
    ip: str | None = None,
) -> None:
    """Record a consent change for one topic, in the caller's transaction."""
    if status not in CONSENT_STATES:
        raise ValueError(f"not a consent state: {status!r} (one of {', '.join(CONSENT_STATES)})")
    conn.execute(
        consents.insert().values(
            lead_id=lead_id, topic=topic, status=status, at=as_utc(now), source=source[:200],
            text_version=text_version, ip=ip,
        )
    )  # fmt: skip


@dataclass(frozen=True)
class GivenConsent:
    """A consent to record: where and when it was given, which text, from which address."""

    topic: str
    status: str
    at: datetime
    source: str
    text_version: str | None = None
    ip: str | None = None


def record_consents_once(conn: Connection, given: Sequence[tuple[int, GivenConsent]]) -> int:
    """Record each (lead, consent) that changes the topic's stored state or text version; a
    file imported again, or a request repeated, records nothing new. How many were recorded."""
    if not given:
        return 0
    stored = current_consents(conn, {lead_id for lead_id, _ in given})
    recorded = 0
    for lead_id, consent in given:
        held = stored.get((lead_id, consent.topic))
        if held is not None and (held.status, held.text_version) == (consent.status, consent.text_version):
            continue
        record_consent(
            conn, lead_id, consent.topic, consent.status, consent.at,
            source=consent.source, text_version=consent.text_version, ip=consent.ip,
        )  # fmt: skip
        stored[(lead_id, consent.topic)] = Consent(
            consent.topic, consent.status, consent.at, consent.source, consent.text_version, consent.ip
        )
        recorded += 1
    return recorded


def withdraw_all(conn: Connection, lead_id: int, at: datetime, source: str) -> int:
    """The person left all mail (an unsubscribe, a complaint): every topic they consented to, or
    were asked about, is recorded withdrawn, so the record shows when and how. How many."""
    held = [c for (_, _), c in sorted(current_consents(conn, [lead_id]).items()) if c.status != "withdrawn"]
    for consent in held:
        record_consent(conn, lead_id, consent.topic, "withdrawn", at, source=source)
    return len(held)


def current_consents(conn: Connection, lead_ids: Iterable[int]) -> dict[tuple[int, str], Consent]:
    """The state of each (lead, topic) that has any consent recorded: its latest row."""
    ids = sorted(set(lead_ids))
    found: dict[tuple[int, str], Consent] = {}
    if not ids:
        return found
    c = consents.c
    query = (
        select(c.lead_id, c.topic, c.status, c.at, c.source, c.text_version, c.ip)
        .where(c.lead_id.in_(ids))
        .order_by(c.at, c.id)
    )
    for row in conn.execute(query):
        found[(int(row.lead_id), row.topic)] = Consent(
            row.topic, row.status, row.at, row.source, row.text_version, row.ip
        )
    return found


def lead_consents(conn: Connection, lead_id: int) -> list[Consent]:
    """A lead's consent per topic (``leads show``)."""
    return [c for (_, _), c in sorted(current_consents(conn, [lead_id]).items())]


def consent_history(conn: Connection, lead_id: int | None, email_hash: str) -> list[Consent]:
    """Every consent record about a person, oldest first: the lead's, and the proofs kept under
    the address's hash from an earlier erasure (``leads show``, the export)."""
    c, p = consents.c, consent_proofs.c
    found: list[tuple[datetime, int, Consent]] = []
    queries = [
        select(p.id, p.topic, p.status, p.at, p.source, p.text_version, p.ip).where(
            p.email_hash == email_hash
        )
    ]
    if lead_id is not None:
        queries.append(
            select(c.id, c.topic, c.status, c.at, c.source, c.text_version, c.ip).where(c.lead_id == lead_id)
        )
    for query in queries:
        for row in conn.execute(query):
            found.append(
                (
                    row.at,
                    int(row.id),
                    Consent(row.topic, row.status, row.at, row.source, row.text_version, row.ip),
                )
            )
    return [consent for _, _, consent in sorted(found, key=lambda f: (f[0], f[1]))]


def keep_proofs(conn: Connection, lead_id: int | None, email_hash: str, now: datetime, detail: str) -> int:
    """Before a person's data is erased: copy their consent records under the hash of the address
    and add the erasure itself (a withdrawal of every topic, source ``erasure``). How many."""
    c = consents.c
    rows = (
        conn.execute(
            select(c.topic, c.status, c.at, c.source, c.text_version, c.ip)
            .where(c.lead_id == lead_id)
            .order_by(c.at, c.id)
        ).all()
        if lead_id is not None
        else []
    )
    kept = [
        {"email_hash": email_hash, "topic": r.topic, "status": r.status, "at": r.at, "source": r.source,
         "text_version": r.text_version, "ip": r.ip}
        for r in rows
    ]  # fmt: skip
    for topic in sorted({r.topic for r in rows}):
        kept.append(
            {"email_hash": email_hash, "topic": topic, "status": "withdrawn", "at": as_utc(now),
             "source": f"erasure: {detail}"[:200], "text_version": None, "ip": None}
        )  # fmt: skip
    if kept:
        conn.execute(consent_proofs.insert(), kept)
    return len(kept)
