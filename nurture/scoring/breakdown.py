"""Why a lead has its score: the ledger summed per rule, behaviour lines faded to the moment asked.

Decay is exponential and so adds up line by line: the faded lines sum to the faded behaviour
score, and fit lines sum to the fit score. That is what lets ``leads show`` and the sales
notification explain a score one rule at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from nurture.definitions import Program
from nurture.scoring.ledger import decayed
from nurture.store.schema import score_ledger

FIT = "fit"


@dataclass(frozen=True)
class ScoreLine:
    """What one rule gives a lead now."""

    kind: str  # fit | behavior | campaign | manual | recycle
    rule: str
    reason: str  # the most recent line's reason
    points: float  # now: fit as earned, everything else faded
    earned: float  # before fading
    count: int  # ledger lines behind it
    last_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "rule": self.rule,
            "reason": self.reason,
            "points": round(self.points, 2),
            "earned": round(self.earned, 2),
            "count": self.count,
            "last_at": self.last_at.isoformat(),
        }


@dataclass(frozen=True)
class ScoreBreakdown:
    """A lead's score as fit lines plus faded behaviour lines, each largest first."""

    at: datetime
    fit_lines: tuple[ScoreLine, ...]
    behavior_lines: tuple[ScoreLine, ...]

    @property
    def fit(self) -> float:
        return sum(line.points for line in self.fit_lines)

    @property
    def behavior(self) -> float:
        return sum(line.points for line in self.behavior_lines)

    @property
    def total(self) -> float:
        return self.fit + self.behavior

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "score": round(self.total, 2),
            "fit": round(self.fit, 2),
            "behavior": round(self.behavior, 2),
            "fit_lines": [line.as_dict() for line in self.fit_lines],
            "behavior_lines": [line.as_dict() for line in self.behavior_lines],
        }


def score_breakdown(conn: Connection, lead_id: int, program: Program | None, now: datetime) -> ScoreBreakdown:
    """The lead's score at ``now``, explained rule by rule from the ledger."""
    model = program.scoring_model if program is not None else None
    half_life = model.decay.half_life if model is not None and model.decay else None
    s = score_ledger.c
    query = select(s.kind, s.rule, s.reason, s.points, s.at).where(s.lead_id == lead_id).order_by(s.at, s.id)
    sums: dict[tuple[str, str], list[Any]] = {}
    for kind, rule, reason, points, at in conn.execute(query):
        # A rescore's correction of a behaviour rule belongs to that rule's line.
        kind = "behavior" if kind == "rescore" else kind
        now_points = points if kind == FIT else decayed(points, at, now, half_life)
        entry = sums.setdefault((kind, rule), [0.0, 0.0, 0, reason, at])
        entry[0] += now_points
        entry[1] += points
        entry[2] += 1
        entry[3], entry[4] = reason, at
    lines = [
        ScoreLine(kind, rule, reason, points, earned, count, last_at)
        for (kind, rule), (points, earned, count, reason, last_at) in sums.items()
        # A fit rule that stopped holding nets to zero: it no longer explains anything.
        if not (kind == FIT and abs(points) < 1e-9)
    ]
    lines.sort(key=lambda line: (-abs(line.points), line.rule))
    return ScoreBreakdown(
        now,
        tuple(line for line in lines if line.kind == FIT),
        tuple(line for line in lines if line.kind != FIT),
    )
