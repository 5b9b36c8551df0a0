"""The score ledger: every change of a lead's score, with its rule, reason and time.

A lead's score is fit + behaviour. Behaviour points fade with the scoring model's half-life, so
the lead row keeps the behaviour value *as of* ``behavior_scored_at`` and every read or change
first decays it to the moment at hand. Fit points do not fade.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import Connection, select

from nurture.store.schema import leads, score_ledger

PointsKind = Literal["behavior", "fit", "campaign", "manual", "recycle"]


def decayed(value: float, since: datetime | None, now: datetime, half_life: timedelta | None) -> float:
    """``value`` points scored at ``since``, faded to ``now``."""
    if not value or since is None or half_life is None or now <= since:
        return value
    return float(value * 0.5 ** ((now - since) / half_life))


@dataclass(frozen=True)
class ScoreChange:
    lead_id: int
    before: float
    after: float


def add_points(
    conn: Connection,
    lead_id: int,
    points: float,
    *,
    kind: PointsKind,
    rule: str,
    reason: str,
    at: datetime,
    half_life: timedelta | None,
    event_id: int | None = None,
) -> ScoreChange:
    """Add behaviour-like points (they fade) and write the ledger line, in the caller's transaction."""
    query = select(leads.c.fit_score, leads.c.behavior_score, leads.c.behavior_scored_at, leads.c.score)
    query = query.where(leads.c.id == lead_id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()  # two events for one lead must not lose an update
    row = conn.execute(query).one()
    behaviour = decayed(row.behavior_score, row.behavior_scored_at, at, half_life) + points
    after = row.fit_score + behaviour
    conn.execute(
        leads.update()
        .where(leads.c.id == lead_id)
        .values(behavior_score=behaviour, behavior_scored_at=at, score=after, updated_at=at)
    )
    conn.execute(
        score_ledger.insert().values(
            lead_id=lead_id, points=points, kind=kind, rule=rule, reason=reason, event_id=event_id, at=at
        )
    )
    return ScoreChange(lead_id, float(row.score), after)
