"""A lead's way through the stages, read from its recorded stage changes, and the cohort it belongs to.

A journey keeps each stage's *first* arrival: a lead that went lead -> mql -> recycled -> mql counts
once as an MQL, at its first qualification, in whichever cohort it belongs to.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from nurture.reports.rows import FUNNEL, FUNNEL_RANK, History, Lead, StageChange


@dataclass(frozen=True, slots=True)
class Journey:
    lead: Lead
    stage: str  # the stage at the report's moment: the last recorded move's, else the lead's own
    first_at: dict[str, datetime]  # first arrival at each stage the lead was recorded at
    top: int  # the highest funnel rank reached (-1: never reached ``lead``)
    stage_since: datetime  # when the lead entered the stage it is at now
    # Per funnel rank, the first arrival at that stage or a later one (None: never got there).
    arrivals: tuple[datetime | None, ...]
    # What else the figures read from the moves, kept instead of the moves themselves (a million
    # leads move some ten million times): back to mql after the first recycling, and the latest
    # deal amount (amount, currency as recorded) recorded with opportunity and with customer.
    requalified: bool = False
    opportunity_deal: tuple[float, str | None] | None = None
    customer_deal: tuple[float, str | None] | None = None

    @property
    def entered_at(self) -> datetime | None:
        """When the lead first reached the funnel (``lead`` or any later stage)."""
        return self.arrivals[0]

    def reached(self, stage: str) -> bool:
        """This stage or a later one: a lead that skipped a stage has passed it all the same."""
        return self.top >= FUNNEL_RANK[stage]

    def arrived(self, stage: str) -> datetime | None:
        """When the lead reached this stage or a later one, whichever came first."""
        return self.arrivals[FUNNEL_RANK[stage]]

    def recorded(self, stage: str) -> bool:
        return stage in self.first_at


def journey(lead: Lead, changes: Iterable[StageChange]) -> Journey:
    """The journey of one lead; a lead without recorded changes sits at its stage since creation.

    One pass over the changes (a million leads move some ten million times): each stage's first
    arrival, the move into today's stage and the latest deal amounts are taken as they pass."""
    ordered = changes if isinstance(changes, (list, tuple)) else tuple(changes)
    created = lead.created_at
    first_at: dict[str, datetime] = {}
    opportunity_deal: tuple[float, str | None] | None = None
    customer_deal: tuple[float, str | None] | None = None
    if not ordered:
        first_at[lead.stage] = created
        stage, since = lead.stage, created
    else:
        first = ordered[0]
        if first.from_stage:
            first_at[first.from_stage] = min(first.at, created)
        # The lead row holds today's stage; a report pinned to an earlier moment reads it from the moves.
        stage, since = ordered[-1].to_stage, created
        for change in ordered:
            to_stage, at = change.to_stage, change.at
            if to_stage not in first_at:
                first_at[to_stage] = at
            if to_stage == stage and change.from_stage != stage:
                since = at
            if change.amount is not None:
                if to_stage == "opportunity":
                    opportunity_deal = (change.amount, change.currency)
                elif to_stage == "customer":
                    customer_deal = (change.amount, change.currency)
    recycled_at = first_at.get("recycled")
    requalified = recycled_at is not None and any(c.to_stage == "mql" and c.at > recycled_at for c in ordered)
    top, arrivals = _arrivals(first_at)
    return Journey(lead, stage, first_at, top, since, arrivals, requalified, opportunity_deal, customer_deal)


def _arrivals(first_at: dict[str, datetime]) -> tuple[int, tuple[datetime | None, ...]]:
    """The highest funnel rank recorded, and per rank the first arrival there or later."""
    top = -1
    for recorded in first_at:
        rank = FUNNEL_RANK.get(recorded, -1)
        if rank > top:
            top = rank
    arrivals: list[datetime | None] = [None] * len(FUNNEL)
    earliest: datetime | None = None
    for rank in range(len(FUNNEL) - 1, -1, -1):  # from customer down: "this stage or a later one"
        at = first_at.get(FUNNEL[rank])
        if at is not None and (earliest is None or at < earliest):
            earliest = at
        arrivals[rank] = earliest
    return top, tuple(arrivals)



def journeys(history: History) -> list[Journey]:
    """Every lead's journey: those built as the history was read, else from its stage changes."""
    if history.journeys is not None:
        return history.journeys
    return [journey(lead, history.changes.get(lead.id, ())) for lead in history.leads.values()]


def in_cohort(
    journey: Journey, since: datetime | None, until: datetime | None, *, by_entry: bool = False
) -> bool:
    """Whether the lead was created (``by_entry``: first reached the funnel) in ``[since, until)``."""
    at = journey.entered_at if by_entry else journey.lead.created_at
    if at is None:
        return False
    return (since is None or at >= since) and (until is None or at < until)


def cohort(
    all_journeys: Iterable[Journey], since: datetime | None, until: datetime | None, *, by_entry: bool = False
) -> list[Journey]:
    return [j for j in all_journeys if in_cohort(j, since, until, by_entry=by_entry)]
