"""``nurture score train``: fit the predictive score on the workspace's history.

Each lead whose horizon has ended is one example: its features (:mod:`nurture.predict.features`)
at the snapshot moment and whether it reached the outcome within the horizon (the definitions of
:mod:`nurture.scoring.snapshots`). Only handed-over leads are used, because sales judged nobody
else. The model is scikit-learn's logistic regression (L2, C=1) on standardised features:
explainable, feature by feature, which the report and the sales notification need.

**Held-out AUC.** The latest quarter of the examples by snapshot time is held out, the model fitted
on the rest ranks them, and that AUC is stored; the stored model is then fitted on every example.

**Data floor.** Training is refused below ``max(100, 10 * features)`` converted and as many
not-converted leads: about ten converted leads per feature is a common rule for logistic models,
and vendors of predictive scoring ask for 100 conversions or more.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from nurture.errors import NurtureError
from nurture.predict.features import feature_names, feature_vector
from nurture.predict.stored import PredictiveModel
from nurture.scoring.auc import auc
from nurture.scoring.snapshots import LeadHistory, ModelRules, Question, sample_of

MIN_CONVERSIONS = 100
PER_FEATURE = 10
HELD_OUT = 0.25


class PredictUnavailable(NurtureError):
    """The predictive score's extra is not installed."""


class TooLittleData(NurtureError):
    """Too few outcomes to train on."""


def data_floor(features: int) -> int:
    return max(MIN_CONVERSIONS, PER_FEATURE * features)


@dataclass
class Examples:
    x: list[tuple[float, ...]]
    y: list[bool]
    at: list[datetime]


def collect_examples(histories: Any, question: Question, rules: ModelRules, now: datetime) -> Examples:
    """Handed-over leads whose horizon has ended, as (features at the snapshot, converted)."""
    found = Examples([], [], [])
    for history in histories:
        assert isinstance(history, LeadHistory)
        sample = sample_of(history, question, rules, now)
        if isinstance(sample, str) or not sample.handed_over:
            continue
        found.x.append(feature_vector(history, sample.at, rules))
        found.y.append(sample.converted)
        found.at.append(sample.at)
    return found


def train(examples: Examples, rules: ModelRules, question: Question, now: datetime) -> PredictiveModel:
    """Fit and evaluate the model; :class:`TooLittleData` below the data floor."""
    try:
        # why: scikit-learn is the optional extra nurture[predict]; the core works without it
        from sklearn.linear_model import LogisticRegression
    except ImportError:
        raise PredictUnavailable(
            "the predictive score needs its extra: pip install 'nurture[predict]'"
        ) from None
    names = feature_names(rules)
    y = np.array(examples.y, dtype=bool)
    yes, no = int(y.sum()), len(y) - int(y.sum())
    floor = data_floor(len(names))
    if min(yes, no) < floor:
        raise TooLittleData(
            f"too little data to train: {yes} converted and {no} not converted handed-over leads; "
            f"{len(names)} features need at least {floor} of each ({PER_FEATURE} per feature, "
            f"{MIN_CONVERSIONS} at least)"
        )
    x = np.array(examples.x, dtype=np.float64)
    order = np.argsort(np.array([a.timestamp() for a in examples.at]), kind="mergesort")
    cut = int(len(order) * (1 - HELD_OUT))
    fit_rows, test_rows = order[:cut], order[cut:]

    def fitted(rows: Any) -> tuple[Any, Any, Any]:
        mean = x[rows].mean(axis=0)
        scale = x[rows].std(axis=0)
        scale[scale == 0] = 1.0
        model = LogisticRegression(C=1.0, max_iter=1_000).fit((x[rows] - mean) / scale, y[rows])
        return model, mean, scale

    model, mean, scale = fitted(fit_rows)
    held = auc(model.decision_function((x[test_rows] - mean) / scale), y[test_rows])
    model, mean, scale = fitted(np.arange(len(y)))
    times = sorted(examples.at)
    return PredictiveModel(
        names, tuple(float(v) for v in mean), tuple(float(v) for v in scale),
        tuple(float(v) for v in model.coef_[0]), float(model.intercept_[0]), now, times[0], times[-1],
        question.outcome, len(y), yes, None if held is None else held.value,
    )  # fmt: skip
