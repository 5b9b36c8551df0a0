"""Stuck leads: leads that have sat at a stage longer than the limit for it, for sales to act on.

Clock: wall-clock days since the lead last entered the stage it is at now. Limit per stage: the SLA's
``stale_after`` for that stage when given, else, for the stages sales works (mql to opportunity),
``multiple`` times the median days leads of the whole history took to move on from that stage (no
limit, and nobody stuck, when nobody has moved on yet). ``lead`` has a limit only when ``stale_after``
names it: nurture is meant to take long. Customers are never stuck; recycled and disqualified leads
are not in a stage anyone works on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from nurture.reports.clocks import days_between
from nurture.reports.cohort import Waterfall
from nurture.reports.journeys import Journey
from nurture.reports.rows import FUNNEL
from nurture.reports.stats import rounded

DEFAULT_MULTIPLE = 3.0


@dataclass(frozen=True)
class StuckLead:
    email: str
    stage: str
    owner: str | None
    days: float
    limit_days: float

    def as_dict(self) -> dict[str, Any]:
        """What :func:`dataclasses.asdict` gives, without its deep copy of every field: a
        million leads' report lists hundreds of thousands of stuck leads."""
        return {
            "email": self.email, "stage": self.stage, "owner": self.owner, "days": self.days,
            "limit_days": self.limit_days,
        }  # fmt: skip


def stage_limits(
    stale_after: Mapping[str, timedelta], overall: Waterfall, multiple: float = DEFAULT_MULTIPLE
) -> dict[str, float]:
    """Days a lead may stay at each stage before it counts as stuck."""
    limits: dict[str, float] = {}
    medians = {s.stage: s.median_days for s in overall.stages}
    for rank, stage in enumerate(FUNNEL[:-1]):
        if stage in stale_after:
            limits[stage] = stale_after[stage].total_seconds() / 86_400
        elif stage != "lead" and (typical := medians.get(FUNNEL[rank + 1])) is not None and typical > 0:
            limits[stage] = typical * multiple
    return limits


def stuck_leads(
    leads: Sequence[Journey],
    limits: Mapping[str, float],
    now: datetime,
    owners: Mapping[int, str | None] | None = None,
) -> list[StuckLead]:
    """The leads past their stage's limit, longest first; ``owners`` (by lead id) names who had
    each lead at ``now`` (:func:`nurture.reports.owners.owners_at`), else the lead row's owner."""
    found = []
    for j in leads:
        limit = limits.get(j.stage)
        if limit is None:
            continue
        days = days_between(j.stage_since, now)
        if days > limit:
            found.append(
                StuckLead(
                    j.lead.email,
                    j.stage,
                    owners.get(j.lead.id, j.lead.owner) if owners is not None else j.lead.owner,
                    rounded(days, 1) or 0.0,
                    round(limit, 1),
                )
            )
    return sorted(found, key=lambda s: (-s.days, s.email))
