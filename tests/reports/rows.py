"""Hand-made rows for the report's pure figures: a lead and its stage moves in a line each."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from nurture.reports.journeys import Journey, journey
from nurture.reports.rows import Lead, StageChange

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def walk(lead_id: int, *path: tuple[str, float], created: float = 0, **fields: Any) -> Journey:
    """A journey through ``(stage, day)`` moves; the first is its creation stage."""
    changes = []
    previous = None
    for stage, at in path:
        changes.append(
            StageChange(lead_id, previous, stage, day(at), "t", *fields.pop(f"deal_{stage}", (None, None)))
        )
        previous = stage
    lead = Lead(lead_id, f"lead{lead_id}@example.com", day(created), previous or "lead", **fields)
    return journey(lead, changes)
