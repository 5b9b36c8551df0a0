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
from nurture.reports.handoffs import Handoffs, Vocabulary
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
) -> tuple[np.ndarray, list[str]]:
    """Each lead row's group of the dimension ``by``, as a code into the group names returned
    (each name once; leads without a value in :data:`NONE`). ``owners``: each lead's owner at the
    moment the breakdown is for, as :func:`nurture.reports.owners.owners_at` gives them."""
    if by == "owner" and owners is not None:
        codes, names = owners
        return _groups(codes, list(names))
    if by == "campaign":
        first = facts.first_campaigns()
        campaigns = Vocabulary()
        codes = np.full(leads, -1, dtype=np.int64)
        for row, campaign in first.items():
            codes[row] = campaigns.code(campaign)
        return _groups(codes, list(campaigns.texts))
    codes, values = facts.coded(
        by if by in ("country", "industry", "owner") else by.removeprefix("attributes.")
    )
    return _groups(codes, [attribute_text(value) or NONE for value in values])


def _groups(codes: np.ndarray, names: list[str]) -> tuple[np.ndarray, list[str]]:
    """``codes`` into ``names`` (-1: no value), with no value named :data:`NONE` and names that
    are the same text (an empty value and none) made one group."""
    index = Vocabulary()
    merged = np.array([index.code(name) for name in [*names, NONE]], dtype=np.int64)
    return merged[np.where(codes < 0, len(names), codes)], list(index.texts)


def breakdown(
    journeys: Journeys,
    members: np.ndarray,
    values: tuple[np.ndarray, list[str]],
    handoffs: Handoffs,
    clock: WorkingClock,
) -> list[Group]:
    """The waterfall and velocity of each group of ``members`` (rows) by its ``values`` (a code
    by row into the group names: :func:`dimension`), largest group first."""
    codes, labels = values
    member_codes = codes[members]
    present = np.unique(member_codes).tolist()
    names = sorted(labels[code] for code in present)
    index = {name: code for code, name in enumerate(names)}
    renamed = np.full(len(labels), -1, dtype=np.int64)
    renamed[present] = [index[labels[code]] for code in present]
    group_of = renamed[member_codes]
    order = np.argsort(group_of, kind="stable")
    starts = np.searchsorted(group_of[order], np.arange(len(names) + 1))
    groups = [(names[code], members[order[starts[code] : starts[code + 1]]]) for code in range(len(names))]
    return [
        Group(value, waterfall(journeys, rows), velocity(journeys, rows, handoffs, clock))
        for value, rows in sorted(groups, key=lambda item: (-len(item[1]), item[0]))
    ]
