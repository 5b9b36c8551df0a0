"""Lead scoring: fit points for who the lead is, behaviour points that fade, and the ledger.

:func:`on_events_recorded` scores recorded events, :func:`on_leads_changed` rescores fit after
fields changed, :func:`decay_scores` fades stored scores. Each runs in the caller's transaction and
returns the leads whose score rose; the MQL rule and routing that follow are :mod:`nurture.lifecycle`'s.
:func:`score_breakdown` explains a score rule by rule.
"""

from nurture.scoring.breakdown import ScoreBreakdown, ScoreLine, score_breakdown
from nurture.scoring.decay import decay_scores
from nurture.scoring.events import StoredEvent, on_events_recorded
from nurture.scoring.leads import on_leads_changed
from nurture.scoring.ledger import ScoreChange, add_points, decayed

__all__ = [
    "ScoreBreakdown",
    "ScoreChange",
    "ScoreLine",
    "StoredEvent",
    "add_points",
    "decay_scores",
    "decayed",
    "on_events_recorded",
    "on_leads_changed",
    "score_breakdown",
]
