"""Hand-made rows for the report's pure figures: a lead and its stage moves in a line each."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import numpy as np

from nurture.reports.handoffs import Handoffs, handoffs_from_rows
from nurture.reports.journeys import Journeys, journeys_from_rows
from nurture.reports.rows import Handoff, Lead, StageChange, Touch
from nurture.reports.touch_columns import Touches, touches_from_rows

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


class Walk(NamedTuple):
    lead: Lead
    changes: list[StageChange]


def walk(lead_id: int, *path: tuple[str, float], created: float = 0, **fields: Any) -> Walk:
    """A lead's walk through ``(stage, day)`` moves; the first is its creation stage."""
    deals = {key: fields.pop(key) for key in list(fields) if key.startswith("deal_")}
    changes = moves(lead_id, *path, deals=deals)
    stage = changes[-1].to_stage if changes else "lead"
    return Walk(Lead(lead_id, f"lead{lead_id}@example.com", day(created), stage, **fields), changes)


def journeys_of(walks: Sequence[Walk]) -> Journeys:
    return journeys_from_rows([w.lead for w in walks], {w.lead.id: w.changes for w in walks})


def every(journeys: Journeys) -> np.ndarray:
    """The rows of all the journeys."""
    return np.arange(len(journeys))


def handoffs_of(handoffs: Sequence[Handoff], journeys: Journeys) -> Handoffs:
    return handoffs_from_rows(handoffs, {int(lead): row for row, lead in enumerate(journeys.lead_id)})


def touches_of(touches: dict[int, list[Touch]], journeys: Journeys) -> Touches:
    return touches_from_rows(touches, {int(lead): row for row, lead in enumerate(journeys.lead_id)})
