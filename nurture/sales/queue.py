"""A rep's queue: the handoffs they hold open, soonest deadline first, with times in their zone."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from nurture.definitions import Program, Rep
from nurture.sales.routing import OPEN_STATUSES
from nurture.store.schema import handoffs, leads
from nurture.zones import zone


def find_rep(program: Program, rep_id: str) -> Rep | None:
    """The rep with this id in any team of the program."""
    for team in program.sales_teams.values():
        for rep in team.reps:
            if rep.id == rep_id:
                return rep
    return None


def rep_queue(conn: Connection, rep: Rep, now: datetime) -> list[dict[str, Any]]:
    """The rep's open handoffs: pending ones by deadline, then the accepted ones they work on."""
    h, lead = handoffs.c, leads.c
    tz = zone(rep.working_hours.timezone)
    rows = conn.execute(
        select(
            h.id, h.status, h.team_key, h.assigned_at, h.accept_due_at, lead.id.label("lead_id"), lead.email,
            lead.first_name, lead.last_name, lead.company, lead.country, lead.score, lead.lifecycle_stage,
        )
        .join(leads, lead.id == h.lead_id)
        .where(h.rep_id == rep.id, h.status.in_(OPEN_STATUSES))
        .order_by(h.accept_due_at.is_(None), h.accept_due_at, h.assigned_at, h.id)
    ).all()  # fmt: skip
    queue = []
    for row in rows:
        due = row.accept_due_at if row.status == "pending" else None
        name = " ".join(p for p in (row.first_name, row.last_name) if p) or row.email
        queue.append(
            {
                "handoff": int(row.id),
                "status": row.status,
                "team": row.team_key,
                "lead": {
                    "id": int(row.lead_id),
                    "email": row.email,
                    "name": name,
                    "company": row.company,
                    "country": row.country,
                    "stage": row.lifecycle_stage,
                },
                "score": round(float(row.score)),
                "assigned_at": row.assigned_at.isoformat(),
                "deadline": due.isoformat() if due else None,
                "deadline_local": due.astimezone(tz).isoformat() if due else None,
                "overdue": due is not None and due <= now,
            }
        )
    return queue
