"""Plain rows of the recorded history: what the database holds, nothing derived.

Hand-made histories (the tests', whose answers are known) are written as these rows and turned into
the columns every figure is computed from (:mod:`nurture.reports.recorded`); the database's history
is read as those columns directly. The figure modules never touch the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

FUNNEL = ("lead", "mql", "sal", "sql", "opportunity", "customer")
"""The stages of the waterfall a lead moves up through, in order (``subscriber`` comes before)."""

SIDE_STAGES = ("recycled", "disqualified")


FUNNEL_RANK = {stage: rank for rank, stage in enumerate(FUNNEL)}
"""Each funnel stage's position; looked up per lead and stage, so a table rather than a search."""


def funnel_rank(stage: str | None) -> int:
    """Position in the funnel, -1 for stages outside it (subscriber, recycled, disqualified)."""
    return FUNNEL_RANK.get(stage, -1) if stage is not None else -1


class StageChange(NamedTuple):
    lead_id: int
    from_stage: str | None
    to_stage: str
    at: datetime
    reason: str
    amount: float | None = None  # the deal's value, recorded with opportunity and customer
    currency: str | None = None


@dataclass(frozen=True, slots=True)
class Lead:
    id: int
    email: str
    created_at: datetime
    stage: str
    owner: str | None = None
    country: str | None = None
    industry: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    handed_over: bool = False  # ever handed to sales (the handoffs say who owned it when)


class Handoff(NamedTuple):
    id: int
    lead_id: int
    rep_id: str | None  # None: the team's manager held it
    status: str  # pending | accepted | rejected | reassigned | escalated | converted | disqualified
    assigned_at: datetime
    accept_due_at: datetime | None
    responded_at: datetime | None
    reason: str | None
    team_key: str = ""  # the team whose manager holds it when rep_id is None


class Enrollment(NamedTuple):
    lead_id: int
    campaign: str
    status: str  # active | completed | exited | failed | holdout
    entered_at: datetime
    exit_reason: str | None


class Touch(NamedTuple):
    """A marketing email sent to a lead (``kind`` "sent") or a person's engagement with it."""

    lead_id: int
    at: datetime
    kind: str  # sent | email_open | email_click | ... (engagement types, people only)
    campaign: str | None
    step: str | None


@dataclass(frozen=True, slots=True)
class Cost:
    campaign: str
    month: str  # YYYY-MM
    amount: float
    currency: str


@dataclass
class History:
    """Everything the report reads, as plain rows (hand-made histories; the database's are read
    as columns, :mod:`nurture.reports.recorded`)."""

    leads: dict[int, Lead]
    changes: dict[int, list[StageChange]]  # per lead, in time order
    handoffs: list[Handoff]
    enrollments: list[Enrollment]
    touches: dict[int, list[Touch]]  # per lead, in time order
    costs: list[Cost] = field(default_factory=list)
