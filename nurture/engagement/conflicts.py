"""An ``id`` names one event: the same id with different content is a conflict, not a retry.

A retried event (the same id, the same event) changes nothing, as the product promises. The same
id on an event that says something else (another type, address, time, URL or properties) is the
sender's mistake, usually two systems numbering events alike; it is reported on that item, never
counted as "already recorded", so nothing is lost without a word.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select

from nurture.store.schema import events, leads

_CHUNK = 1000


@dataclass(frozen=True, slots=True)
class RetriedEvent:
    """An event whose id was stored before, as it arrived this time."""

    key: str
    type: str
    email: str | None  # None when the event named its email by message_id
    message_id: int | None
    url: str | None
    properties: dict[str, Any]
    occurred_at: datetime | None  # None when the event did not say (then it is "when received")


def differences(conn: Connection, retried: Sequence[RetriedEvent]) -> list[list[str]]:
    """For each retried event, the fields in which it differs from the event stored under its id."""
    stored: dict[str, tuple[Any, ...]] = {}
    keys = sorted({r.key for r in retried})
    address = func.coalesce(leads.c.email, events.c.anonymous_email)
    for start in range(0, len(keys), _CHUNK):
        query = (
            select(
                events.c.idempotency_key, events.c.type, address, events.c.message_id, events.c.url,
                events.c.properties, events.c.occurred_at,
            )
            .select_from(events.outerjoin(leads, leads.c.id == events.c.lead_id))
            .where(events.c.idempotency_key.in_(keys[start : start + _CHUNK]))
        )  # fmt: skip
        for key, *values in conn.execute(query):
            stored[key] = tuple(values)
    return [_differing(event, stored.get(event.key)) for event in retried]


def _differing(event: RetriedEvent, stored: tuple[Any, ...] | None) -> list[str]:
    if stored is None:  # erased meanwhile (GDPR): nothing left to differ from
        return []
    kind, address, message_id, url, properties, occurred_at = stored
    fields: list[str] = []
    if event.type != kind:
        fields.append("type")
    if event.email is not None and address is not None and event.email != address.lower():
        fields.append("email")
    if event.message_id is not None and event.message_id != message_id:
        fields.append("message_id")
    if event.occurred_at is not None and event.occurred_at != occurred_at:
        fields.append("occurred_at")
    if event.url != url:
        fields.append("url")
    if event.properties != (properties or {}):
        fields.append("properties")
    return fields


def conflict_message(key: str, fields: Sequence[str]) -> str:
    return (
        f"{key[:80]!r} was recorded before for a different event ({', '.join(fields)} differ); "
        "an id names one event: give this one its own id"
    )
