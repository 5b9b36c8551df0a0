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

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from nurture.reports.journeys import Journey
from nurture.reports.rows import FUNNEL, Handoff
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


def stage_days(journey: Journey, stage: str) -> float | None:
    """Days from the latest earlier recorded stage to this stage's first arrival; None if skipped."""
    arrived = journey.first_at.get(stage)
    if arrived is None:
        return None
    earlier = [at for s in FUNNEL[: FUNNEL.index(stage)] if (at := journey.first_at.get(s)) and at <= arrived]
    return (arrived - max(earlier)).total_seconds() / _DAY if earlier else None


def waterfall(leads: Sequence[Journey]) -> Waterfall:
    """Per stage of the funnel: reached, rate, median and 90th percentile days, still open, skipped."""
    stages: list[StageFigures] = []
    previous = len(leads)
    for rank, stage in enumerate(FUNNEL):
        reached = [j for j in leads if j.top >= rank]
        days = [d for j in reached if (d := stage_days(j, stage)) is not None]
        nxt = rank + 1
        stages.append(
            StageFigures(
                stage=stage,
                reached=len(reached),
                rate=rounded(share(len(reached), previous), 4),
                median_days=rounded(median(days)),
                p90_days=rounded(percentile(days, 0.9)),
                still_open=sum(1 for j in reached if j.stage == stage),
                skipped=sum(1 for j in reached if not j.recorded(stage)),
                lost=sum(1 for j in reached if j.top < nxt and j.stage != stage) if nxt < len(FUNNEL) else 0,
            )
        )
        previous = len(reached)
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
