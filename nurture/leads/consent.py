"""Consent per lead and subscription topic: the one store every way of asking writes to.

Each change is a row (pending, confirmed, withdrawn) with its time, its source (a form, an
import, the command line), the version of the consent text the person saw and their IP address;
the latest row per topic is the state. Web forms with double opt-in write ``pending`` when they
send the confirmation link and ``confirmed`` when it is followed, or ``expired`` when it was not
followed in time; an unsubscribe from a topic writes ``withdrawn``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from nurture.clock import as_utc
from nurture.store.schema import consents

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
