"""Everything stored about one person, as one JSON document (GDPR art. 15, access; art. 20, portability).

The document's keys are stable (``format`` names its version) and described in the README.
Only the person's own data is in it: messages without the bodies or the addresses of the reps
who were notified, handoffs by rep id, and nothing of other leads. Times are ISO 8601 in UTC.
Events received for the address before it was a lead, and the suppressions and per-topic
suppressions kept under the address's hash, are included too: they are about the same person.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Column, Connection, Table, or_, select

from nurture.errors import LeadNotFound
from nurture.leads.addresses import InvalidAddress, normalise_email, suppression_hash
from nurture.store.schema import (
    consents,
    enrollments,
    events,
    handoffs,
    leads,
    messages,
    score_ledger,
    stage_changes,
    suppressions,
    topic_suppressions,
    webhook_deliveries,
)

EXPORT_FORMAT = "nurture.lead-export/1"

PROFILE = (
    "email", "first_name", "last_name", "company", "job_title", "industry", "company_size", "country",
    "timezone", "locale", "lifecycle_stage", "owner_rep_id", "unsubscribed_at", "created_at", "updated_at",
)  # fmt: skip
SCORE = {
    "score": "score", "fit": "fit_score", "behaviour": "behavior_score",
    "behaviour_scored_at": "behavior_scored_at", "conversion_probability": "conversion_probability",
}  # fmt: skip
STAGE_HISTORY = ("from_stage", "to_stage", "at", "reason", "actor", "amount", "currency")
LEDGER = ("at", "points", "kind", "rule", "reason", "event_id")
ENROLLMENTS = (
    "campaign_key", "campaign_version", "status", "step_id", "entered_at", "ended_at", "exit_reason",
)  # fmt: skip
# Not the body, the recipient address (a rep's, for a sales notification) or the relay's bytes.
MESSAGES = ("kind", "campaign_key", "step_id", "subject", "status", "attempts", "created_at", "sent_at")
EVENTS = (
    "id", "type", "occurred_at", "received_at", "campaign_key", "step_id", "url", "machine_reason",
    "properties",
)  # fmt: skip
HANDOFFS = (
    "id", "previous_handoff_id", "team_key", "rep_id", "status", "assigned_at", "accept_due_at",
    "responded_at", "reason", "actor", "reassignments",
)  # fmt: skip
# Webhooks told a team's chat or CRM of the lead's handoffs: what and when, not where or the body.
WEBHOOKS = ("handoff_id", "event", "status", "attempts", "created_at", "delivered_at")
CONSENTS = ("topic", "status", "at", "source", "text_version", "ip")
SUPPRESSIONS = ("reason", "detail", "created_at")
TOPIC_SUPPRESSIONS = ("topic", "reason", "detail", "created_at")


def export_lead(conn: Connection, email: str, now: datetime) -> dict[str, Any]:
    """The export document of the person with this address; :class:`LeadNotFound` when nothing
    at all is stored about it (no lead, no event, no suppression)."""
    try:
        address = normalise_email(email)
    except InvalidAddress:
        raise LeadNotFound(email) from None
    hashed = suppression_hash(address)
    lead = conn.execute(select(leads).where(leads.c.email == address)).first()
    lead_id = int(lead.id) if lead is not None else None
    lead_events = events.c.anonymous_email == address
    if lead_id is not None:
        lead_events = or_(events.c.lead_id == lead_id, lead_events)
    handoffs_of_lead = select(handoffs.c.id).where(handoffs.c.lead_id == lead_id)
    webhooks_of_lead = webhook_deliveries.c.handoff_id.in_(handoffs_of_lead)
    document: dict[str, Any] = {
        "format": EXPORT_FORMAT,
        "exported_at": _plain(now),
        "email": address,
        "profile": _pick(lead._mapping, PROFILE) if lead is not None else None,
        "attributes": dict(lead.attributes or {}) if lead is not None else {},
        "score": {k: _plain(lead._mapping[c]) for k, c in SCORE.items()} if lead is not None else None,
        "stage_history": _rows(conn, stage_changes, STAGE_HISTORY, lead_id),
        "score_ledger": _rows(conn, score_ledger, LEDGER, lead_id),
        "enrollments": _rows(conn, enrollments, ENROLLMENTS, lead_id),
        "messages": _rows(conn, messages, MESSAGES, lead_id),
        "events": _select(conn, events, EVENTS, lead_events),
        "handoffs": _rows(conn, handoffs, HANDOFFS, lead_id),
        "webhooks": _select(conn, webhook_deliveries, WEBHOOKS, webhooks_of_lead),
        "consents": _rows(conn, consents, CONSENTS, lead_id),
        "suppressions": _select(conn, suppressions, SUPPRESSIONS, suppressions.c.email_hash == hashed),
        "topic_suppressions": _select(
            conn, topic_suppressions, TOPIC_SUPPRESSIONS, topic_suppressions.c.email_hash == hashed
        ),
    }
    if lead is None and not any(document[k] for k in ("events", "suppressions", "topic_suppressions")):
        raise LeadNotFound(email)
    return document


def _rows(conn: Connection, table: Table, names: Sequence[str], lead_id: int | None) -> list[dict[str, Any]]:
    if lead_id is None:
        return []
    return _select(conn, table, names, table.c.lead_id == lead_id)


def _select(conn: Connection, table: Table, names: Sequence[str], where: Any) -> list[dict[str, Any]]:
    columns: list[Column[Any]] = [table.c[name] for name in names]
    order = [table.c.id] if "id" in table.c else [table.c.created_at]
    found = conn.execute(select(*columns).where(where).order_by(*order))
    return [_pick(row._mapping, names) for row in found]


def _pick(row: Mapping[Any, Any], names: Sequence[str]) -> dict[str, Any]:
    return {name: _plain(row[name]) for name in names}


def _plain(value: Any) -> Any:
    """A value as JSON has it: instants as ISO 8601 text, mappings as plain dicts."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return value
