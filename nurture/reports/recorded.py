"""The recorded history as every figure reads it: columns, whether read from the database
(:mod:`nurture.reports.queries`) or made from plain rows (hand-made histories)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property

from nurture.reports.balance import Moves, stage_moves
from nurture.reports.campaigns import Entries, entries
from nurture.reports.handoffs import Handoffs, handoffs_from_rows
from nurture.reports.journeys import Journeys, journeys_from_rows
from nurture.reports.lead_facts import LeadFacts, RowFacts
from nurture.reports.rows import Cost, History
from nurture.reports.touch_columns import Touches, touches_from_rows


@dataclass
class Recorded:
    journeys: Journeys  # every lead created by the report's moment
    handoffs: Handoffs
    # The touches of the leads that converted, up to their latest conversion, asked for when a
    # figure first needs them: the report works out the figures that need none while the touches
    # are still read beside.
    read_touches: Callable[[], Touches]
    moves: Moves  # the stage balance's moves per period
    entered: Entries  # enrollments entered in the period
    facts: LeadFacts
    costs: list[Cost] = field(default_factory=list)

    @cached_property
    def touches(self) -> Touches:
        return self.read_touches()


def recorded_from_rows(
    history: History, until: datetime, every: str, since: datetime | None, period_end: datetime | None
) -> Recorded:
    """The columns of plain rows: ``until`` ends the balance's moves, ``since`` and
    ``period_end`` bound the enrollments counted."""
    journeys = journeys_from_rows(history.leads.values(), history.changes)
    rows = {int(lead_id): row for row, lead_id in enumerate(journeys.lead_id.tolist())}
    return Recorded(
        journeys=journeys,
        handoffs=handoffs_from_rows(history.handoffs, rows),
        read_touches=lambda: touches_from_rows(history.touches, rows),
        moves=stage_moves((c for changes in history.changes.values() for c in changes), until, every),
        entered=entries(history.enrollments, since, period_end),
        facts=RowFacts(history.leads.values(), history.enrollments),
        costs=history.costs,
    )
