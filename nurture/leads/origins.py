"""Where a lead comes from: its number in the system it was kept in, and when it began there.

A file (or API item) brought from a CRM or another tool may say ``external_id`` and
``created_at``. They are applied after the lead is written, in the same transaction:

- ``created_at`` moves the lead's start back to that moment (never forward: a lead cannot begin
  after it was first recorded), and for a lead created by this row its first stage too, so
  cohorts count it when it began;
- ``external_id`` is unique in the workspace: it is set on a lead that has none; one that
  another lead holds, or that differs from the lead's own, is left out and reported (the row is
  stored without it), never a reason to lose the row.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import Connection, select

from nurture.store import bulk
from nurture.store.schema import leads

_CHUNK = 500


class Origin(NamedTuple):
    row: int  # the row (or item) that says it, for the report
    lead_id: int
    external_id: str | None
    created_at: datetime | None


def apply_origins(
    conn: Connection, origins: Sequence[Origin], created: set[int], now: datetime
) -> list[tuple[int, str, str]]:
    """Apply what the rows say; the (row, column, reason) of each value left out."""
    problems: list[tuple[int, str, str]] = []
    starts = []
    for origin in origins:
        if origin.created_at is None:
            continue
        if origin.created_at > now:
            problems.append((origin.row, "created_at", f"{origin.created_at.isoformat()} is in the future"))
            continue
        starts.append({"lead": origin.lead_id, "at": bulk.instant(conn, origin.created_at)})
    if starts:
        bulk.executemany(
            conn, "UPDATE leads SET created_at = :at WHERE id = :lead AND created_at > :at", starts
        )
        first_stages = [s for s in starts if s["lead"] in created]
        if first_stages:
            bulk.executemany(
                conn,
                "UPDATE stage_changes SET at = :at WHERE lead_id = :lead AND from_stage IS NULL AND at > :at",
                first_stages,
            )
    problems += _external_ids(conn, [o for o in origins if o.external_id is not None])
    return problems


def _external_ids(conn: Connection, origins: Sequence[Origin]) -> list[tuple[int, str, str]]:
    if not origins:
        return []
    wanted = sorted({o.external_id for o in origins if o.external_id is not None})
    holders: dict[str, int] = {}
    for start in range(0, len(wanted), _CHUNK):
        query = select(leads.c.external_id, leads.c.id).where(
            leads.c.external_id.in_(wanted[start : start + _CHUNK])
        )
        holders.update((str(x), int(i)) for x, i in conn.execute(query))
    ids = sorted({o.lead_id for o in origins})
    own: dict[int, str | None] = {}
    for start in range(0, len(ids), _CHUNK):
        query = select(leads.c.id, leads.c.external_id).where(leads.c.id.in_(ids[start : start + _CHUNK]))
        own.update((int(i), x) for i, x in conn.execute(query))
    problems: list[tuple[int, str, str]] = []
    setting: list[dict[str, object]] = []
    for origin in origins:
        external_id = origin.external_id
        assert external_id is not None
        holder = holders.get(external_id)
        if holder is not None and holder != origin.lead_id:
            problems.append((origin.row, "external_id", f"{external_id!r} belongs to another lead"))
            continue
        current = own.get(origin.lead_id)
        if current is not None and current != external_id:
            problems.append((origin.row, "external_id", f"the lead has external_id {current!r} already"))
            continue
        if current is None:
            holders[external_id] = origin.lead_id
            own[origin.lead_id] = external_id
            setting.append({"lead": origin.lead_id, "external_id": external_id})
    if setting:
        bulk.executemany(conn, "UPDATE leads SET external_id = :external_id WHERE id = :lead", setting)
    return problems
