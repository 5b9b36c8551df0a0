"""How sales keeps the SLA, overall and rep by rep.

Handoffs: those assigned in the period. An *answer* is a rep's accept, reject, conversion or
disqualification; a handoff that ran out of time (reassigned or escalated) was not answered and counts
as a breach, never as an answer. Clock: hours to answer are working hours of the rep holding the
handoff, as the SLA counts them (``accept_within: 4h`` means four of the rep's working hours).
In time: answered by the handoff's due time. A rep's SALs are the leads whose handoff they accepted;
their conversion is the share of those that reached SQL (or later) and customer.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from nurture.definitions import SalesTeam
from nurture.reports.clocks import WorkingClock
from nurture.reports.handoffs import Handoffs
from nurture.reports.instants import NEVER, micros
from nurture.reports.journeys import Journeys
from nurture.reports.rows import FUNNEL
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


def sla_figures(
    handoffs: Handoffs,
    journeys: Journeys,
    clock: WorkingClock,
    since: datetime | None,
    until: datetime | None,
    teams: Mapping[str, SalesTeam] | None = None,
) -> SlaFigures:
    """The SLA's figures over the handoffs assigned in the period, in all and by holder: a rep, or
    a team's manager by their owner id (``teams`` name them), each in their own working hours."""
    chosen = np.ones(len(handoffs), dtype=bool)
    if since is not None:
        chosen &= handoffs.assigned >= micros(since)
    if until is not None:
        chosen &= handoffs.assigned < micros(until)
    holder, names = handoffs.holders(teams or {})
    hours = np.full(len(handoffs), np.nan)
    answered = chosen & handoffs.is_status(*ANSWERS) & (handoffs.responded != NEVER)
    for code, name in enumerate(names):
        own = answered & (holder == code)
        hours[own] = clock.hours_between(name, handoffs.assigned[own], handoffs.responded[own])
    total = _figures(MANAGER, chosen, handoffs, hours, journeys)
    statuses = Counter(handoffs.statuses.texts[code] for code in handoffs.status[chosen].tolist())
    return SlaFigures(
        handoffs=total.handoffs,
        by_status=dict(sorted(statuses.items())),
        accepted_in_time=total.accepted_in_time,
        accepted_late=total.accepted_late,
        breaches=total.breached,
        median_hours_to_answer=total.median_hours_to_answer,
        by_rep=[
            _figures(name, chosen & (holder == code), handoffs, hours, journeys)
            for code, name in sorted(enumerate(names), key=lambda item: item[1])
            if np.any(chosen & (holder == code))
        ],
    )


def _figures(
    rep: str, chosen: np.ndarray, handoffs: Handoffs, hours: np.ndarray, journeys: Journeys
) -> RepFigures:
    figures = RepFigures(rep, handoffs=int(np.count_nonzero(chosen)))
    figures.breached = int(np.count_nonzero(chosen & handoffs.is_status(*BREACHES)))
    figures.pending = int(np.count_nonzero(chosen & handoffs.is_status("pending")))
    answered = chosen & handoffs.is_status(*ANSWERS) & (handoffs.responded != NEVER)
    accepted = answered & handoffs.is_status("accepted", "converted")
    in_time = accepted & ((handoffs.due == NEVER) | (handoffs.responded <= handoffs.due))
    figures.accepted_in_time = int(np.count_nonzero(in_time))
    figures.accepted_late = int(np.count_nonzero(accepted)) - figures.accepted_in_time
    rejected = answered & handoffs.is_status("rejected")
    figures.rejected = int(np.count_nonzero(rejected))
    reasons = Counter(handoffs.reasons.text(code) or "(none)" for code in handoffs.reason[rejected].tolist())
    figures.rejected_by_reason = dict(reasons.most_common())
    figures.median_hours_to_answer = rounded(median(hours[answered]))
    accepted_leads = handoffs.lead[accepted]
    sals = np.zeros(len(journeys), dtype=bool)
    sals[accepted_leads[accepted_leads >= 0]] = True
    # A handoff of a lead created after the report's moment has no journey: counted, not reached.
    figures.sals = int(np.count_nonzero(sals)) + len(
        np.unique(handoffs.lead_ids[accepted][accepted_leads < 0])
    )
    top = journeys.top[sals]
    figures.sqls = int(np.count_nonzero(top >= FUNNEL.index("sql")))
    figures.customers = int(np.count_nonzero(top >= FUNNEL.index("customer")))
    figures.sal_to_sql = rounded(share(figures.sqls, figures.sals), 4)
    figures.sal_to_customer = rounded(share(figures.customers, figures.sals), 4)
    return figures
