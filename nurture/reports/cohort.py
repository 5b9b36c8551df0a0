"""The cohort waterfall: how far the leads of one cohort got, and how long each step took.

Cohort: leads created in the period (or, ``by_entry``, that first reached the funnel in it), followed
up to the report's moment. Denominators: a stage's ``rate`` is the share of the previous stage's
``reached`` (the first stage's, of the cohort), so it can never pass 1: ``reached`` counts leads at
this stage *or a later one*, and a lead converted straight from lead to customer has passed every
stage in between. Those leads are also counted in ``skipped``, apart, because they have no time at
the stages they skipped. Clock: wall-clock days, from the first arrival at the latest earlier stage
the lead was recorded at, to its first arrival at this stage (leads that skipped it are left out).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from nurture.reports.handoffs import Handoffs
from nurture.reports.instants import NEVER
from nurture.reports.journeys import DISQUALIFIED, FUNNEL_CODES, RANK_OF_CODE, RECYCLED, STAGE_CODE, Journeys
from nurture.reports.rows import FUNNEL
from nurture.reports.stats import quantiles, rounded, share


@dataclass(frozen=True)
class StageFigures:
    stage: str
    reached: int  # cohort leads at this stage or a later one, ever
    rate: float | None  # reached / the previous stage's reached (the first stage: / cohort)
    median_days: float | None  # from the previous stage, over leads recorded at this stage
    p90_days: float | None
    still_open: int  # cohort leads at this stage now
    skipped: int  # counted in reached without ever being recorded at this stage
    lost: int  # reached this stage, not the next one, and no longer here (recycled, disqualified)


@dataclass(frozen=True)
class Waterfall:
    cohort: int
    stages: list[StageFigures]

    @property
    def bottleneck(self) -> str | None:
        """The stage that loses the most leads (absolute number, so large stages weigh more)."""
        worst = max(self.stages[:-1], key=lambda s: s.lost, default=None)
        return worst.stage if worst is not None and worst.lost else None


def waterfall(journeys: Journeys, members: np.ndarray | None = None) -> Waterfall:
    """Per stage of the funnel: reached, rate, median and 90th percentile days, still open, skipped.

    ``members``: the rows of the leads to count (all when None). All leads at once, stage by stage.
    A stage's days run from the first arrival at the latest earlier stage the lead was recorded at
    (no later than this one) to its first arrival here."""
    # All leads: the columns themselves (views), not copies of them row by row; a group: its rows
    # first, then the funnel's columns of them (not the funnel's columns of every lead).
    rows: slice | np.ndarray = slice(None) if members is None else members
    size = len(FUNNEL)
    top = journeys.top[rows].astype(np.int64)
    funnel = journeys.first_at[rows][:, FUNNEL_CODES]
    spent_at = journeys.stage_days[rows]
    now_rank = RANK_OF_CODE[journeys.stage[rows].astype(np.int64)].astype(np.int64)
    in_funnel = top >= 0
    tops = np.bincount(top[in_funnel], minlength=size)
    still_open = np.bincount(now_rank[in_funnel & (now_rank >= 0) & (now_rank <= top)], minlength=size)
    stopped = in_funnel & (top < size - 1) & (now_rank != top)  # reached this stage, not the next, gone
    lost = np.bincount(top[stopped], minlength=size)
    reached = np.cumsum(tops[::-1])[::-1]  # at this stage or a later one
    stages: list[StageFigures] = []
    previous = len(top)
    for rank, stage in enumerate(FUNNEL):
        arrived = funnel[:, rank]
        passed = top >= rank
        skipped = int(np.count_nonzero(passed & (arrived == NEVER)))
        spent = spent_at[:, rank]
        spent = spent[~np.isnan(spent)]
        median_days, p90_days = quantiles(spent, 0.5, 0.9)
        stages.append(
            StageFigures(
                stage=stage,
                reached=int(reached[rank]),
                rate=rounded(share(int(reached[rank]), previous), 4),
                median_days=rounded(median_days),
                p90_days=rounded(p90_days),
                still_open=int(still_open[rank]),
                skipped=skipped,
                lost=int(lost[rank]),
            )
        )
        previous = int(reached[rank])
    return Waterfall(len(top), stages)


@dataclass
class Flows:
    """What became of the cohort's MQLs (SiriusDecisions' demand waterfall), each lead counted once.

    An MQL is a lead recorded at ``mql`` or handed to sales; leads that skipped MQL are not in it.

    ``accepted``: a rep accepted it (or sales moved it past SAL); ``rejected``: handed back at least
    once, ``rejected_by_reason`` counts each lead once per reason; ``breached``: at least one handoff
    ran out of time; ``recycled``: went back to nurture; ``requalified``: became an MQL again after
    being recycled; ``disqualified``: ruled out; ``waiting``: a handoff is pending now.
    """

    mqls: int = 0
    accepted: int = 0
    rejected: int = 0
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    breached: int = 0
    waiting: int = 0
    recycled: int = 0
    requalified: int = 0
    disqualified: int = 0


def flows(journeys: Journeys, members: np.ndarray, handoffs: Handoffs) -> Flows:
    """What became of the MQLs among ``members`` (rows of ``journeys``)."""
    statuses = handoffs.statuses_per_lead(len(journeys))[members]
    had = handoffs.status_bit
    has_handoff = statuses != 0
    mqls = journeys.first_at[members, STAGE_CODE["mql"]] != NEVER
    mqls |= has_handoff
    top = journeys.top[members]
    figures = Flows()
    figures.mqls = int(np.count_nonzero(mqls))
    accepted = (statuses & (had("accepted") | had("converted"))) != 0
    figures.accepted = int(np.count_nonzero(mqls & (accepted | (top >= FUNNEL.index("sal")))))
    figures.rejected = int(np.count_nonzero(mqls & ((statuses & had("rejected")) != 0)))
    figures.breached = int(
        np.count_nonzero(mqls & ((statuses & (had("reassigned") | had("escalated"))) != 0))
    )
    figures.waiting = int(np.count_nonzero(mqls & ((statuses & had("pending")) != 0)))
    figures.recycled = int(np.count_nonzero(mqls & (journeys.first_at[members, RECYCLED] != NEVER)))
    figures.requalified = int(np.count_nonzero(mqls & journeys.requalified[members]))
    figures.disqualified = int(np.count_nonzero(mqls & (journeys.first_at[members, DISQUALIFIED] != NEVER)))
    chosen = np.zeros(len(journeys), dtype=bool)
    chosen[members[mqls]] = True
    figures.rejected_by_reason = handoffs.rejected_by_reason(chosen)
    return figures
