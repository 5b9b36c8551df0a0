"""Writing events: one fast path for the API, file imports, tracking links and opt-outs.

Events are written with the driver's executemany, a retried event (same idempotency key) is
skipped by ``ON CONFLICT DO NOTHING``, and ids are taken before the insert so each stored event is
known without reading it back: on PostgreSQL from the table's sequence, on SQLite from the highest
id under the write lock every transaction takes (``BEGIN IMMEDIATE``). Opt-outs the events imply
and scoring happen in the same transaction.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select

from nurture.engagement.optouts import (
    add_suppression,
    mark_unsubscribed,
    stop_nurturing,
    suppression_for,
    topic_left,
    withdraw_from_topic,
)
from nurture.engagement.scoring_hook import ScorableEvent, score_events
from nurture.store import bulk
from nurture.store.feeds import writing
from nurture.store.schema import leads

if TYPE_CHECKING:
    from nurture.definitions import Program
    from nurture.facts import WhatFollows

_COLUMNS = (
    "lead_id, anonymous_email, type, occurred_at, received_at, message_id, campaign_key, step_id, "
    "url, machine_reason, idempotency_key, properties"
)
_VALUES = (
    ":lead_id, :anonymous_email, :type, :occurred_at, :received_at, :message_id, :campaign_key, "
    ":step_id, :url, :machine_reason, :idempotency_key, :properties"
)
# The conflict target is the idempotency key only: any other conflict is an error, never a skip.
_SKIP_RETRIES = "ON CONFLICT (idempotency_key) DO NOTHING"
# Rows by position (bulk.executemany_rows): no dict per event.
_INSERT_MANY = f"INSERT INTO events (id, {_COLUMNS}) VALUES (:id, {_VALUES}) {_SKIP_RETRIES}"  # noqa: S608 - constants only
_INSERT_ONE = f"INSERT INTO events ({_COLUMNS}) VALUES ({_VALUES}) {_SKIP_RETRIES} RETURNING id"  # noqa: S608 - constants only
_CHUNK = 1000


@dataclass(slots=True)
class NewEvent:
    """An event ready to be written: its lead (or its address, while the lead is unknown) resolved."""

    type: str
    occurred_at: datetime
    lead_id: int | None = None
    anonymous_email: str | None = None
    message_id: int | None = None
    campaign_key: str | None = None
    step_id: str | None = None
    url: str | None = None
    machine_reason: str | None = None
    idempotency_key: str | None = None
    properties: dict[str, Any] | None = None
    properties_json: str | None = None  # the same properties already as JSON text, when at hand


def store_events(
    conn: Connection,
    then: WhatFollows | None,
    new_events: Sequence[NewEvent],
    now: datetime,
    *,
    apply_opt_outs: bool = True,
    consent_source: str = "api",
) -> list[int | None]:
    """Write the events; the id of each, or None where its idempotency key was seen before.

    Unsubscribes, complaints and hard bounces also suppress the address and end the lead's
    enrollments (unless ``apply_opt_outs`` is False: the caller has done it); an unsubscribe with a
    ``topic`` leaves that topic only, the consent withdrawn recorded with ``consent_source`` (how
    the event came: ``api``, ``import``). Events of known leads are then scored.
    """
    if not new_events:
        return []
    writing(conn, "events")  # the engine follows events by id: see nurture.store.feeds
    if len(new_events) == 1:
        ids: list[int | None] = [_insert_one(conn, new_events[0], now)]
    else:
        ids = _insert_many(conn, new_events, now)
    if apply_opt_outs:
        program = then.program if then is not None else None
        _apply_opt_outs(conn, new_events, ids, now, program, consent_source)
    if then is not None:  # without a program nothing follows: no scoring model to ask
        score_events(
            conn,
            then,
            [
                ScorableEvent(
                    i,
                    e.lead_id,
                    e.type,
                    e.occurred_at,
                    e.properties or {},
                    e.url,
                    e.machine_reason,
                    e.campaign_key,
                    e.step_id,
                )
                for e, i in zip(new_events, ids, strict=True)
                if i is not None and e.lead_id is not None
            ],
            now,
        )
    return ids


def _row(conn: Connection, event: NewEvent, received_at: Any) -> dict[str, Any]:
    sqlite = conn.dialect.name == "sqlite"
    if sqlite and event.properties_json is not None:
        stored_properties: Any = event.properties_json
    else:
        stored_properties = bulk.json_value(conn, event.properties or {})
    return {
        "lead_id": event.lead_id,
        "anonymous_email": event.anonymous_email,
        "type": event.type,
        "occurred_at": bulk.instant(conn, event.occurred_at) if sqlite else event.occurred_at,
        "received_at": received_at,
        "message_id": event.message_id,
        "campaign_key": event.campaign_key,
        "step_id": event.step_id,
        "url": event.url,
        "machine_reason": event.machine_reason,
        "idempotency_key": event.idempotency_key,
        "properties": stored_properties,
    }


def _insert_one(conn: Connection, event: NewEvent, now: datetime) -> int | None:
    found = bulk.execute(conn, _INSERT_ONE, _row(conn, event, bulk.instant(conn, now))).fetchone()
    return int(found[0]) if found is not None else None


def _insert_many(conn: Connection, new_events: Sequence[NewEvent], now: datetime) -> list[int | None]:
    received_at = bulk.instant(conn, now)
    sqlite = conn.dialect.name == "sqlite"
    instant = bulk.instants(conn)
    json_value = bulk.json_value
    # A key repeated within the batch is stored once: the first occurrence wins.
    seen: set[str] = set()
    ids: list[int | None] = []
    rows: list[tuple[Any, ...]] = []
    keyed: list[int] = []
    next_id = _allocate_ids(conn, len(new_events)).__next__
    for event in new_events:
        key = event.idempotency_key
        if key is not None:
            if key in seen:
                ids.append(None)
                continue
            seen.add(key)
        event_id = next_id()
        ids.append(event_id)
        if key is not None:
            keyed.append(event_id)
        # In the order of _INSERT_MANY's parameters; values in storage form (see _row).
        if sqlite:
            occurred_at: Any = instant(event.occurred_at)
            properties = event.properties_json
            if properties is None:
                properties = json_value(conn, event.properties or {})
        else:
            occurred_at, properties = event.occurred_at, json_value(conn, event.properties or {})
        rows.append(
            (
                event_id, event.lead_id, event.anonymous_email, event.type, occurred_at, received_at,
                event.message_id, event.campaign_key, event.step_id, event.url, event.machine_reason, key,
                properties,
            )
        )  # fmt: skip
    bulk.executemany_rows(conn, _INSERT_MANY, rows)
    if keyed:
        # Keyed rows that are not there were retries of events stored before.
        skipped = set(keyed) - _existing_ids(conn, keyed)
        if skipped:
            ids = [None if i in skipped else i for i in ids]
    return ids


def _allocate_ids(conn: Connection, count: int) -> Iterator[int]:
    if conn.dialect.name == "postgresql":
        result = bulk.execute(
            conn,
            "SELECT nextval(pg_get_serial_sequence('events', 'id')) FROM generate_series(1, :count)",
            {"count": count},
        )
        return iter([int(row[0]) for row in result.fetchall()])
    # SQLite: this transaction holds the write lock (BEGIN IMMEDIATE), so nobody else takes these.
    highest = bulk.execute(conn, "SELECT COALESCE(MAX(id), 0) FROM events").scalar()
    return iter(range(int(highest) + 1, int(highest) + 1 + count))


def _existing_ids(conn: Connection, ids: Sequence[int]) -> set[int]:
    found: set[int] = set()
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        query = f"SELECT id FROM events WHERE id IN {bulk.markers(len(chunk))}"  # noqa: S608 - markers only
        found.update(int(r[0]) for r in bulk.fetch_positional(conn, query, chunk))
    return found


def _apply_opt_outs(
    conn: Connection,
    new_events: Sequence[NewEvent],
    ids: Sequence[int | None],
    now: datetime,
    program: Program | None,
    consent_source: str,
) -> None:
    opting_out = []
    leaving: list[tuple[NewEvent, str]] = []  # unsubscribes from one topic
    for event, event_id in zip(new_events, ids, strict=True):
        if event_id is not None:
            reason = suppression_for(event.type, event.properties or {})
            if reason is not None:
                opting_out.append((event, reason))
            elif (topic := topic_left(event.type, event.properties or {})) is not None:
                leaving.append((event, topic))
    if not opting_out and not leaving:
        return
    lead_ids = sorted({e.lead_id for e, _ in (*opting_out, *leaving) if e.lead_id is not None})
    emails = {
        int(lead_id): email
        for lead_id, email in conn.execute(select(leads.c.id, leads.c.email).where(leads.c.id.in_(lead_ids)))
    }
    for event, topic in leaving:
        email = emails.get(event.lead_id) if event.lead_id is not None else event.anonymous_email
        if email is not None:
            withdraw_from_topic(
                conn, event.lead_id, email, topic, now,
                detail=f"{event.type} event", consent_source=consent_source, program=program,
                left_at=event.occurred_at,
            )  # fmt: skip
    for event, reason in opting_out:
        assert reason is not None
        email = emails.get(event.lead_id) if event.lead_id is not None else event.anonymous_email
        if email is not None:
            add_suppression(conn, email, reason, f"{event.type} event", now)
        if event.lead_id is not None:
            if reason in ("unsubscribe", "complaint"):
                mark_unsubscribed(conn, event.lead_id, event.occurred_at, now)
            stop_nurturing(conn, event.lead_id, reason, now, program=program)
