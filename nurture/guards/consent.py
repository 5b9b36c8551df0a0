"""Consent and topic suppressions checked before an email is queued (the store of consent is
:mod:`nurture.leads.consent`).

With ``require_consent`` on for a campaign's topic, a send
step reached by a lead without confirmed consent is recorded as a suppressed message
(``no consent``) and nothing is queued; a topic suppression (an imported list) does the same.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from sqlalchemy import Connection, select

from nurture.engine.enrollments import QueuedSend, keep_unsent
from nurture.leads.addresses import suppression_hash
from nurture.leads.consent import current_consents
from nurture.settings import Settings
from nurture.store.schema import topic_suppressions

NO_CONSENT = "no consent"


def topic_suppressed(conn: Connection, emails: Iterable[str]) -> dict[tuple[str, str], str]:
    """Which (address, topic) pairs may not be mailed, and why."""
    by_hash = {suppression_hash(e): e for e in emails}
    if not by_hash:
        return {}
    t = topic_suppressions.c
    query = select(t.email_hash, t.topic, t.reason).where(t.email_hash.in_(sorted(by_hash)))
    return {(by_hash[h], topic): reason for h, topic, reason in conn.execute(query)}


def screen_sends(
    conn: Connection, sends: Sequence[QueuedSend], topics: Mapping[str, str], settings: Settings
) -> tuple[list[QueuedSend], list[tuple[QueuedSend, str]]]:
    """Split sends into those that may be queued and those refused, with why."""
    if not sends:
        return [], []
    blocked = topic_suppressed(conn, {s.to_address for s in sends})
    needs_consent = [s for s in sends if settings.consent_required(topics.get(s.campaign_key, ""))]
    states = current_consents(conn, (s.lead_id for s in needs_consent)) if needs_consent else {}
    allowed: list[QueuedSend] = []
    refused: list[tuple[QueuedSend, str]] = []
    for send in sends:
        topic = topics.get(send.campaign_key, "")
        if (send.to_address, topic) in blocked:
            refused.append((send, f"topic {topic} suppressed ({blocked[(send.to_address, topic)]})"))
            continue
        if settings.consent_required(topic):
            state = states.get((send.lead_id, topic))
            if state is None or state.status != "confirmed":
                refused.append((send, NO_CONSENT))
                continue
        allowed.append(send)
    return allowed, refused


def record_refused_sends(
    conn: Connection, refused: Sequence[tuple[QueuedSend, str]], now: datetime, message_domain: str
) -> None:
    """Keep a refused send as a suppressed message: the step counts as done, the reason is shown."""
    keep_unsent(conn, refused, now, message_domain)
