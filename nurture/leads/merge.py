"""Applying a file's row to a lead that exists already: only what the file says, nothing erased."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert

from nurture.leads.staged import FIELD_NAMES
from nurture.leads.validate import LeadValues
from nurture.store import bulk
from nurture.store.schema import stage_changes


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
    """Store merged rows (each with its lead id as ``b_id``) and the stage moves they make.

    The rows go to the driver as they are, one executemany: every batch of changed leads comes
    through here, and SQLAlchemy's per-parameter processing cost more than the UPDATE."""
    if changed:
        changed.sort(key=lambda row: row["b_id"])  # rows locked in id order, as scoring does
        instant = bulk.instants(conn)
        rows = [
            (
                *[row[name] for name in FIELD_NAMES],
                bulk.json_value(conn, row["attributes"]),
                instant(row["updated_at"]),
                row["b_id"],
            )
            for row in changed
        ]
        bulk.executemany_rows(conn, _UPDATE_LEAD, rows)
    if stage_moves:
        conn.execute(insert(stage_changes), stage_moves)


# Positional (bulk.executemany_rows): the names in the order of write_changes' tuples.
_UPDATE_LEAD = (
    f"UPDATE leads SET {', '.join(f'{name} = :{name}' for name in FIELD_NAMES)}, "  # noqa: S608 - column names only
    "attributes = :attributes, updated_at = :updated_at WHERE id = :b_id"
)
