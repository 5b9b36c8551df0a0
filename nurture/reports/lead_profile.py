"""Everything nurture knows about one lead, as one JSON-ready dictionary (``leads show``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from nurture.definitions import Program
from nurture.errors import LeadNotFound
from nurture.leads.addresses import address_of_lead, suppression_hash
from nurture.leads.consent import consent_history, lead_consents
from nurture.leads.fields import STANDARD_FIELDS
from nurture.predict.refresh import explain
from nurture.scoring.breakdown import score_breakdown
from nurture.scoring.version import model_version
from nurture.store.schema import (
    enrollments,
    events,
    handoffs,
    leads,
    messages,
    score_ledger,
    stage_changes,
    suppressions,
)

RECENT_EVENTS = 50


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def find_lead_id(conn: Connection, email: str) -> int:
    normalised = address_of_lead(email)
    lead_id = conn.scalar(select(leads.c.id).where(leads.c.email == normalised))
    if lead_id is None:
        raise LeadNotFound(email)
    return int(lead_id)


def lead_profile(
    conn: Connection, email: str, program: Program | None = None, now: datetime | None = None
) -> dict[str, Any]:
    """The lead's profile, stage history, score and ledger, enrollments, messages and owner.

    With the program and the time, the score is the score *now* (behaviour faded since it was
    earned) and comes with its breakdown rule by rule.
    """
    lead_id = find_lead_id(conn, email)
    lead = conn.execute(select(leads).where(leads.c.id == lead_id)).one()._mapping
    suppression = conn.execute(
        select(suppressions.c.reason, suppressions.c.created_at).where(
            suppressions.c.email_hash == suppression_hash(lead["email"])
        )
    ).first()
    profile: dict[str, Any] = {
        "email": lead["email"],
        **{name: lead[name] for name in STANDARD_FIELDS},
        "attributes": lead["attributes"] or {},
        "score": round(lead["score"], 2),
        "fit_score": round(lead["fit_score"], 2),
        "behavior_score": round(lead["behavior_score"], 2),
        "owner": lead["owner_rep_id"],
        "unsubscribed": lead["unsubscribed_at"] is not None,
        "suppressed": suppression.reason if suppression else None,
        "created_at": _iso(lead["created_at"]),
        "updated_at": _iso(lead["updated_at"]),
    }
    if now is not None:
        breakdown = score_breakdown(conn, lead_id, program, now)
        profile["score"] = round(breakdown.total, 2)
        profile["fit_score"] = round(breakdown.fit, 2)
        profile["behavior_score"] = round(breakdown.behavior, 2)
        profile["score_breakdown"] = breakdown.as_dict()
    model = program.scoring_model if program is not None else None
    # The content hash of the model in force: a rescore's ledger lines name the same version.
    profile["score_model_version"] = model_version(model) if model is not None else None
    # The predictive score with the factors behind it (None until `nurture score train`).
    profile["conversion_probability"] = (
        explain(conn, program, lead_id, now) if program is not None and now is not None else None
    )
    profile["stage_history"] = [
        {"from": r.from_stage, "to": r.to_stage, "at": _iso(r.at), "reason": r.reason, "actor": r.actor}
        | ({"amount": r.amount, "currency": r.currency} if r.amount is not None else {})
        for r in conn.execute(
            select(stage_changes)
            .where(stage_changes.c.lead_id == lead_id)
            .order_by(stage_changes.c.at, stage_changes.c.id)
        )
    ]
    profile["score_events"] = [
        {"points": r.points, "reason": r.reason, "rule": r.rule, "kind": r.kind, "at": _iso(r.at)}
        for r in conn.execute(
            select(score_ledger)
            .where(score_ledger.c.lead_id == lead_id)
            .order_by(score_ledger.c.at, score_ledger.c.id)
        )
    ]
    profile["enrollments"] = [
        {
            "campaign": r.campaign_key,
            "status": r.status,
            "step": r.step_id,
            "entered_at": _iso(r.entered_at),
            "due_at": _iso(r.due_at),
            "ended_at": _iso(r.ended_at),
            "exit_reason": r.exit_reason,
        }
        for r in conn.execute(
            select(enrollments)
            .where(enrollments.c.lead_id == lead_id)
            .order_by(enrollments.c.entered_at, enrollments.c.id)
        )
    ]
    profile["messages"] = [
        {
            "campaign": r.campaign_key,
            "step": r.step_id,
            "variant": r.variant,
            "kind": r.kind,
            "subject": r.subject,
            "status": r.status,
            "created_at": _iso(r.created_at),
            "sent_at": _iso(r.sent_at),
            "error": r.last_error,
        }
        for r in conn.execute(
            select(messages)
            .where(messages.c.lead_id == lead_id)
            .order_by(messages.c.created_at, messages.c.id)
        )
    ]
    profile["events"] = [
        {
            "type": r.type,
            "occurred_at": _iso(r.occurred_at),
            "campaign": r.campaign_key,
            "step": r.step_id,
            "url": r.url,
            "machine": r.machine_reason,
        }
        for r in conn.execute(
            select(events)
            .where(events.c.lead_id == lead_id)
            .order_by(events.c.occurred_at.desc(), events.c.id.desc())
            .limit(RECENT_EVENTS)
        )
    ]
    profile["consent"] = [c.as_dict() for c in lead_consents(conn, lead_id)]
    # Every opt-in, confirmation, withdrawal and erasure, with its proof, oldest first.
    profile["consent_history"] = [
        c.as_dict() for c in consent_history(conn, lead_id, suppression_hash(lead["email"]))
    ]
    profile["handoffs"] = [
        {
            "team": r.team_key,
            "rep": r.rep_id,
            "status": r.status,
            "assigned_at": _iso(r.assigned_at),
            "accept_due_at": _iso(r.accept_due_at),
            "responded_at": _iso(r.responded_at),
            "reason": r.reason,
        }
        for r in conn.execute(
            select(handoffs)
            .where(handoffs.c.lead_id == lead_id)
            .order_by(handoffs.c.assigned_at, handoffs.c.id)
        )
    ]
    return profile
