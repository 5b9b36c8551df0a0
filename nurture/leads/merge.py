"""Applying a file's row to a lead that exists already: only what the file says, nothing erased."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, insert, update

from nurture.leads.staged import FIELD_NAMES
from nurture.leads.validate import LeadValues
from nurture.store.schema import leads, stage_changes


def merge(current: Any, lead: LeadValues, now: datetime) -> dict[str, Any] | None:
    """The full row after applying the file's values, or None when nothing would change.

    ``current`` maps the standard fields and ``attributes`` (a dict) to the stored values.
    """
    fields = {name: current[name] for name in FIELD_NAMES}
    attributes = dict(current["attributes"] or {})
    before = (dict(fields), dict(attributes))
    fields.update(lead.fields)
    attributes.update(lead.attributes)
    if (fields, attributes) == before:
        return None
    return {**fields, "attributes": attributes, "updated_at": now}


def stage_move(
    lead_id: int, old: str | None, new: str, now: datetime, source: str, actor: str = "import"
) -> dict[str, Any]:
    return {
        "lead_id": lead_id,
        "from_stage": old,
        "to_stage": new,
        "at": now,
        "reason": source,
        "actor": actor,
    }


def write_changes(conn: Connection, changed: list[dict[str, Any]], stage_moves: list[dict[str, Any]]) -> None:
    """Store merged rows (each with its lead id as ``b_id``) and the stage moves they make."""
    if changed:
        changed.sort(key=lambda row: row["b_id"])  # rows locked in id order, as scoring does
        columns: dict[str, Any] = {
            name: bindparam(name) for name in (*FIELD_NAMES, "attributes", "updated_at")
        }
        conn.execute(update(leads).where(leads.c.id == bindparam("b_id")).values(columns), changed)
    if stage_moves:
        conn.execute(insert(stage_changes), stage_moves)
