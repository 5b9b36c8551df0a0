"""Requests with an ``Idempotency-Key`` (events and leads): a retried one counts once and gets the
first answer.

The key is claimed in the same transaction that stores the batch's events, so a batch is either
stored with its key or not at all; a second request with the key waits for the first (PostgreSQL's
unique index, SQLite's write lock) and then replays its answer.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select

from nurture.engagement.record import RecordResult, UnknownLeads, record_events
from nurture.errors import NurtureError
from nurture.store import bulk
from nurture.store.schema import ingest_batches

if TYPE_CHECKING:
    from nurture.facts import WhatFollows

MAX_KEY_LENGTH = 200
NEEDS_ID = (
    "is required: give each event an id, or send the request with an Idempotency-Key header, so "
    "that a retried request is not recorded twice"
)


class BatchKeyReused(NurtureError):
    """The Idempotency-Key was used before for a different body."""


@dataclass(frozen=True)
class BatchAnswer:
    """The answer to one batch: fresh, or replayed for a retry."""

    body: dict[str, Any]
    replayed: bool
    result: RecordResult | None = None  # only for a batch stored now


def body_digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def valid_batch_key(key: str) -> bool:
    """A key is 1-200 printable ASCII characters."""
    return 0 < len(key) <= MAX_KEY_LENGTH and key.isascii() and key.isprintable()


def record_batch(
    conn: Connection,
    then: WhatFollows | None,
    items: Sequence[Any],
    now: datetime,
    *,
    key: str | None,
    body_sha256: str,
    unknown_leads: UnknownLeads = "keep",
) -> BatchAnswer:
    """Record a batch once per ``key`` (every time when there is none)."""
    if key is not None:
        replayed = claim_key(conn, key, body_sha256, len(items), now)
        if replayed is not None:
            return replayed
    # Without a key for the request, only an event's own id can tell a retry from a new event.
    result = record_events(
        conn, then, items, now, unknown_leads=unknown_leads, require_ids=None if key is not None else NEEDS_ID
    )
    body = result.as_json()
    if key is not None:
        keep_answer(conn, key, body, accepted=result.rejected == 0)
    return BatchAnswer(body, replayed=False, result=result)


def claim_key(conn: Connection, key: str, body_sha256: str, items: int, now: datetime) -> BatchAnswer | None:
    """Claim an Idempotency-Key for a request, in its transaction: None when it is new (answer
    it, then :func:`keep_answer`), else the first answer to replay; :class:`BatchKeyReused` when
    the key came with another body. A request holding the key makes a second one wait for its
    commit (PostgreSQL's unique index, SQLite's write lock), so two at once are answered once."""
    claimed = bulk.execute(
        conn,
        "INSERT INTO ingest_batches (idempotency_key, received_at, event_count, accepted, body_sha256) "
        "VALUES (:key, :at, :count, :accepted, :digest) ON CONFLICT (idempotency_key) DO NOTHING",
        {"key": key, "at": bulk.instant(conn, now), "count": items, "accepted": False, "digest": body_sha256},
    ).rowcount
    return None if claimed else _replay(conn, key, body_sha256)


def keep_answer(conn: Connection, key: str, body: dict[str, Any], *, accepted: bool) -> None:
    """Store the answer given under a claimed key, for its retries."""
    conn.execute(
        ingest_batches.update()
        .where(ingest_batches.c.idempotency_key == key)
        .values(accepted=accepted, result=body)
    )


def _replay(conn: Connection, key: str, body_sha256: str) -> BatchAnswer:
    row = conn.execute(
        select(ingest_batches.c.body_sha256, ingest_batches.c.result).where(
            ingest_batches.c.idempotency_key == key
        )
    ).one()
    if row.body_sha256 is not None and row.body_sha256 != body_sha256:
        raise BatchKeyReused(
            "this Idempotency-Key was used for a different batch; use a new key for a new request"
        )
    stored = row.result
    if isinstance(stored, str):  # JSON text from an engine without a JSON type
        stored = json.loads(stored)
    return BatchAnswer(stored or {}, replayed=True)
