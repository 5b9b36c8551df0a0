"""Reminders: the holder of a pending handoff hears ``remind_before`` (working time) ahead of the
deadline, once per handoff. Run with the SLA timers; the outbox remembers who was reminded."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, and_, exists, select

from nurture.definitions import Manager, Rep
from nurture.sales.context import SalesContext
from nurture.sales.deadlines import remind_at
from nurture.sales.notifications import Notice, queue_notice
from nurture.store.schema import handoffs, messages

REMINDER = "sales_reminder"


def send_reminders(conn: Connection, context: SalesContext, now: datetime) -> int:
    """Queue the reminders due by ``now``; returns how many."""
    sla = context.sla
    if sla is None or sla.remind_before is None:
        return 0
    h, m = handoffs.c, messages.c
    reminded = exists().where(and_(m.handoff_id == h.id, m.kind == REMINDER))
    rows = conn.execute(
        select(h.id, h.lead_id, h.team_key, h.rep_id, h.assigned_at, h.accept_due_at)
        .where(h.status == "pending", h.accept_due_at > now, ~reminded)
        .order_by(h.accept_due_at, h.id)
    ).all()
    sent = 0
    for row in rows:
        team = context.team_named(row.team_key)
        if team is None:
            continue
        holder: Rep | Manager
        if row.rep_id is None:
            holder = team.manager
            zone_name = holder.working_hours.timezone if holder.working_hours else None
        else:
            try:
                holder = team.rep(row.rep_id)
            except KeyError:
                continue
            zone_name = holder.working_hours.timezone
        notice = Notice(
            "reminder", REMINDER, holder.name, holder.email, zone_name, holder.locale, row.rep_id, team.key
        )
        at = remind_at(holder, context.default_zone, sla.accept_within, sla.remind_before, row.assigned_at)
        if at > now:
            continue
        reason = "the deadline to accept is near"
        queue_notice(conn, context, notice, int(row.id), int(row.lead_id), reason, row.accept_due_at, now)
        sent += 1
    return sent
