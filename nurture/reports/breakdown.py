"""Breakdowns: the waterfall and velocity of the cohort, group by group.

Each group is the part of the cohort with one value of the chosen dimension: ``country``,
``industry``, ``owner`` (the rep who owned the lead at the end of the period, or at the report's
moment: :mod:`nurture.reports.owners`), ``campaign`` (the first campaign the lead
entered) or any custom attribute (``attributes.NAME`` or ``NAME``). Leads without a value form the
``(none)`` group. Definitions are those of the whole cohort's waterfall and velocity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nurture.reports.clocks import WorkingClock
from nurture.reports.cohort import Waterfall, waterfall
from nurture.reports.handoffs import Handoffs
from nurture.reports.journeys import Journeys
from nurture.reports.lead_facts import LeadFacts, attribute_text
from nurture.reports.velocity import Velocity, velocity

NONE = "(none)"


@dataclass(frozen=True)
class Group:
    value: str
    funnel: Waterfall
    velocity: Velocity


def dimension(
    by: str, leads: int, facts: LeadFacts, owners: tuple[np.ndarray, list[str]] | None = None
) -> list[str]:
    """Each lead row's value of the dimension ``by`` (``owners``: each lead's owner at the moment
    the breakdown is for, as :func:`nurture.reports.owners.owners_at` gives them)."""
    if by == "owner" and owners is not None:
        codes, names = owners
        return [NONE if code < 0 else names[code] for code in codes.tolist()]
    if by == "campaign":
        first = facts.first_campaigns()
        return [first.get(row, NONE) for row in range(leads)]
    values = facts.values(by if by in ("country", "industry", "owner") else by.removeprefix("attributes."))
    return [attribute_text(value) or NONE for value in values]


def breakdown(
    journeys: Journeys, members: np.ndarray, values: list[str], handoffs: Handoffs, clock: WorkingClock
) -> list[Group]:
    """The waterfall and velocity of each group of ``members`` (rows) by its ``values`` (by row),
    largest group first."""
    names = sorted({values[row] for row in members.tolist()})
    index = {name: code for code, name in enumerate(names)}
    group_of = np.array([index[values[row]] for row in members.tolist()], dtype=np.int64)
    order = np.argsort(group_of, kind="stable")
    starts = np.searchsorted(group_of[order], np.arange(len(names) + 1))
    groups = [(names[code], members[order[starts[code] : starts[code + 1]]]) for code in range(len(names))]
    return [
        Group(value, waterfall(journeys, rows), velocity(journeys, rows, handoffs, clock))
        for value, rows in sorted(groups, key=lambda item: (-len(item[1]), item[0]))
    ]
