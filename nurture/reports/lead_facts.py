"""What the report reads of leads besides their journeys, only where a figure needs it.

A million leads' e-mail addresses, countries and custom attributes are not held for the report:
the stuck leads' addresses, the owners on the rows of leads never handed over, and the values of
the breakdown's dimension are asked for when those figures are made.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence

import numpy as np

from nurture.reports.handoffs import Vocabulary
from nurture.reports.rows import Enrollment, Lead


class LeadFacts(ABC):
    """Lead texts by the lead's row in the journeys (ascending lead id)."""

    @abstractmethod
    def emails(self, rows: np.ndarray) -> list[str]:
        """The e-mail addresses of these rows, in their order."""

    @abstractmethod
    def unhanded_owners(self) -> dict[int, str]:
        """The owner on the row of each lead never handed over that has one (an import set it)."""

    @abstractmethod
    def values(self, field: str) -> list[str | None]:
        """Per row, the lead's ``country``, ``industry``, ``owner`` (the row's) or custom attribute."""

    def coded(self, field: str) -> tuple[np.ndarray, list[str | None]]:
        """:meth:`values` as a code per row into the distinct values returned (-1: none)."""
        names = Vocabulary()
        found = self.values(field)
        codes = np.fromiter(map(names.code, found), dtype=np.int64, count=len(found))
        return codes, list(names.texts)

    @abstractmethod
    def first_campaigns(self) -> dict[int, str]:
        """Per row, the first campaign the lead entered (leads that entered none are left out)."""


def attribute_text(value: object) -> str | None:
    """A lead's value of a breakdown's dimension as a group name (None: no value)."""
    return None if value is None or value == "" else str(value)


class RowFacts(LeadFacts):
    """The facts of plain rows (hand-made histories)."""

    def __init__(self, leads: Iterable[Lead], enrollments: Sequence[Enrollment]) -> None:
        self.leads = sorted(leads, key=lambda lead: lead.id)
        self.enrollments = enrollments

    def emails(self, rows: np.ndarray) -> list[str]:
        return [self.leads[int(row)].email for row in rows]

    def unhanded_owners(self) -> dict[int, str]:
        return {row: lead.owner for row, lead in enumerate(self.leads) if lead.owner and not lead.handed_over}

    def values(self, field: str) -> list[str | None]:
        if field in ("country", "industry", "owner"):
            return [getattr(lead, field) for lead in self.leads]
        return [attribute_text(lead.attributes.get(field)) for lead in self.leads]

    def first_campaigns(self) -> dict[int, str]:
        rows = {lead.id: row for row, lead in enumerate(self.leads)}
        first: dict[int, Enrollment] = {}
        for e in self.enrollments:
            if e.lead_id in rows and (e.lead_id not in first or e.entered_at < first[e.lead_id].entered_at):
                first[e.lead_id] = e
        return {rows[lead_id]: e.campaign for lead_id, e in first.items()}
