"""Suggested points: what the recorded outcomes say each rule of the model is worth.

A logistic regression (:mod:`nurture.scoring.regression`, L2 penalty 1 on standardised features)
of the outcome on the model's own rules as features (:mod:`nurture.scoring.snapshots`: each fit
rule 0/1, each behaviour rule its number of scored events faded to the snapshot), over the
**handed-over leads only**: sales judged nobody else, so for them "not converted" says nothing.

**The scale.** A coefficient is log-odds per unit of the feature; points are log-odds times ``k``.
``k`` is chosen so the suggested points are as close as possible (least squares) to the current
ones, so the model keeps its scale and the MQL threshold its rough meaning; ``k * ln 2`` points
then double the odds of converting. When the current points and the evidence disagree in sign
overall, ``k`` falls back to :data:`DEFAULT_DOUBLING` points per doubling.

A rule whose 95% interval contains 0 is flagged: the evidence does not tell it from no effect.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import yaml

from nurture.definitions import ScoringModel
from nurture.scoring.auc import Z95
from nurture.scoring.regression import fit_logistic
from nurture.scoring.sample_columns import SampleColumns
from nurture.scoring.snapshots import ModelRules, Sample

DEFAULT_DOUBLING = 10.0
PENALTY = 1.0
MIN_EACH_PER_RULE = 10  # converted and not converted handed-over leads per rule (a common floor)


@dataclass(frozen=True)
class RuleSuggestion:
    rule: str
    kind: str
    points: int
    suggested: int | None
    interval: tuple[float, float] | None
    weight: float | None  # log-odds per unit of the feature
    separated_from_zero: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule, "kind": self.kind, "points": self.points, "suggested": self.suggested,
            "interval": None if self.interval is None else [round(x, 1) for x in self.interval],
            "log_odds_per_unit": None if self.weight is None else round(self.weight, 4),
            "separated_from_zero": self.separated_from_zero,
        }  # fmt: skip


@dataclass(frozen=True)
class Suggestion:
    leads: int
    positives: int
    points_to_double_odds: float | None
    rules: Sequence[RuleSuggestion]
    too_little_data: str | None
    note: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "leads": self.leads, "positives": self.positives,
            "points_to_double_odds": None if self.points_to_double_odds is None
            else round(self.points_to_double_odds, 1),
            "rules": [rule.as_dict() for rule in self.rules], "too_little_data": self.too_little_data,
            "note": self.note,
        }  # fmt: skip


def suggest_points(samples: Sequence[Sample], rules: ModelRules) -> Suggestion:
    """Suggested points per rule from the handed-over samples."""
    columns = SampleColumns.of(samples, len(rules.labels))
    handed = columns.handed_over
    note = (
        "fitted on handed-over leads only: the leads the MQL rule kept from sales have no observed "
        "outcome, so rules that only matter below the MQL threshold cannot be judged"
    )
    y = columns.converted[handed]
    yes, no = int(y.sum()), len(y) - int(y.sum())
    need = MIN_EACH_PER_RULE * max(1, len(rules.labels))
    if min(yes, no) < need:
        unfitted = [
            RuleSuggestion(label, kind, points, None, None, None, False)
            for label, kind, points in zip(rules.labels, rules.kinds, rules.points, strict=True)
        ]
        message = (
            f"too little data: {yes} converted and {no} not converted handed-over leads; "
            f"{len(rules.labels)} rules need at least {need} of each ({MIN_EACH_PER_RULE} per rule)"
        )
        return Suggestion(len(y), yes, None, unfitted, message, note)
    x = columns.features[handed]
    fit = fit_logistic(x, y, l2=PENALTY)
    known = ~np.isnan(fit.coef)
    current = np.array(rules.points, dtype=np.float64)
    beta = fit.coef[known]
    agreement = float(np.dot(current[known], beta))
    k = (
        agreement / float(np.dot(beta, beta))
        if agreement > 0 and np.dot(beta, beta) > 0
        else DEFAULT_DOUBLING / math.log(2)
    )
    found = []
    for i, (label, kind, points) in enumerate(zip(rules.labels, rules.kinds, rules.points, strict=True)):
        if not known[i]:
            found.append(RuleSuggestion(label, kind, points, None, None, None, False))
            continue
        weight, error = float(fit.coef[i]), float(fit.standard_error[i])
        lo, hi = k * (weight - Z95 * error), k * (weight + Z95 * error)
        found.append(
            RuleSuggestion(label, kind, points, round(k * weight), (lo, hi), weight, lo > 0 or hi < 0)
        )
    return Suggestion(len(y), yes, k * math.log(2), found, None, note)


def suggested_model(model: ScoringModel, suggestion: Suggestion) -> str:
    """The model as YAML with the suggested points in place (rules without one keep theirs)."""
    document = model.model_dump(mode="json", exclude_none=True)
    values = [rule.suggested for rule in suggestion.rules]
    behaviour = values[: len(model.behavior)]
    for rule, value in zip(document.get("behavior", []), behaviour, strict=True):
        if value is not None:
            rule["points"] = max(-1000, min(1000, value))
    for rule, value in zip(document.get("fit", []), values[len(model.behavior) :], strict=True):
        if value is not None:
            rule["points"] = max(-1000, min(1000, value))
    header = (
        "# Suggested by `nurture score suggest`: compare with the model in force and adopt what you trust.\n"
    )
    return header + yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
