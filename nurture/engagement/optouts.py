"""The database side of opting out: the suppression hash, the lead's flag, its enrollments.

Small idempotent writes shared by the unsubscribe page, bounce handling and events that arrive
through the API or a file; the caller's transaction holds them together with the event.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from nurture.definitions import Program
from nurture.engine.enrollments import end_enrollments_of_lead
from nurture.leads.addresses import suppression_hash
from nurture.leads.consent import record_consent, withdraw_all
from nurture.store import bulk

SUPPRESSION_REASONS = ("unsubscribe", "hard_bounce", "soft_bounces", "complaint", "manual")
HARD_BOUNCE_TYPES = frozenset({"hard", "permanent", "hard_bounce"})
ALL_TOPICS = "all"  # an unsubscribe event's ``topic`` for leaving every marketing email

# Why enrollments end, in the words reports and `leads show` print.
EXIT_REASONS = {
    "unsubscribe": "unsubscribed",
    "hard_bounce": "address bounced (hard)",
    "complaint": "marked as spam (complaint)",
    "manual": "suppressed",
}


def add_suppression(conn: Connection, email: str, reason: str, detail: str | None, now: datetime) -> bool:
    """Never mail ``email`` (normalised) again; True when it was not suppressed before, or only
    from marketing mail.

    An existing suppression keeps its first reason: the earliest cause is the one to explain. One
    that holds back marketing mail only (an unsubscribe) gives way to a hard bounce, a complaint or
    the operator's suppression, which stop transactional mail too.
    """
    result = bulk.execute(
        conn,
        "INSERT INTO suppressions (email_hash, reason, detail, created_at) "
        "VALUES (:hash, :reason, :detail, :at) ON CONFLICT (email_hash) DO UPDATE SET "
        "reason = excluded.reason, detail = excluded.detail, created_at = excluded.created_at "
        "WHERE suppressions.reason = 'unsubscribe' AND excluded.reason <> 'unsubscribe'",
        {
            "hash": suppression_hash(email),
            "reason": reason,
            "detail": (detail or "")[:500] or None,
            "at": bulk.instant(conn, now),
        },
    )
    return bool(result.rowcount)


def mark_unsubscribed(
    conn: Connection, lead_id: int, at: datetime, now: datetime, *, source: str = "unsubscribe event"
) -> bool:
    """Set the lead's ``unsubscribed_at`` once, and record the withdrawal of its consents (with
    ``source``); True when it was not set before."""
    result = bulk.execute(
        conn,
        "UPDATE leads SET unsubscribed_at = :at, updated_at = :now "
        "WHERE id = :id AND unsubscribed_at IS NULL",
        {"at": bulk.instant(conn, at), "now": bulk.instant(conn, now), "id": lead_id},
    )
    if result.rowcount:
        withdraw_all(conn, lead_id, at, source)
    return bool(result.rowcount)


def stop_nurturing(
    conn: Connection, lead_id: int, reason: str, now: datetime, *, program: Program | None = None
) -> int:
    """End every active enrollment of the lead at once; how many were ended.

    An unsubscribe spares the campaigns of ``program`` that send transactional mail: the lead left
    marketing mail, and those campaigns hold their marketing emails back one by one.
    """
    sparing = transactional_campaigns(program) if reason == "unsubscribe" and program else ()
    return end_enrollments_of_lead(conn, lead_id, EXIT_REASONS.get(reason, reason), now, sparing=sparing)


def transactional_campaigns(program: Program) -> frozenset[str]:
    """Keys of the campaigns that send any transactional email."""
    return frozenset(key for key, campaign in program.campaigns.items() if campaign.sends_transactional)


def withdraw_from_topic(
    conn: Connection,
    lead_id: int | None,
    email: str,
    topic: str,
    now: datetime,
    *,
    detail: str,
    consent_source: str,
    program: Program | None,
    ip: str | None = None,
    left_at: datetime | None = None,
) -> tuple[bool, int]:
    """The address leaves one subscription topic, its other topics untouched: a topic suppression
    (the engine asks about it when an email is queued, the sender again when it goes out), the
    lead's consent for the topic withdrawn (with ``consent_source``, at ``left_at``: when the
    person left, default now) and its enrollments in the topic's campaigns ended. Whether it had
    not left the topic before, and how many enrollments ended; a repeat changes nothing.
    """
    added = bulk.execute(
        conn,
        "INSERT INTO topic_suppressions (email_hash, topic, reason, detail, created_at) "
        "VALUES (:hash, :topic, 'unsubscribe', :detail, :at) ON CONFLICT (email_hash, topic) DO NOTHING",
        {
            "hash": suppression_hash(email),
            "topic": topic,
            "detail": detail[:500],
            "at": bulk.instant(conn, now),
        },
    ).rowcount
    if not added or lead_id is None:
        return bool(added), 0
    record_consent(conn, lead_id, topic, "withdrawn", left_at or now, source=consent_source, ip=ip)
    reason = f"{EXIT_REASONS['unsubscribe']} from {topic}"
    ended = end_enrollments_of_lead(conn, lead_id, reason, now, only=topic_campaigns(program, topic))
    return True, ended


def topic_campaigns(program: Program | None, topic: str) -> list[str]:
    """The campaigns whose enrollments end with the topic: its campaigns that send only marketing
    mail (a campaign with transactional emails goes on, its marketing emails held back)."""
    if program is None:
        return []
    return [
        key
        for key, campaign in program.campaigns.items()
        if campaign.topic == topic and not campaign.sends_transactional
    ]


def topic_left(event_type: str, properties: dict[str, object]) -> str | None:
    """The one topic an ``unsubscribe`` event leaves (its ``topic`` property), or None when it
    leaves all marketing mail (no topic, or ``all``)."""
    topic = properties.get("topic")
    if event_type != "unsubscribe" or not isinstance(topic, str) or topic == ALL_TOPICS:
        return None
    return topic


def suppression_for(event_type: str, properties: dict[str, object]) -> str | None:
    """The workspace-wide suppression an incoming event implies: unsubscribes from all marketing
    mail, complaints and hard bounces (an unsubscribe from one topic is :func:`topic_left`)."""
    if event_type == "unsubscribe":
        if topic_left(event_type, properties) is not None:
            return None
        return "unsubscribe"
    if event_type == "complaint":
        return "complaint"
    if event_type == "bounce":
        kind = properties.get("bounce_type", properties.get("kind"))
        if isinstance(kind, str) and kind.lower() in HARD_BOUNCE_TYPES:
            return "hard_bounce"
    return None
