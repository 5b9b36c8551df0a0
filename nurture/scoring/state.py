"""Leads as scoring sees them: their score parts, loaded once per batch and written back in bulk."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select

from nurture.engine.enrollments import LEAD_COLUMNS, lead_for_conditions
from nurture.scoring.ledger import decayed
from nurture.store import bulk
from nurture.store.schema import leads

CHUNK = 2_000  # ids per IN list: well inside every driver's parameter limit
# Stages from which a lead can become an MQL: recycled leads qualify again when they warm up.
MQL_ELIGIBLE = frozenset({"subscriber", "lead", "recycled"})


@dataclass
class ScoredLead:
    """One lead's score parts; ``behavior`` is the value as of ``scored_at``."""

    id: int
    lead: dict[str, Any]  # as conditions see it (lead_for_conditions)
    fit: float
    behavior: float
    scored_at: datetime | None
    score: float

    @property
    def stage(self) -> str:
        return str(self.lead["lifecycle_stage"])

    def behavior_at(self, now: datetime, half_life: timedelta | None) -> float:
        return decayed(self.behavior, self.scored_at, now, half_life)

    def score_at(self, now: datetime, half_life: timedelta | None) -> float:
        return self.fit + self.behavior_at(now, half_life)

    def view_with(self, **changes: Any) -> dict[str, Any]:
        """The lead as conditions see it, with some fields replaced (e.g. the fresh score)."""
        return {**self.lead, **changes}


def load_scored_leads(conn: Connection, lead_ids: Iterable[int], *, lock: bool) -> dict[int, ScoredLead]:
    """The leads with these ids; with ``lock`` their rows stay locked (PostgreSQL) until commit.

    Rows are locked in id order, the order every writer of several leads uses, so two batches
    sharing leads wait for each other instead of deadlocking.
    """
    ids = sorted(set(lead_ids))
    found: dict[int, ScoredLead] = {}
    columns = [leads.c[name] for name in LEAD_COLUMNS] + [leads.c.behavior_scored_at]
    for start in range(0, len(ids), CHUNK):
        query = select(*columns).where(leads.c.id.in_(ids[start : start + CHUNK])).order_by(leads.c.id)
        if lock and conn.dialect.name == "postgresql":
            query = query.with_for_update()
        for row in conn.execute(query):
            mapping = row._mapping
            found[int(row.id)] = ScoredLead(
                id=int(row.id),
                lead=lead_for_conditions(mapping),
                fit=float(row.fit_score),
                behavior=float(row.behavior_score),
                scored_at=row.behavior_scored_at,
                score=float(row.score),
            )
    return found


@dataclass(frozen=True)
class ScoreUpdate:
    lead_id: int
    fit: float
    behavior: float  # as of `at`
    score: float


def write_scores(conn: Connection, updates: Sequence[ScoreUpdate], at: datetime) -> None:
    """Store new score parts, all as of ``at``."""
    stamp = bulk.instant(conn, at)
    bulk.executemany(
        conn,
        "UPDATE leads SET fit_score = :fit, behavior_score = :behavior, behavior_scored_at = :at, "
        "score = :score, updated_at = :at WHERE id = :id",
        [
            {"id": u.lead_id, "fit": u.fit, "behavior": u.behavior, "score": u.score, "at": stamp}
            for u in updates
        ],
    )


@dataclass(frozen=True)
class LedgerLine:
    lead_id: int
    points: float
    kind: str
    rule: str
    reason: str
    at: datetime
    event_id: int | None = None


def write_ledger(conn: Connection, lines: Sequence[LedgerLine]) -> None:
    """Append ledger lines in one driver call."""
    bulk.executemany(
        conn,
        "INSERT INTO score_ledger (lead_id, points, kind, rule, event_id, reason, at) "
        "VALUES (:lead_id, :points, :kind, :rule, :event_id, :reason, :at)",
        [
            {
                "lead_id": line.lead_id,
                "points": line.points,
                "kind": line.kind,
                "rule": line.rule,
                "event_id": line.event_id,
                "reason": line.reason,
                "at": bulk.instant(conn, line.at),
            }
            for line in lines
        ],
    )
