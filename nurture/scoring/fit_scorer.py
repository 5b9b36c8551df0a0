"""A scoring model's fit rules prepared once per model, then asked of lead after lead.

Fit is recomputed for every lead an import, a form or ``POST /api/leads`` creates or changes, by
the thousand per second, and by the hundred thousand in a rescore. The rules' labels and each
condition's quick path are worked out once per loaded model (a reloaded program is a new model,
so a new scorer), and each lead costs one pass over the rules' ready evaluators. The verdicts
are those of :class:`LeadConditions`: a quick path that cannot decide hands the condition to it,
which asks the sandbox.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from nurture.definitions import Condition, FitRule, ScoringModel
from nurture.definitions.quick import Quick, quick
from nurture.scoring.rules import LeadConditions, fit_labels, fit_reasons

_KEPT_MODELS = 16  # scorers of models no longer loaded are dropped past this many


class FitScorer:
    """The fit points a model's rules give a lead, by the rules' ledger labels."""

    def __init__(self, rules: Sequence[FitRule]) -> None:
        labels = fit_labels(rules)
        self.reasons: dict[str, str] = fit_reasons(rules)
        # Rules worth no points never change a score: they are not asked at all.
        self._plan: tuple[tuple[str, float, Quick | None, Condition], ...] = tuple(
            (label, float(rule.points), quick(rule.when), rule.when)
            for rule, label in zip(rules, labels, strict=True)
            if rule.points
        )

    def points(self, lead: Mapping[str, Any], conditions: LeadConditions) -> dict[str, float]:
        """The points each rule that holds gives this lead, by label (rules worth none are not
        asked); the same as asking :class:`LeadConditions` rule by rule."""
        earned: dict[str, float] = {}
        for label, points, direct, condition in self._plan:
            if direct is not None:
                try:
                    held = bool(direct(lead, None))
                except Exception:  # a missing or odd value: the sandbox decides, and explains
                    held = conditions.holds(condition, lead)
            else:
                held = conditions.holds(condition, lead)
            if held:
                earned[label] = earned.get(label, 0.0) + points
        return earned


_scorers: dict[int, tuple[ScoringModel | None, FitScorer]] = {}
_NO_RULES = FitScorer(())


def fit_scorer(model: ScoringModel | None) -> FitScorer:
    """The scorer of this model's fit rules, prepared on first use."""
    if model is None:
        return _NO_RULES
    known = _scorers.get(id(model))
    if known is not None and known[0] is model:
        return known[1]
    scorer = FitScorer(model.fit)
    if len(_scorers) >= _KEPT_MODELS:
        _scorers.clear()
    _scorers[id(model)] = (model, scorer)
    return scorer
