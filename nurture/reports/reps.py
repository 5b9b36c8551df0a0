"""How sales keeps the SLA, overall and rep by rep.

Handoffs: those assigned in the period. An *answer* is a rep's accept, reject, conversion or
disqualification; a handoff that ran out of time (reassigned or escalated) was not answered and counts
as a breach, never as an answer. Clock: hours to answer are working hours of the rep holding the
handoff, as the SLA counts them (``accept_within: 4h`` means four of the rep's working hours).
In time: answered by the handoff's due time. A rep's SALs are the leads whose handoff they accepted;
their conversion is the share of those that reached SQL (or later) and customer.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from nurture.definitions import SalesTeam
from nurture.reports.clocks import RepHours, working_hours_between
from nurture.reports.journeys import Journey
from nurture.reports.owners import holder
from nurture.reports.rows import FUNNEL, Handoff
from nurture.reports.stats import median, rounded, share

ANSWERS = ("accepted", "rejected", "converted", "disqualified")
BREACHES = ("reassigned", "escalated")
MANAGER = "(manager)"


@dataclass
class RepFigures:
    rep: str
    handoffs: int = 0
    accepted_in_time: int = 0
    accepted_late: int = 0
    breached: int = 0
    rejected: int = 0
    pending: int = 0
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    median_hours_to_answer: float | None = None
    sals: int = 0
    sqls: int = 0
    customers: int = 0
    sal_to_sql: float | None = None
    sal_to_customer: float | None = None


@dataclass
class SlaFigures:
    handoffs: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    accepted_in_time: int = 0
    accepted_late: int = 0
    breaches: int = 0
    median_hours_to_answer: float | None = None  # working hours
    by_rep: list[RepFigures] = field(default_factory=list)


def _in_period(at: datetime, since: datetime | None, until: datetime | None) -> bool:
    return (since is None or at >= since) and (until is None or at < until)


def sla_figures(
    handoffs: Sequence[Handoff],
    journeys: Mapping[int, Journey],
    hours: RepHours,
    since: datetime | None,
    until: datetime | None,
    teams: Mapping[str, SalesTeam] | None = None,
) -> SlaFigures:
    """The SLA's figures over the handoffs assigned in the period, in all and by holder: a rep, or
    a team's manager by their owner id (``teams`` name them), each in their own working hours."""
    teams = teams or {}
    chosen = [h for h in handoffs if _in_period(h.assigned_at, since, until)]
    total = _figures(MANAGER, chosen, journeys, hours, teams)
    per_rep: dict[str, list[Handoff]] = defaultdict(list)
    for handoff in chosen:
        per_rep[holder(handoff, teams)].append(handoff)
    return SlaFigures(
        handoffs=total.handoffs,
        by_status=dict(sorted(Counter(h.status for h in chosen).items())),
        accepted_in_time=total.accepted_in_time,
        accepted_late=total.accepted_late,
        breaches=total.breached,
        median_hours_to_answer=total.median_hours_to_answer,
        by_rep=[_figures(rep, per_rep[rep], journeys, hours, teams) for rep in sorted(per_rep)],
    )


def _figures(
    rep: str,
    handoffs: Sequence[Handoff],
    journeys: Mapping[int, Journey],
    hours: RepHours,
    teams: Mapping[str, SalesTeam],
) -> RepFigures:
    figures = RepFigures(rep, handoffs=len(handoffs))
    answered: list[float] = []
    reasons: Counter[str] = Counter()
    sals: set[int] = set()
    for h in handoffs:
        if h.status in BREACHES:
            figures.breached += 1
        elif h.status == "pending":
            figures.pending += 1
        elif h.status in ANSWERS and h.responded_at is not None:
            answered.append(working_hours_between(hours, holder(h, teams), h.assigned_at, h.responded_at))
            if h.status in ("accepted", "converted"):
                in_time = h.accept_due_at is None or h.responded_at <= h.accept_due_at
                figures.accepted_in_time += in_time
                figures.accepted_late += not in_time
                sals.add(h.lead_id)
            elif h.status == "rejected":
                figures.rejected += 1
                reasons[h.reason or "(none)"] += 1
    figures.rejected_by_reason = dict(reasons.most_common())
    figures.median_hours_to_answer = rounded(median(answered))
    reached = [journeys[lead] for lead in sals if lead in journeys]
    figures.sals = len(sals)
    figures.sqls = sum(1 for j in reached if j.top >= FUNNEL.index("sql"))
    figures.customers = sum(1 for j in reached if j.top >= FUNNEL.index("customer"))
    figures.sal_to_sql = rounded(share(figures.sqls, figures.sals), 4)
    figures.sal_to_customer = rounded(share(figures.customers, figures.sals), 4)
    return figures
