"""Recording engagement events: the API, ``nurture events import`` and the tracking links use this.

Each item is checked on its own; a bad one is reported with its index and field and never stops
the good ones. Events for addresses nurture does not know yet are kept with the address and
joined to the lead when it is imported (:func:`join_anonymous_events`), or refused when the
settings say ``unknown_event_leads = "refuse"``; they are never dropped silently.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import Connection, select

from nurture.definitions.problems import did_you_mean
from nurture.definitions.topic import DEFAULT_TOPIC
from nurture.engagement.conflicts import RetriedEvent, conflict_message, differences
from nurture.engagement.items import (
    EMAIL_CLICK,
    EMAIL_OPEN,
    UNSUBSCRIBE,
    EventItem,
    ItemInvalid,
    content_key,
    parse_item,
)
from nurture.engagement.optouts import ALL_TOPICS, mark_unsubscribed, stop_nurturing, suppression_for
from nurture.engagement.scoring_hook import ScorableEvent, score_events
from nurture.engagement.signals import click_machine_reason, open_machine_reason
from nurture.engagement.store import NewEvent, store_events
from nurture.store import bulk
from nurture.store.schema import CAMPAIGN_MAIL, events, leads, messages

if TYPE_CHECKING:
    from nurture.facts import WhatFollows

UnknownLeads = Literal["keep", "refuse"]
_CHUNK = 1000


@dataclass(frozen=True)
class ItemError:
    """Why one item was not stored; ``index`` counts from 0 in the items given."""

    index: int
    field: str | None
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message

    def as_json(self) -> dict[str, Any]:
        return {"index": self.index, "field": self.field, "error": self.message}


@dataclass
class RecordResult:
    """What happened to a batch of items."""

    received: int = 0
    stored: int = 0
    duplicates: int = 0  # retries of events stored before (same id / idempotency_key)
    anonymous: int = 0  # stored without a lead: the address is not known yet
    machine: int = 0  # stored and flagged as made by a privacy proxy or a scanner
    errors: list[ItemError] = field(default_factory=list)
    event_ids: list[int] = field(default_factory=list)
    # (type, "human" | "machine") of every stored event, for the server's counters.
    by_type: Counter[tuple[str, str]] = field(default_factory=Counter)

    @property
    def rejected(self) -> int:
        return len(self.errors)

    def as_json(self) -> dict[str, Any]:
        """The answer the ingest API gives (and gives again to a retried batch)."""
        return {
            "received": self.received,
            "stored": self.stored,
            "duplicates": self.duplicates,
            "anonymous": self.anonymous,
            "rejected": self.rejected,
            "errors": [e.as_json() for e in self.errors],
        }


@dataclass(frozen=True, slots=True)
class MessageFacts:
    """What an event needs to know about the email it belongs to."""

    id: int
    lead_id: int | None
    campaign_key: str | None
    step_id: str | None
    kind: str
    sent_at: datetime | None


def record_events(
    conn: Connection,
    then: WhatFollows | None,
    items: Sequence[Any],
    now: datetime,
    *,
    unknown_leads: UnknownLeads = "keep",
    key_by_content: bool = False,
    require_ids: str | None = None,
    consent_source: str = "api",
) -> RecordResult:
    """Check and store engagement events (JSON objects as sent by the API or a file), in ``conn``'s
    transaction; retried events count once, and what follows (``then``) is told of events of known
    leads.

    Every event has an identity: its ``id``; else, with ``key_by_content`` (a file), a key made
    from what it says (:func:`~nurture.engagement.items.content_key`); else, given
    ``require_ids`` (the API without an Idempotency-Key), the event is refused with that text as
    the reason, since a retry of an event without a time would look new.

    An ``unsubscribe`` with a ``topic`` property leaves that topic only (``all``: every marketing
    email); the consent withdrawn is recorded with ``consent_source``. A topic the program does
    not know is refused, since leaving all instead would be more than the person asked for.
    """
    result = RecordResult(received=len(items))
    errors = result.errors
    topics = set(then.program.topics) if then is not None else {DEFAULT_TOPIC}
    indexes, checked = _checked(items, now, require_ids, topics, errors)
    found_messages = find_messages(conn, {c.message_ref for c in checked if c.message_ref is not None})
    lead_ids = find_lead_ids(conn, {c.email for c in checked if c.message_ref is None and c.email})
    ready: list[NewEvent] = []
    keyed: dict[int, tuple[int, EventItem]] = {}  # position in ready: (index, item), for retries
    for index, item in zip(indexes, checked, strict=True):
        try:
            ready.append(_resolve(item, found_messages, lead_ids, unknown_leads))
        except ItemInvalid as exc:
            errors.append(ItemError(index, exc.field, exc.message))
        else:
            if item.idempotency_key is not None:
                keyed[len(ready) - 1] = (index, item)
            elif key_by_content:
                # What it says is its identity: the same line again is a retry, never a conflict.
                ready[-1].idempotency_key = content_key(item, bool(items[index].get("occurred_at")))
    # Done with: the garbage collector need not walk them while the batch is stored and scored.
    del checked, found_messages, lead_ids
    ids = store_events(conn, then, ready, now, consent_source=consent_source)
    retried = [position for position, event_id in enumerate(ids) if event_id is None and position in keyed]
    conflicted: set[int] = set()  # neither stored nor a retry: the item is answered with an error
    for position, error in zip(
        retried, _conflicts(conn, items, [(*keyed[p], ready[p]) for p in retried]), strict=True
    ):
        if error is not None:
            errors.append(error)
            conflicted.add(position)
    by_type = result.by_type
    for position, (event, event_id) in enumerate(zip(ready, ids, strict=True)):
        if event_id is None:
            result.duplicates += position not in conflicted
            continue
        result.stored += 1
        result.event_ids.append(event_id)
        result.anonymous += event.lead_id is None
        result.machine += event.machine_reason is not None
        by_type[(event.type, "human" if event.machine_reason is None else "machine")] += 1
    errors.sort(key=lambda e: e.index)
    return result


def _checked(
    items: Sequence[Any], now: datetime, require_ids: str | None, topics: set[str], errors: list[ItemError]
) -> tuple[list[int], list[EventItem]]:
    """The items that pass their checks and their indexes; the others go to ``errors``."""
    # Parallel lists rather than (index, item) pairs: a batch is thousands of items.
    indexes: list[int] = []
    checked: list[EventItem] = []
    for index, item in enumerate(items):
        try:
            parsed = parse_item(item, now)
        except ItemInvalid as exc:
            errors.append(ItemError(index, exc.field, exc.message))
            continue
        if parsed.idempotency_key is None and require_ids is not None:
            errors.append(ItemError(index, "id", require_ids))
            continue
        if parsed.type == UNSUBSCRIBE and "topic" in parsed.properties:
            problem = _unknown_topic(parsed.properties["topic"], topics)
            if problem is not None:
                errors.append(ItemError(index, "properties.topic", problem))
                continue
        checked.append(parsed)
        indexes.append(index)
    return indexes, checked


def _unknown_topic(topic: Any, topics: set[str]) -> str | None:
    """Why an unsubscribe's ``topic`` names no subscription topic, or None when it names one."""
    if topic == ALL_TOPICS or (isinstance(topic, str) and topic in topics):
        return None
    known = ", ".join(sorted(topics))
    if not isinstance(topic, str):
        return f"must be a topic's key or {ALL_TOPICS!r} (topics: {known})"
    shown = topic[:80]
    return f"no topic {shown!r}{did_you_mean(shown, topics)} (topics: {known}, or {ALL_TOPICS!r})"


def _conflicts(
    conn: Connection,
    items: Sequence[Any],
    retried: Sequence[tuple[int, EventItem, NewEvent]],
) -> list[ItemError | None]:
    """For each item whose id was stored before: an error when it is not the same event."""
    if not retried:
        return []
    arrived = [
        RetriedEvent(
            key=item.idempotency_key or "",
            type=item.type,
            email=item.email if item.message_ref is None else None,
            message_id=event.message_id if item.message_ref is not None else None,
            url=item.url,
            properties=item.properties,
            occurred_at=item.occurred_at if items[index].get("occurred_at") else None,
        )
        for index, item, event in retried
    ]
    found = differences(conn, arrived)
    answers: list[ItemError | None] = []
    for (index, item, _), fields in zip(retried, found, strict=True):
        if not fields:
            answers.append(None)
            continue
        key_field = "id" if items[index].get("id") is not None else "idempotency_key"
        answers.append(ItemError(index, key_field, conflict_message(item.idempotency_key or "", fields)))
    return answers


def _resolve(
    item: EventItem,
    found_messages: dict[int | str, MessageFacts],
    lead_ids: dict[str, int],
    unknown_leads: UnknownLeads,
) -> NewEvent:
    message = None
    lead_id: int | None
    anonymous_email = None
    if item.message_ref is not None:
        message = found_messages.get(item.message_ref)
        if message is None:
            raise ItemInvalid("message_id", f"no message {item.message_ref} was sent by nurture")
        if message.kind not in CAMPAIGN_MAIL or message.lead_id is None:
            raise ItemInvalid("message_id", f"message {item.message_ref} is not a campaign's email to a lead")
        lead_id = message.lead_id
    else:
        assert item.email is not None
        lead_id = lead_ids.get(item.email)
        if lead_id is None:
            if unknown_leads == "refuse":
                raise ItemInvalid(
                    "email", f"no lead {item.email} (the settings refuse events of unknown addresses)"
                )
            anonymous_email = item.email
    machine_reason = item.machine_reason
    if machine_reason is None and item.type in (EMAIL_OPEN, EMAIL_CLICK):
        machine_reason = _machine_reason(item, message)
    return NewEvent(
        type=item.type,
        occurred_at=item.occurred_at,
        lead_id=lead_id,
        anonymous_email=anonymous_email,
        message_id=message.id if message is not None else None,
        campaign_key=message.campaign_key if message is not None else None,
        step_id=message.step_id if message is not None else None,
        url=item.url,
        machine_reason=machine_reason,
        idempotency_key=item.idempotency_key,
        properties=item.properties,
        properties_json=item.properties_json,
    )


def _machine_reason(item: EventItem, message: MessageFacts | None) -> str | None:
    """Flag opens and clicks reported by others with the tracking server's own rules, as far as
    the item tells: the user agent and address when given, the time since sending."""
    agent = item.properties.get("user_agent")
    agent = agent if isinstance(agent, str) else None
    ip = item.properties.get("ip")
    ip = ip if isinstance(ip, str) else None
    if item.type == EMAIL_OPEN:
        return open_machine_reason(agent, ip) if agent is not None else None
    sent_at = message.sent_at if message is not None else None
    return click_machine_reason(agent, sent_at, item.occurred_at)


def find_lead_ids(conn: Connection, emails: Iterable[str]) -> dict[str, int]:
    """Lead ids by normalised e-mail, for those addresses that are leads."""
    wanted = sorted(set(emails))
    found: dict[str, int] = {}
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        query = f"SELECT email, id FROM leads WHERE email IN {bulk.markers(len(chunk))}"  # noqa: S608 - markers only
        found.update((email, int(lead_id)) for email, lead_id in bulk.fetch_positional(conn, query, chunk))
    return found


def find_messages(conn: Connection, refs: Iterable[int | str]) -> dict[int | str, MessageFacts]:
    """Messages by nurture's number or by their Message-ID header, whichever each reference is."""
    numbers = sorted({r for r in refs if isinstance(r, int)})
    headers = sorted({r for r in refs if isinstance(r, str)})
    m = messages.c
    columns = (m.id, m.message_id, m.lead_id, m.campaign_key, m.step_id, m.kind, m.sent_at)
    found: dict[int | str, MessageFacts] = {}
    for wanted, column in ((numbers, m.id), (headers, m.message_id)):
        for start in range(0, len(wanted), _CHUNK):
            chunk: list[Any] = list(wanted[start : start + _CHUNK])
            for row in conn.execute(select(*columns).where(column.in_(chunk))):
                facts = MessageFacts(
                    int(row.id), row.lead_id, row.campaign_key, row.step_id, row.kind, row.sent_at
                )
                found[int(row.id) if column is m.id else row.message_id] = facts
    return found


def join_anonymous_events(
    conn: Connection, then: WhatFollows | None, lead_ids: Sequence[int], now: datetime
) -> int:
    """Give events kept under an address to the leads with it; how many were joined.

    What follows a lead import (file, API, form) calls this for every batch of new and changed
    leads, in the batch's transaction: changed ones too, since an event can be left waiting (it
    arrived while its lead was being created in another transaction, or the lead was imported
    while the program had errors) and the next change of the lead picks it up. Joined events are
    scored as they would have been, once: an event is joined only while it has no lead, and on
    PostgreSQL the rows are locked as they are read, so two joins at once never score one event
    twice. An unsubscribe or complaint among them marks the lead unsubscribed (its address is
    already suppressed).
    """
    if not lead_ids:
        return 0
    e = events.c
    # The usual case, nothing waiting, costs one probe of the small partial index.
    if conn.execute(select(e.id).where(e.lead_id.is_(None)).limit(1)).first() is None:
        return 0
    joined = 0
    wanted = sorted(set(lead_ids))
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        query = (
            select(
                e.id, e.type, e.occurred_at, e.properties, e.url, e.machine_reason, e.campaign_key,
                e.step_id, leads.c.id.label("owner"),
            )
            .join(leads, leads.c.email == e.anonymous_email)
            .where(e.lead_id.is_(None), leads.c.id.in_(chunk))
            .order_by(e.occurred_at, e.id)
            .with_for_update(of=events, skip_locked=True)
        )  # fmt: skip
        rows = conn.execute(query).all()
        if not rows:
            continue
        bulk.executemany(
            conn,
            "UPDATE events SET lead_id = :lead_id, anonymous_email = NULL WHERE id = :id AND lead_id IS NULL",
            [{"lead_id": int(r.owner), "id": int(r.id)} for r in rows],
        )
        for r in rows:
            reason = suppression_for(r.type, r.properties or {})
            if reason in ("unsubscribe", "complaint"):
                mark_unsubscribed(conn, int(r.owner), r.occurred_at, now)
            if reason is not None:
                stop_nurturing(conn, int(r.owner), reason, now, program=then.program if then else None)
        score_events(
            conn,
            then,
            [
                ScorableEvent(
                    id=int(r.id),
                    lead_id=int(r.owner),
                    type=r.type,
                    occurred_at=r.occurred_at,
                    properties=r.properties or {},
                    url=r.url,
                    machine_reason=r.machine_reason,
                    campaign_key=r.campaign_key,
                    step_id=r.step_id,
                )
                for r in rows
            ],
            now,
        )
        joined += len(rows)
    return joined
