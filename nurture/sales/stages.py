"""Moving leads through the waterfall; the campaigns a new stage makes them leave end at once
(:func:`nurture.engine.exits.end_exited_enrollments`, run by what follows a stage change)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from nurture.facts import WhatFollows
from nurture.leads.changes import record_stage_change
from nurture.store.schema import leads

WATERFALL = ("subscriber", "lead", "mql", "sal", "sql", "opportunity", "customer")


def waterfall_rank(stage: str) -> int:
    """Position in the waterfall; a recycled lead is back at ``lead``'s level."""
    return WATERFALL.index("lead" if stage == "recycled" else stage)


def move_stage(
    conn: Connection,
    lifecycle: WhatFollows,
    lead_id: int,
    old: str,
    new: str,
    *,
    actor: str,
    reason: str,
    now: datetime,
) -> None:
    """Set the stage, record the move with actor and reason, and tell what follows (campaigns end)."""
    conn.execute(leads.update().where(leads.c.id == lead_id).values(lifecycle_stage=new, updated_at=now))
    record_stage_change(conn, lead_id, old, new, at=now, actor=actor[:200], reason=reason[:500])
    lifecycle.stage_changed(conn, [lead_id], now)
