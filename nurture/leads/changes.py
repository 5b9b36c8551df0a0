"""Changing a lead's fields and stage, with every stage move recorded (the funnel's source)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from nurture.store.schema import LIFECYCLE_STAGES, leads, stage_changes


def record_stage_change(
    conn: Connection,
    lead_id: int,
    old: str | None,
    new: str,
    *,
    at: datetime,
    actor: str,
    reason: str,
) -> None:
    conn.execute(
        stage_changes.insert().values(
            lead_id=lead_id, from_stage=old, to_stage=new, at=at, actor=actor, reason=reason
        )
    )


def record_deal(
    conn: Connection, lead_id: int, stage: str, at: datetime, amount: float, currency: str
) -> None:
    """Put the deal's value on the lead's move to ``stage`` at ``at`` (just recorded)."""
    c = stage_changes.c
    latest = conn.scalar(
        select(c.id)
        .where(c.lead_id == lead_id, c.to_stage == stage, c.at == at)
        .order_by(c.id.desc())
        .limit(1)
    )
    if latest is None:
        raise ValueError(f"lead {lead_id} has no move to {stage} at {at.isoformat()} to record a deal on")
    conn.execute(stage_changes.update().where(c.id == latest).values(amount=amount, currency=currency))


def change_lead(
    conn: Connection, lead_id: int, values: dict[str, Any], *, at: datetime, actor: str, reason: str
) -> dict[str, Any]:
    """Set standard fields, ``attributes.NAME`` values and the stage; returns what really changed."""
    current = conn.execute(select(leads).where(leads.c.id == lead_id)).one()._mapping
    updates: dict[str, Any] = {}
    attributes = dict(current["attributes"] or {})
    for name, value in values.items():
        if name.startswith("attributes."):
            key = name.removeprefix("attributes.")
            if attributes.get(key) != value:
                attributes[key] = value
                updates["attributes"] = attributes
        elif current[name] != value:
            if name == "lifecycle_stage" and value not in LIFECYCLE_STAGES:
                raise ValueError(f"{value!r} is not a lifecycle stage")
            updates[name] = value
    if not updates:
        return {}
    conn.execute(leads.update().where(leads.c.id == lead_id).values(**updates, updated_at=at))
    if "lifecycle_stage" in updates:
        record_stage_change(
            conn,
            lead_id,
            current["lifecycle_stage"],
            updates["lifecycle_stage"],
            at=at,
            actor=actor,
            reason=reason,
        )
    return updates
