"""A lead's choices on the preference centre: leave one subscription topic, or all marketing mail.

Leaving a topic keeps the address from that topic's campaigns only (a topic suppression, which
the engine asks about when an email is queued and the sender again when it goes out), ends the
lead's enrollments in that topic's campaigns, and records the consent withdrawn for it: the
same :func:`~nurture.engagement.optouts.withdraw_from_topic` an ``unsubscribe`` event with a
``topic`` goes through when it arrives by the API or a file. Leaving
all is the workspace-wide unsubscribe of :mod:`nurture.engagement.suppress`, with the consent of
every topic withdrawn. Each choice also leaves one ``unsubscribe`` event (with its ``topic`` when
it was one); a repeat changes and records nothing, because mail systems retry one-click POSTs.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Connection, select

from nurture.engagement.optouts import withdraw_from_topic
from nurture.engagement.store import NewEvent, store_events
from nurture.engagement.suppress import OptOut, lead_of_link, unsubscribe
from nurture.leads.addresses import suppression_hash
from nurture.leads.consent import current_consents, record_consent
from nurture.store.schema import leads, messages, topic_suppressions

if TYPE_CHECKING:
    from nurture.facts import WhatFollows

CONSENT_SOURCE = "link"  # the consent store's word for a choice made through a link in an email


def leave_topic(
    conn: Connection,
    lead_id: int,
    topic: str,
    now: datetime,
    *,
    channel: str,
    ip: str | None = None,
    then: WhatFollows | None = None,
    message_id: int | None = None,
) -> OptOut:
    """The lead leaves one topic: never mailed on it again, its other topics untouched."""
    current = lead_of_link(conn, lead_id, message_id)
    if current is None:  # erased since the email was sent: its hash is kept already
        return OptOut(None, None, already=True)
    lead_id = current  # a record merged into another since: the choice is the kept record's
    email = conn.scalar(select(leads.c.email).where(leads.c.id == lead_id))
    if email is None:  # erased meanwhile
        return OptOut(None, None, already=True)
    program = then.program if then is not None else None
    added, ended = withdraw_from_topic(
        conn, lead_id, email, topic, now,
        detail=f"{channel} link", consent_source=CONSENT_SOURCE, program=program, ip=ip,
    )  # fmt: skip
    digest = suppression_hash(email)
    if not added:
        return OptOut(lead_id, digest, already=True)
    event_id = _record(conn, then, lead_id, {"source": channel, "topic": topic}, message_id, now)
    return OptOut(lead_id, digest, False, ended, event_id)


def leave_all(
    conn: Connection,
    lead_id: int,
    topics: Iterable[str],
    now: datetime,
    *,
    channel: str,
    ip: str | None = None,
    then: WhatFollows | None = None,
    message_id: int | None = None,
) -> OptOut:
    """The lead leaves every marketing email; the consent of each topic is withdrawn."""
    outcome = unsubscribe(conn, lead_id, now, channel, then=then, message_id=message_id)
    if outcome.lead_id is not None and not outcome.already:
        # outcome.lead_id, not lead_id: the link's record may have been merged into another.
        known = {topic for (_, topic) in current_consents(conn, [outcome.lead_id])}
        for topic in sorted(known | set(topics)):
            record_consent(conn, outcome.lead_id, topic, "withdrawn", now, source=CONSENT_SOURCE, ip=ip)
    return outcome


def left_topics(conn: Connection, email: str) -> set[str]:
    """The topics this address has left (or was kept from by an imported list)."""
    t = topic_suppressions.c
    return set(conn.scalars(select(t.topic).where(t.email_hash == suppression_hash(email))))


def _record(
    conn: Connection,
    then: WhatFollows | None,
    lead_id: int,
    properties: dict[str, str],
    message_id: int | None,
    now: datetime,
) -> int | None:
    event = NewEvent(type="unsubscribe", occurred_at=now, lead_id=lead_id, properties=properties)
    if message_id is not None:
        m = messages.c
        row = conn.execute(
            select(m.id, m.campaign_key, m.step_id).where(m.id == message_id, m.lead_id == lead_id)
        ).first()
        if row is not None:
            event.message_id, event.campaign_key, event.step_id = int(row.id), row.campaign_key, row.step_id
    # Not applied as a workspace-wide opt-out: this unsubscribe is from one topic.
    (event_id,) = store_events(conn, then, [event], now, apply_opt_outs=False)
    return event_id
