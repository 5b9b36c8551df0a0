"""Everything stored about one person, as one JSON document (GDPR art. 15, access; art. 20, portability).

The document's keys are stable (``format`` names its version) and described in the README.
Only the person's own data is in it: messages without the bodies or the addresses of the reps
who were notified, handoffs by rep id, and nothing of other leads. Times are ISO 8601 in UTC.
Events received for the address before it was a lead, and the suppressions and per-topic
suppressions kept under the address's hash, are included too: they are about the same person.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Column, Connection, Table, or_, select

from nurture.errors import LeadNotFound
from nurture.leads.addresses import address_of_lead, suppression_hash
from nurture.leads.consent import consent_history
from nurture.store.schema import (
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

# Each part of the document: its keys, and the stored column each comes from. The names follow
# ``leads show --json`` where both have the same thing (``from``/``to``, ``campaign``, ``step``).
PROFILE = {
    **{name: name for name in (
        "email", "first_name", "last_name", "company", "job_title", "industry", "company_size", "country",
        "timezone", "locale", "lifecycle_stage", "external_id",
    )},
    "owner": "owner_rep_id", "unsubscribed_at": "unsubscribed_at", "created_at": "created_at",
    "updated_at": "updated_at",
}  # fmt: skip
SCORE = {
    "score": "score", "fit": "fit_score", "behaviour": "behavior_score",
    "behaviour_scored_at": "behavior_scored_at", "conversion_probability": "conversion_probability",
}  # fmt: skip
STAGE_HISTORY = {
    "from": "from_stage", "to": "to_stage", "at": "at", "reason": "reason", "actor": "actor",
    "amount": "amount", "currency": "currency",
}  # fmt: skip
LEDGER = {name: name for name in ("at", "points", "kind", "rule", "reason", "event_id")}
ENROLLMENTS = {
    "campaign": "campaign_key", "version": "campaign_version", "status": "status", "step": "step_id",
    "entered_at": "entered_at", "ended_at": "ended_at", "exit_reason": "exit_reason",
}  # fmt: skip
# Not the body, the recipient address (a rep's, for a sales notification) or the relay's bytes.
MESSAGES = {
    "kind": "kind", "campaign": "campaign_key", "step": "step_id", "subject": "subject", "status": "status",
    "attempts": "attempts", "created_at": "created_at", "sent_at": "sent_at", "variant": "variant",
}  # fmt: skip
EVENTS = {
    "id": "id", "type": "type", "occurred_at": "occurred_at", "received_at": "received_at",
    "campaign": "campaign_key", "step": "step_id", "url": "url", "machine_reason": "machine_reason",
    "properties": "properties",
}  # fmt: skip
HANDOFFS = {
    "id": "id", "previous": "previous_handoff_id", "team": "team_key", "rep": "rep_id", "status": "status",
    "assigned_at": "assigned_at", "accept_due_at": "accept_due_at", "responded_at": "responded_at",
    "reason": "reason", "actor": "actor", "reassignments": "reassignments",
}  # fmt: skip
# Webhooks told a team's chat or CRM of the lead's handoffs: what and when, not where or the body.
WEBHOOKS = {
    "handoff": "handoff_id", "event": "event", "status": "status", "attempts": "attempts",
    "created_at": "created_at", "delivered_at": "delivered_at",
}  # fmt: skip
CONSENTS = {name: name for name in ("topic", "status", "at", "source", "text_version", "ip")}
SUPPRESSIONS = {name: name for name in ("reason", "detail", "created_at")}
TOPIC_SUPPRESSIONS = {name: name for name in ("topic", "reason", "detail", "created_at")}


def export_lead(conn: Connection, email: str, now: datetime) -> dict[str, Any]:
    """The export document of the person with this address; :class:`LeadNotFound` when nothing
    at all is stored about it (no lead, no event, no suppression)."""
    address = address_of_lead(email)
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
        "score": _pick(lead._mapping, SCORE) if lead is not None else None,
        "stage_history": _rows(conn, stage_changes, STAGE_HISTORY, lead_id),
        "score_ledger": _rows(conn, score_ledger, LEDGER, lead_id),
        "enrollments": _rows(conn, enrollments, ENROLLMENTS, lead_id),
        "messages": _rows(conn, messages, MESSAGES, lead_id),
        "events": _select(conn, events, EVENTS, lead_events),
        "handoffs": _rows(conn, handoffs, HANDOFFS, lead_id),
        "webhooks": _select(conn, webhook_deliveries, WEBHOOKS, webhooks_of_lead),
        "consents": [_pick(c.as_dict(), CONSENTS) for c in consent_history(conn, lead_id, hashed)],
        "suppressions": _select(conn, suppressions, SUPPRESSIONS, suppressions.c.email_hash == hashed),
        "topic_suppressions": _select(
            conn, topic_suppressions, TOPIC_SUPPRESSIONS, topic_suppressions.c.email_hash == hashed
        ),
    }
    if lead is None and not any(
        document[k] for k in ("events", "suppressions", "topic_suppressions", "consents")
    ):
        raise LeadNotFound(email)
    return document


def _rows(
    conn: Connection, table: Table, names: Mapping[str, str], lead_id: int | None
) -> list[dict[str, Any]]:
    if lead_id is None:
        return []
    return _select(conn, table, names, table.c.lead_id == lead_id)


def _select(conn: Connection, table: Table, names: Mapping[str, str], where: Any) -> list[dict[str, Any]]:
    columns: list[Column[Any]] = [table.c[column] for column in names.values()]
    order = [table.c.id] if "id" in table.c else [table.c.created_at]
    found = conn.execute(select(*columns).where(where).order_by(*order))
    return [_pick(row._mapping, names) for row in found]


def _pick(row: Mapping[Any, Any], names: Mapping[str, str]) -> dict[str, Any]:
    return {key: _plain(row[column]) for key, column in names.items()}


def _plain(value: Any) -> Any:
    """A value as JSON has it: instants as ISO 8601 text, mappings as plain dicts."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return value
