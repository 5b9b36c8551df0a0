"""What the predictive score looks at, for one lead at one moment, from its ledger alone.

- every rule of the scoring model, as ``nurture score suggest`` sees it (fit rules 0/1, behaviour
  rules as scored events faded to the moment);
- engagement volume: behaviour ledger lines in the 30 days before the moment;
- recency: days since the last behaviour line (365 when there is none, and at most 365);
- age: days since the lead was created (at most 365).

Nothing after the moment is read, so training on snapshots does not look ahead.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from nurture.scoring.ledger import decayed
from nurture.scoring.snapshots import LeadHistory, ModelRules

EXTRA_FEATURES = ("events in the last 30 days", "days since last engagement", "days since created")
_CAP_DAYS = 365.0


def feature_names(rules: ModelRules) -> tuple[str, ...]:
    return (*rules.labels, *EXTRA_FEATURES)


def feature_vector(history: LeadHistory, at: datetime, rules: ModelRules) -> tuple[float, ...]:
    """The lead's features at ``at``, in the order of :func:`feature_names`."""
    held: dict[str, float] = {}
    recent = 0
    last: datetime | None = None
    for kind, rule, points, when in history.ledger:
        if when > at:
            continue
        if kind == "fit":
            held[rule] = held.get(rule, 0.0) + points
        elif kind in ("behavior", "rescore"):
            held[rule] = held.get(rule, 0.0) + decayed(points, when, at, rules.half_life)
            if kind == "behavior":
                recent += at - when <= timedelta(days=30)
                last = when if last is None or when > last else last
    by_rule = []
    for label, kind, points in zip(rules.labels, rules.kinds, rules.points, strict=True):
        value = held.get(label, 0.0)
        by_rule.append(
            (1.0 if abs(value) > 1e-9 else 0.0) if kind == "fit" else (value / points if points else 0.0)
        )
    since_last = _CAP_DAYS if last is None else min(_CAP_DAYS, (at - last) / timedelta(days=1))
    age = min(_CAP_DAYS, max(0.0, (at - history.created_at) / timedelta(days=1)))
    return (*by_rule, float(recent), since_last, age)
