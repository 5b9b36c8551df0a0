"""Stuck leads: leads that have sat at a stage longer than the limit for it, for sales to act on.

Clock: wall-clock days since the lead last entered the stage it is at now. Limit per stage: the SLA's
``stale_after`` for that stage when given, else, for the stages sales works (mql to opportunity),
``multiple`` times the median days leads of the whole history took to move on from that stage (no
limit, and nobody stuck, when nobody has moved on yet). ``lead`` has a limit only when ``stale_after``
names it: nurture is meant to take long. Customers are never stuck; recycled and disqualified leads
are not in a stage anyone works on.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from functools import partial
from typing import Any, NamedTuple

import numpy as np

from nurture.reports.cohort import Waterfall
from nurture.reports.instants import days, micros
from nurture.reports.journeys import STAGE_CODE, STAGES, Journeys
from nurture.reports.lead_facts import LeadFacts
from nurture.reports.rows import FUNNEL

DEFAULT_MULTIPLE = 3.0


class StuckLead(NamedTuple):
    """A lead past its stage's limit (a named tuple: a million leads' report lists half a million)."""

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
    journeys: Journeys,
    limits: Mapping[str, float],
    now: datetime,
    facts: LeadFacts,
    owners: tuple[np.ndarray, list[str]],
) -> list[StuckLead]:
    """The leads past their stage's limit, longest first; ``owners`` (codes by lead row and their
    names: :func:`nurture.reports.owners.owners_at`) name who had each lead at ``now``."""
    limit = np.full(len(STAGES), np.inf)
    for name, days_allowed in limits.items():
        limit[STAGE_CODE[name]] = days_allowed
    stage = journeys.stage.astype(np.int64)
    known = stage >= 0
    spent = days(micros(now) - journeys.since)
    rows = np.flatnonzero(known & (spent > np.where(known, limit[stage], np.inf)))
    codes, names = owners
    named: list[str | None] = [*names, None]  # code -1: nobody
    limits_of = [round(float(days_allowed), 1) for days_allowed in limit]
    emails = facts.emails(rows)
    # Rounded as the figures always were (Python's round, not numpy's), one value at a time.
    rounded_days = [round(days_in, 1) for days_in in spent[rows].tolist()]
    # Longest first, then by address (numpy compares texts by code point, as Python does).
    order = np.lexsort((np.array(emails, dtype=str), -np.array(rounded_days))) if emails else np.zeros(0, int)
    at, owner = stage[rows][order], codes[rows][order]
    fields = (
        np.array(emails, dtype=object)[order],
        np.array(STAGES, dtype=object)[at],
        np.array(named, dtype=object)[owner],  # -1 (nobody): the last name, None
        np.array(rounded_days, dtype=object)[order],
        np.array(limits_of, dtype=object)[at],
    )
    # Made as tuples of the named type at once, field by field in order: its own __new__, a
    # Python function, cost a second for half a million leads.
    made = partial(tuple.__new__, StuckLead)
    return list(map(made, zip(*fields, strict=True)))
