"""Hand-made rows for the report's pure figures: a lead and its stage moves in a line each."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from nurture.reports.journeys import Journey, journey
from nurture.reports.rows import Lead, StageChange

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def moves(lead_id: int, *path: tuple[str, float], deals: dict[str, Any] | None = None) -> list[StageChange]:
    """The stage changes of ``(stage, day)`` moves; ``deals``: ``deal_STAGE`` -> (amount, currency)."""
    changes = []
    previous = None
    for stage, at in path:
        deal = (deals or {}).get(f"deal_{stage}", (None, None))
        changes.append(StageChange(lead_id, previous, stage, day(at), "t", *deal))
        previous = stage
    return changes


def walk(lead_id: int, *path: tuple[str, float], created: float = 0, **fields: Any) -> Journey:
    """A journey through ``(stage, day)`` moves; the first is its creation stage."""
    deals = {key: fields.pop(key) for key in list(fields) if key.startswith("deal_")}
    changes = moves(lead_id, *path, deals=deals)
    stage = changes[-1].to_stage if changes else "lead"
    lead = Lead(lead_id, f"lead{lead_id}@example.com", day(created), stage, **fields)
    return journey(lead, changes)
