"""Opens and clicks seen by the tracking server: message lookup, machine flags, insert, scoring.

The token in the link has already been verified; it names the message, and the message names
the lead, campaign and step. Sightings are recorded in batches (the server writes the opens and
clicks of concurrent requests together): one lookup of their messages, one of recent clicks (for
the burst rule), one insert, one call to scoring. Sales notifications and other non-marketing
emails are not the lead's engagement and record nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from sqlalchemy import Connection

from nurture.engagement.items import EMAIL_CLICK, EMAIL_OPEN
from nurture.engagement.signals import BURST_WINDOW, click_machine_reason, open_machine_reason
from nurture.engagement.store import NewEvent, store_events
from nurture.store import bulk

if TYPE_CHECKING:
    from nurture.facts import WhatFollows

MAX_AGENT_LENGTH = 500  # kept to explain a machine flag; longer ones are cut
BURST_FLAG = "scanner:burst"


@dataclass(frozen=True, slots=True)
class Sighting:
    """An open pixel loaded or a tracked link followed, as the server saw it."""

    kind: Literal["open", "click"]
    message_id: int
    at: datetime
    user_agent: str
    ip: str | None = None
    url: str | None = None  # the clicked link


@dataclass(frozen=True, slots=True)
class Tracked:
    """An open or click as stored."""

    event_id: int
    lead_id: int
    type: str
    machine_reason: str | None


@dataclass(frozen=True, slots=True)
class _Message:
    lead_id: int
    campaign_key: str | None
    step_id: str | None
    sent_at: datetime | None


@dataclass(slots=True)
class _Click:
    """A click of the last moments, for the burst rule: stored (``event_id``) or in this batch."""

    url: str | None
    at: datetime
    event_id: int | None = None
    pending: NewEvent | None = None


def record_sightings(
    conn: Connection, then: WhatFollows | None, sightings: Sequence[Sighting]
) -> list[Tracked | None]:
    """Record opens and clicks in one transaction; for each, what was stored (None: not a
    marketing email nurture knows of)."""
    if not sightings:
        return []
    found = _messages(conn, {s.message_id for s in sightings})
    recent = _recent_clicks(conn, sightings, found)
    pending: list[tuple[int, NewEvent]] = []
    flag_stored: set[int] = set()
    for index, sighting in enumerate(sightings):
        message = found.get(sighting.message_id)
        if message is None:
            continue
        if sighting.kind == "open":
            reason = open_machine_reason(sighting.user_agent, sighting.ip)
            event = _event(EMAIL_OPEN, sighting, message, reason)
        else:
            event = _click(sighting, message, recent.setdefault(sighting.message_id, []), flag_stored)
        pending.append((index, event))
    latest = max(s.at for s in sightings)
    if flag_stored:
        # The earlier clicks of a sweep were stored as a person's: flag them now (points given stay).
        clause, params = bulk.in_list(conn, "id", sorted(flag_stored))
        flag = f"UPDATE events SET machine_reason = '{BURST_FLAG}' WHERE id IN {clause}"  # noqa: S608 - constants only
        bulk.execute(conn, flag + " AND machine_reason IS NULL", params)
    ids = store_events(conn, then, [event for _, event in pending], latest, apply_opt_outs=False)
    results: list[Tracked | None] = [None] * len(sightings)
    for (index, event), event_id in zip(pending, ids, strict=True):
        if event_id is not None and event.lead_id is not None:
            results[index] = Tracked(event_id, event.lead_id, event.type, event.machine_reason)
    return results


def record_open(
    conn: Connection,
    then: WhatFollows | None,
    message_id: int,
    *,
    user_agent: str,
    ip: str | None,
    now: datetime,
) -> Tracked | None:
    """Record that the open pixel of a message was loaded (None: not a marketing email we know)."""
    return record_sightings(conn, then, [Sighting("open", message_id, now, user_agent, ip)])[0]


def record_click(
    conn: Connection,
    then: WhatFollows | None,
    message_id: int,
    url: str,
    *,
    user_agent: str,
    now: datetime,
) -> Tracked | None:
    """Record a click on ``url`` in a message (None: not a marketing email we know)."""
    return record_sightings(conn, then, [Sighting("click", message_id, now, user_agent, url=url)])[0]


def _click(sighting: Sighting, message: _Message, recent: list[_Click], flag_stored: set[int]) -> NewEvent:
    since = sighting.at - BURST_WINDOW
    sweep = [c for c in recent if since <= c.at <= sighting.at]
    burst = any(c.url != sighting.url for c in sweep)
    reason = click_machine_reason(
        sighting.user_agent, message.sent_at, sighting.at, other_link_within_burst=burst
    )
    if burst:
        for earlier in sweep:
            if earlier.event_id is not None:
                flag_stored.add(earlier.event_id)
            elif earlier.pending is not None and earlier.pending.machine_reason is None:
                earlier.pending.machine_reason = BURST_FLAG
    event = _event(EMAIL_CLICK, sighting, message, reason)
    recent.append(_Click(sighting.url, sighting.at, pending=event))
    return event


def _event(event_type: str, sighting: Sighting, message: _Message, reason: str | None) -> NewEvent:
    agent = sighting.user_agent
    return NewEvent(
        type=event_type,
        occurred_at=sighting.at,
        lead_id=message.lead_id,
        message_id=sighting.message_id,
        campaign_key=message.campaign_key,
        step_id=message.step_id,
        url=sighting.url,
        machine_reason=reason,
        properties={"user_agent": agent[:MAX_AGENT_LENGTH]} if agent else {},
    )


def _messages(conn: Connection, message_ids: set[int]) -> dict[int, _Message]:
    clause, params = bulk.in_list(conn, "id", sorted(message_ids))
    query = (
        "SELECT id, lead_id, campaign_key, step_id, sent_at FROM messages "  # noqa: S608 - placeholders only
        f"WHERE id IN {clause} AND kind = 'marketing' AND lead_id IS NOT NULL"
    )
    return {
        int(row[0]): _Message(int(row[1]), row[2], row[3], bulk.read_instant(row[4]))
        for row in bulk.execute(conn, query, params)
    }


def _recent_clicks(
    conn: Connection, sightings: Sequence[Sighting], found: dict[int, _Message]
) -> dict[int, list[_Click]]:
    clicked = sorted({s.message_id for s in sightings if s.kind == "click" and s.message_id in found})
    recent: dict[int, list[_Click]] = {}
    if not clicked:
        return recent
    since = min(s.at for s in sightings) - BURST_WINDOW
    clause, params = bulk.in_list(conn, "message", clicked)
    # By message only: one email has a handful of events, while "all clicks of the last second"
    # (the type and time index a planner may prefer) is thousands during a mailing.
    query = (
        "SELECT id, message_id, type, url, occurred_at FROM events "  # noqa: S608 - placeholders only
        f"WHERE message_id IN {clause} AND occurred_at >= :since"
    )
    params["since"] = bulk.instant(conn, since)
    for event_id, message_id, event_type, url, at in bulk.execute(conn, query, params):
        stored_at = bulk.read_instant(at)
        if event_type == EMAIL_CLICK and stored_at is not None and stored_at >= since:
            recent.setdefault(int(message_id), []).append(_Click(url, stored_at, event_id=int(event_id)))
    return recent
