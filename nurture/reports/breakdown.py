"""Breakdowns: the waterfall and velocity of the cohort, group by group.

Each group is the part of the cohort with one value of the chosen dimension: ``country``,
``industry``, ``owner`` (the rep who owned the lead at the end of the period, or at the report's
moment: :mod:`nurture.reports.owners`), ``campaign`` (the first campaign the lead
entered) or any custom attribute (``attributes.NAME`` or ``NAME``). Leads without a value form the
``(none)`` group. Definitions are those of the whole cohort's waterfall and velocity.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from nurture.reports.clocks import RepHours
from nurture.reports.cohort import Waterfall, waterfall
from nurture.reports.journeys import Journey
from nurture.reports.rows import Enrollment, Handoff
from nurture.reports.velocity import Velocity, velocity

NONE = "(none)"


@dataclass(frozen=True)
class Group:
    value: str
    funnel: Waterfall
    velocity: Velocity


def dimension(
    by: str, enrollments: Sequence[Enrollment], owners: Mapping[int, str | None] | None = None
) -> Callable[[Journey], str]:
    """The function that reads a lead's value of the dimension ``by`` (``owners``: each lead's
    owner at the moment the breakdown is for, else the lead row's)."""
    if by == "owner" and owners is not None:
        return lambda j: str(owners.get(j.lead.id, j.lead.owner) or NONE)
    if by in ("country", "industry", "owner"):
        return lambda j: str(getattr(j.lead, by) or NONE)
    if by == "campaign":
        first: dict[int, Enrollment] = {}
        for e in enrollments:
            if e.lead_id not in first or e.entered_at < first[e.lead_id].entered_at:
                first[e.lead_id] = e
        return lambda j: first[j.lead.id].campaign if j.lead.id in first else NONE
    name = by.removeprefix("attributes.")

    def attribute(j: Journey) -> str:
        value = j.lead.attributes.get(name)
        return NONE if value is None or value == "" else str(value)

    return attribute


def breakdown(
    leads: Sequence[Journey],
    key: Callable[[Journey], str],
    handoffs: Sequence[Handoff],
    hours: RepHours,
) -> list[Group]:
    groups: Mapping[str, list[Journey]] = defaultdict(list)
    group_of: dict[int, str] = {}
    for j in leads:
        value = group_of[j.lead.id] = key(j)
        groups[value].append(j)
    # Each group's velocity reads its own leads' handoffs only (in id order, as read): with
    # thousands of groups, handing every group all handoffs would cost groups x handoffs.
    own: Mapping[str, list[Handoff]] = defaultdict(list)
    for h in handoffs:
        if (group := group_of.get(h.lead_id)) is not None:
            own[group].append(h)
    return [
        Group(value, waterfall(members), velocity(members, own.get(value, []), hours))
        for value, members in sorted(groups.items(), key=lambda item: (-len(item[1]), item[0]))
    ]
