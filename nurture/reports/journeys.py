"""Every lead's way through the stages, read from its recorded stage changes, as columns.

A journey keeps each stage's *first* arrival: a lead that went lead -> mql -> recycled -> mql counts
once as an MQL, at its first qualification, in whichever cohort it belongs to.

A million leads move some ten million times, so journeys are numpy columns (one row per lead, in
ascending lead id) built from the changes as arrays, never an object per lead or per move. Instants
are int64 microseconds since 1970-01-01 UTC (:mod:`nurture.reports.instants`); a stage never
reached has :data:`NEVER`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property

import numpy as np

from nurture.reports.instants import NEVER, days, micros
from nurture.reports.rows import FUNNEL, SIDE_STAGES, Lead, StageChange

STAGES = ("subscriber", *FUNNEL, *SIDE_STAGES)
"""Every stage a lead can be at; a stage's code is its position here."""

STAGE_CODE = {stage: code for code, stage in enumerate(STAGES)}
FUNNEL_CODES = np.array([STAGE_CODE[stage] for stage in FUNNEL], dtype=np.int64)
# A stage code's funnel rank (-1: outside the funnel), looked up for whole columns at once.
RANK_OF_CODE = np.array([FUNNEL.index(s) if s in FUNNEL else -1 for s in STAGES], dtype=np.int8)
MQL, RECYCLED, DISQUALIFIED = STAGE_CODE["mql"], STAGE_CODE["recycled"], STAGE_CODE["disqualified"]
OPPORTUNITY, CUSTOMER = STAGE_CODE["opportunity"], STAGE_CODE["customer"]


def stage_code(stage: str | None) -> int:
    """A stage's code; -1 for none or a stage this version does not know."""
    return STAGE_CODE.get(stage, -1) if stage is not None else -1


@dataclass(frozen=True)
class Changes:
    """Stage changes as columns, in lead, time and id order: ``lead`` is the lead's row in the
    journeys (not its id); ``from_stage`` is -1 for a lead's first recorded stage."""

    lead: np.ndarray  # int64 rows
    from_stage: np.ndarray  # int8 codes
    to_stage: np.ndarray  # int8 codes
    at: np.ndarray  # int64 µs


@dataclass(frozen=True)
class Deals:
    """Amounts recorded with moves to opportunity or customer, in time order (the latest of a
    lead's wins), as columns."""

    lead: list[int]  # the lead's row
    stage: list[int]  # OPPORTUNITY or CUSTOMER
    amount: list[float]
    currency: list[str | None]


@dataclass(frozen=True)
class Journeys:
    """One row per lead (ascending id): what the figures read of each lead's stage changes."""

    lead_id: np.ndarray  # int64
    created: np.ndarray  # int64 µs
    stage: np.ndarray  # int8 code of the stage at the report's moment (last move's, else the row's)
    since: np.ndarray  # int64 µs: when the lead entered the stage it is at now
    first_at: np.ndarray  # (leads, STAGES) int64 µs: first arrival at each stage, NEVER if none
    arrivals: np.ndarray  # (leads, FUNNEL) int64 µs: first arrival at this funnel stage or later
    top: np.ndarray  # int8: highest funnel rank recorded (-1: never reached ``lead``)
    requalified: np.ndarray  # bool: back to mql after the first recycling
    # The latest amount recorded with a move to opportunity and to customer, by lead row.
    opportunity_deals: Mapping[int, tuple[float, str | None]]
    customer_deals: Mapping[int, tuple[float, str | None]]

    def __len__(self) -> int:
        return len(self.lead_id)

    @property
    def entered_at(self) -> np.ndarray:
        """When each lead first reached the funnel (``lead`` or any later stage)."""
        return self.arrivals[:, 0]

    def recorded(self, stage: str) -> np.ndarray:
        found: np.ndarray = self.first_at[:, STAGE_CODE[stage]] != NEVER
        return found

    @cached_property
    def stage_days(self) -> np.ndarray:
        """(leads, FUNNEL) float64: the days each lead took to reach each funnel stage it was
        recorded at, from the first arrival at the latest earlier stage it was recorded at (no
        later than this one); NaN where there is none. Worked out once for every waterfall (the
        cohort's, all leads', each breakdown group's)."""
        # Column by column, each made contiguous (a row's stages are neighbours in memory): half
        # the time of a maximum along rows of the strided earlier columns.
        funnel = [np.ascontiguousarray(self.first_at[:, code]) for code in FUNNEL_CODES]
        found = np.full((len(self), len(FUNNEL)), np.nan)
        lowest = np.iinfo(np.int64).min
        for rank in range(1, len(FUNNEL)):
            arrived = funnel[rank]
            latest = np.full(len(arrived), lowest)
            for earlier in funnel[:rank]:  # a stage never reached (NEVER) is after any arrival
                np.maximum(latest, np.where(earlier <= arrived, earlier, lowest), out=latest)
            measured = (arrived != NEVER) & (latest != lowest)
            found[measured, rank] = days(arrived[measured] - latest[measured])
        return found


def build_journeys(
    lead_id: np.ndarray, created: np.ndarray, row_stage: np.ndarray, changes: Changes, deals: Deals
) -> Journeys:
    """The journeys of leads (ascending ``lead_id``) from their changes, all leads at once.

    The same rules as reading each lead's moves in order: a stage's first arrival is the earliest
    move into it; the stage a lead's first move left counts as reached at that move or at the
    lead's creation, whichever came first; a lead without moves sits at its row's stage since its
    creation; today's stage is the last move's, entered at the last move into it from elsewhere."""
    n = len(lead_id)
    lead, old, new, at = (
        changes.lead,
        changes.from_stage.astype(np.int64),
        changes.to_stage.astype(np.int64),
        changes.at,
    )
    first_at = np.full((n, len(STAGES)), NEVER, dtype=np.int64)
    known = new >= 0
    np.minimum.at(first_at, (lead[known], new[known]), at[known])
    moved = np.zeros(n, dtype=bool)
    stage = row_stage.astype(np.int8).copy()
    since = created.copy()
    if len(lead):
        starts = np.flatnonzero(np.r_[True, lead[1:] != lead[:-1]])
        ends = np.r_[starts[1:], len(lead)] - 1
        moved[lead[starts]] = True
        left = old[starts]
        rows = lead[starts][left >= 0]
        left = left[left >= 0]
        earliest = np.minimum(at[starts][old[starts] >= 0], created[rows])
        first_at[rows, left] = np.minimum(first_at[rows, left], earliest)
        stage[lead[ends]] = new[ends]
        now_stage = stage.astype(np.int64)[lead]
        entering = (new == now_stage) & (old != now_stage)
        latest = np.full(n, np.iinfo(np.int64).min, dtype=np.int64)
        np.maximum.at(latest, lead[entering], at[entering])
        since = np.where(latest != np.iinfo(np.int64).min, latest, created)
    unmoved = np.flatnonzero(~moved)
    at_stage = row_stage.astype(np.int64)[unmoved]
    ok = at_stage >= 0
    first_at[unmoved[ok], at_stage[ok]] = created[unmoved[ok]]
    recycled = first_at[:, RECYCLED]
    last_mql = np.full(n, np.iinfo(np.int64).min, dtype=np.int64)
    to_mql = new == MQL
    np.maximum.at(last_mql, lead[to_mql], at[to_mql])
    requalified = (recycled != NEVER) & (last_mql > recycled)
    funnel = first_at[:, FUNNEL_CODES]
    arrivals = np.minimum.accumulate(funnel[:, ::-1], axis=1)[:, ::-1]  # "this stage or a later one"
    reached = funnel != NEVER
    top = np.where(reached.any(axis=1), len(FUNNEL) - 1 - np.argmax(reached[:, ::-1], axis=1), -1).astype(
        np.int8
    )
    opportunity, customer = _deal_amounts(deals)
    return Journeys(
        lead_id, created, stage, since, first_at, arrivals, top, requalified, opportunity, customer
    )


NO_DEALS = Deals([], [], [], [])

Amounts = dict[int, tuple[float, str | None]]


def _deal_amounts(deals: Deals) -> tuple[Amounts, Amounts]:
    """The latest amount recorded with a move to opportunity and to customer, by lead row."""
    opportunity: Amounts = {}
    customer: Amounts = {}
    for row, stage_at, amount, currency in zip(
        deals.lead, deals.stage, deals.amount, deals.currency, strict=True
    ):
        (customer if stage_at == CUSTOMER else opportunity)[row] = (amount, currency)  # the latest stays
    return opportunity, customer


def joined(parts: Sequence[Journeys], deals: Deals) -> Journeys:
    """The journeys of consecutive blocks of leads (each built without deals; at least one) as
    one, with the amounts of ``deals`` (rows of the whole)."""
    opportunity, customer = _deal_amounts(deals)

    def whole(name: str) -> np.ndarray:
        return np.concatenate([getattr(part, name) for part in parts])

    return Journeys(
        whole("lead_id"), whole("created"), whole("stage"), whole("since"), whole("first_at"),
        whole("arrivals"), whole("top"), whole("requalified"), opportunity, customer,
    )  # fmt: skip


def journeys_from_rows(leads: Iterable[Lead], changes: Mapping[int, Sequence[StageChange]]) -> Journeys:
    """:func:`build_journeys` of plain rows (hand-made histories, tests): ``leads`` in any order,
    ``changes`` per lead id in time order."""
    ordered = sorted(leads, key=lambda lead: lead.id)
    lead_id = np.array([lead.id for lead in ordered], dtype=np.int64)
    created = np.array([micros(lead.created_at) for lead in ordered], dtype=np.int64)
    row_stage = np.array([stage_code(lead.stage) for lead in ordered], dtype=np.int8)
    moves = [(row, c) for row, lead in enumerate(ordered) for c in changes.get(lead.id, ())]
    found = Changes(
        np.array([row for row, _ in moves], dtype=np.int64),
        np.array([stage_code(c.from_stage) for _, c in moves], dtype=np.int8),
        np.array([stage_code(c.to_stage) for _, c in moves], dtype=np.int8),
        np.array([micros(c.at) for _, c in moves], dtype=np.int64),
    )
    recorded = [
        (row, c) for row, c in moves if c.amount is not None and c.to_stage in ("opportunity", "customer")
    ]
    deals = Deals(
        [row for row, _ in recorded],
        [stage_code(c.to_stage) for _, c in recorded],
        [c.amount for _, c in recorded if c.amount is not None],
        [c.currency for _, c in recorded],
    )
    return build_journeys(lead_id, created, row_stage, found, deals)


def cohort(
    journeys: Journeys, since: datetime | None, until: datetime | None, *, by_entry: bool = False
) -> np.ndarray:
    """The rows of the leads created (``by_entry``: that first reached the funnel) in ``[since, until)``."""
    at = journeys.entered_at if by_entry else journeys.created
    keep = at != NEVER
    if since is not None:
        keep &= at >= micros(since)
    if until is not None:
        keep &= at < micros(until)
    return np.flatnonzero(keep)
