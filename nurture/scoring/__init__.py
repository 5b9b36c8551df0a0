"""Lead scoring: fit points for who the lead is, behaviour points that fade, and the ledger.

Recorders of events call :func:`on_events_recorded`; whoever changes lead fields calls
:func:`on_leads_changed`. Both score in the caller's transaction and hand leads that meet the
SLA's MQL rule straight to sales. :func:`score_breakdown` explains a score rule by rule.
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
