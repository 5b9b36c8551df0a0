"""The database side of the report: read the recorded history once, as plain rows.

Each table is read in one pass ordered so rows arrive grouped per lead; nothing is computed here.
Changes, handoffs, events and sends after ``now`` are left out, so a report pinned to a moment
(``NURTURE_NOW``) sees the history as it stood then.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, func, select

from nurture.reports.campaigns import StepFigures
from nurture.reports.rows import FUNNEL, Enrollment, Handoff, History, Lead, StageChange, Touch
from nurture.store import bulk
from nurture.store.schema import enrollments, events, handoffs, leads, messages, stage_changes

_BATCH = 20_000


def read_history(conn: Connection, now: datetime) -> History:
    """Leads, stage changes, handoffs, enrollments and touches recorded up to ``now``."""
    return History(
        leads=_leads(conn, now),
        changes=_changes(conn, now),
        handoffs=_handoffs(conn, now),
        enrollments=_enrollments(conn, now),
        touches=_touches(conn, now),
    )


def read_stages(conn: Connection, now: datetime) -> History:
    """Only leads and their stage changes (enough for journeys and stuck leads)."""
    return History(
        leads=_leads(conn, now), changes=_changes(conn, now), handoffs=[], enrollments=[], touches={}
    )


def _instant(value: object) -> datetime:
    instant = bulk.read_instant(value)
    assert instant is not None
    return instant


def _leads(conn: Connection, now: datetime) -> dict[int, Lead]:
    c = leads.c
    query = select(
        c.id, c.email, c.created_at, c.lifecycle_stage, c.owner_rep_id, c.country, c.industry, c.attributes
    ).where(c.created_at <= now)
    found: dict[int, Lead] = {}
    for row in conn.execution_options(yield_per=_BATCH).execute(query):
        found[row.id] = Lead(
            row.id,
            row.email,
            _instant(row.created_at),
            row.lifecycle_stage,
            row.owner_rep_id,
            row.country,
            row.industry,
            row.attributes or {},
        )
    return found


def _changes(conn: Connection, now: datetime) -> dict[int, list[StageChange]]:
    c = stage_changes.c
    query = (
        select(c.lead_id, c.from_stage, c.to_stage, c.at, c.reason, c.amount, c.currency)
        .where(c.at <= now)
        .order_by(c.lead_id, c.at, c.id)
    )
    found: dict[int, list[StageChange]] = defaultdict(list)
    for row in conn.execution_options(yield_per=_BATCH).execute(query):
        found[row.lead_id].append(
            StageChange(
                row.lead_id,
                row.from_stage,
                row.to_stage,
                _instant(row.at),
                row.reason,
                row.amount,
                row.currency,
            )
        )
    return dict(found)


def _handoffs(conn: Connection, now: datetime) -> list[Handoff]:
    h = handoffs.c
    query = (
        select(h.id, h.lead_id, h.rep_id, h.status, h.assigned_at, h.accept_due_at, h.responded_at, h.reason)
        .where(h.assigned_at <= now)
        .order_by(h.id)
    )
    found = []
    for row in conn.execution_options(yield_per=_BATCH).execute(query):
        responded = bulk.read_instant(row.responded_at)
        status = row.status
        if responded is not None and responded > now:
            responded, status = None, "pending"  # answered after the report's moment
        found.append(
            Handoff(
                row.id,
                row.lead_id,
                row.rep_id,
                status,
                _instant(row.assigned_at),
                bulk.read_instant(row.accept_due_at),
                responded,
                row.reason,
            )
        )
    return found


def _enrollments(conn: Connection, now: datetime) -> list[Enrollment]:
    e = enrollments.c
    query = select(e.lead_id, e.campaign_key, e.status, e.entered_at, e.exit_reason).where(
        e.entered_at <= now
    )
    return [
        Enrollment(row.lead_id, row.campaign_key, row.status, _instant(row.entered_at), row.exit_reason)
        for row in conn.execution_options(yield_per=_BATCH).execute(query)
    ]


def _touches(conn: Connection, now: datetime) -> dict[int, list[Touch]]:
    """Marketing emails sent and people's engagement (machine opens and clicks left out), of the
    leads that qualified: touches only count up to a conversion, and most leads never convert."""
    found: dict[int, list[Touch]] = defaultdict(list)
    qualified = select(stage_changes.c.lead_id).where(stage_changes.c.to_stage.in_(FUNNEL[1:]))
    m = messages.c
    sent = select(m.lead_id, m.sent_at, m.campaign_key, m.step_id).where(
        m.kind == "marketing", m.sent_at.is_not(None), m.sent_at <= now, m.lead_id.in_(qualified)
    )
    for row in conn.execution_options(yield_per=_BATCH).execute(sent):
        found[row.lead_id].append(
            Touch(row.lead_id, _instant(row.sent_at), "sent", row.campaign_key, row.step_id)
        )
    ev = events.c
    engaged = select(ev.lead_id, ev.occurred_at, ev.type, ev.campaign_key, ev.step_id).where(
        ev.lead_id.in_(qualified), ev.machine_reason.is_(None), ev.occurred_at <= now
    )
    for event in conn.execution_options(yield_per=_BATCH).execute(engaged):
        found[event.lead_id].append(
            Touch(event.lead_id, _instant(event.occurred_at), event.type, event.campaign_key, event.step_id)
        )
    for touches in found.values():
        touches.sort(key=lambda t: t.at)
    return dict(found)


def _window(column: Any, since: datetime | None, until: datetime | None) -> Any:
    clauses = []
    if since is not None:
        clauses.append(column >= since)
    if until is not None:
        clauses.append(column < until)
    return and_(True, *clauses)


def step_counts(conn: Connection, since: datetime | None, until: datetime | None) -> list[StepFigures]:
    """Sends by status and engagement by type per campaign step, for messages created in the period
    (engagement: occurred in it); counted in the database, since they are plain sums."""
    steps: dict[tuple[str, str], StepFigures] = {}
    m = messages.c
    for key, step_id, status, count in conn.execute(
        select(m.campaign_key, m.step_id, m.status, func.count())
        .where(m.kind == "marketing", m.campaign_key.is_not(None), _window(m.created_at, since, until))
        .group_by(m.campaign_key, m.step_id, m.status)
    ):
        figures = steps.setdefault((key, step_id), StepFigures(key, step_id))
        if status in ("sent", "bounced", "failed"):
            setattr(figures, status, getattr(figures, status) + count)
    ev = events.c
    machine = ev.machine_reason.is_not(None)
    counts = (func.count(func.distinct(ev.message_id)), func.count())
    for key, step_id, type_, is_machine, distinct_messages, total in conn.execute(
        select(ev.campaign_key, ev.step_id, ev.type, machine, *counts)
        .where(ev.campaign_key.is_not(None), ev.step_id.is_not(None), _window(ev.occurred_at, since, until))
        .group_by(ev.campaign_key, ev.step_id, ev.type, machine)
    ):
        figures = steps.setdefault((key, step_id), StepFigures(key, step_id))
        if type_ == "email_open":
            figures.machine_opens += total if is_machine else 0
            figures.opened += 0 if is_machine else distinct_messages
        elif type_ == "email_click":
            figures.machine_clicks += total if is_machine else 0
            figures.clicked += 0 if is_machine else distinct_messages
        elif type_ == "unsubscribe":
            figures.unsubscribed += total
    return list(steps.values())
