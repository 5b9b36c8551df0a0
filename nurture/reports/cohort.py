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

import itertools
from array import array
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from nurture.reports.journeys import Journey
from nurture.reports.rows import FUNNEL, FUNNEL_RANK, Handoff
from nurture.reports.stats import median, percentile, rounded, share

_DAY = 86_400.0


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


def waterfall(leads: Sequence[Journey]) -> Waterfall:
    """Per stage of the funnel: reached, rate, median and 90th percentile days, still open, skipped.

    One pass over the leads, each counted into every stage it reached (a breakdown calls this once
    per group, so a pass per stage would read every lead six times); the days are kept as plain
    doubles. A stage's days run from the first arrival at the latest earlier stage the lead was
    recorded at (no later than this one) to its first arrival here."""
    size = len(FUNNEL)
    tops, still_open, skipped, lost = [0] * size, [0] * size, [0] * size, [0] * size
    days = [array("d") for _ in FUNNEL]
    for j in leads:
        top = j.top
        if top < 0:
            continue
        tops[top] += 1
        first_at, now_at = j.first_at, j.stage
        now_rank = FUNNEL_RANK.get(now_at, -1)
        if 0 <= now_rank <= top:  # at a stage of the funnel it reached (not recycled, say)
            still_open[now_rank] += 1
        recorded: list[datetime] = []  # the arrivals at the earlier stages the lead was recorded at
        for rank in range(top + 1):
            arrived = first_at.get(FUNNEL[rank])
            if arrived is None:
                skipped[rank] += 1
                continue
            latest = None  # the latest earlier arrival, no later than this one
            for at in recorded:
                if at <= arrived and (latest is None or at > latest):
                    latest = at
            if latest is not None:
                days[rank].append((arrived - latest).total_seconds() / _DAY)
            recorded.append(arrived)
        if top < size - 1 and now_at != FUNNEL[top]:
            lost[top] += 1  # reached this stage, not the next one, and no longer here
    reached = list(itertools.accumulate(reversed(tops)))[::-1]  # at this stage or a later one
    stages: list[StageFigures] = []
    previous = len(leads)
    for rank, stage in enumerate(FUNNEL):
        stages.append(
            StageFigures(
                stage=stage,
                reached=reached[rank],
                rate=rounded(share(reached[rank], previous), 4),
                median_days=rounded(median(days[rank])),
                p90_days=rounded(percentile(days[rank], 0.9)),
                still_open=still_open[rank],
                skipped=skipped[rank],
                lost=lost[rank],
            )
        )
        previous = reached[rank]
    return Waterfall(len(leads), stages)


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


def flows(leads: Sequence[Journey], handoffs: Sequence[Handoff]) -> Flows:
    by_lead: dict[int, list[Handoff]] = {}
    for handoff in handoffs:
        by_lead.setdefault(handoff.lead_id, []).append(handoff)
    figures = Flows()
    reasons: Counter[str] = Counter()
    for j in leads:
        own = by_lead.get(j.lead.id, [])
        if not (j.recorded("mql") or own):
            continue
        figures.mqls += 1
        statuses = {h.status for h in own}
        figures.accepted += bool(statuses & {"accepted", "converted"}) or j.top >= FUNNEL.index("sal")
        figures.rejected += "rejected" in statuses
        reasons.update({(h.reason or "(none)") for h in own if h.status == "rejected"})
        figures.breached += bool(statuses & {"reassigned", "escalated"})
        figures.waiting += "pending" in statuses
        figures.recycled += "recycled" in j.first_at
        figures.requalified += j.requalified
        figures.disqualified += "disqualified" in j.first_at
    figures.rejected_by_reason = dict(reasons.most_common())
    return figures
