"""The backtest: does the score at the snapshot rank leads by whether they later converted?

Over the samples of :mod:`nurture.scoring.snapshots` (one per lead whose horizon has ended):

- **Observable range.** Only MQLs reach sales, so below the MQL threshold (``score >= N`` in the
  SLA) sales never saw a lead and its "not converted" is not an answer, only an absence. The AUC,
  the calibration line and the suggested threshold are computed on leads scoring at or above the
  threshold; the bands below it are shown, marked unobservable. ``auc_all_leads`` is the AUC over
  everyone, which flatters the score: the leads it kept from sales could not convert.
- **Bands.** Leads of the observable range split by score into (up to) ``bands`` groups of equal
  size, ties kept together, and one band for all scores below it; each band's rate is converted /
  leads and its lift is that rate over the observable range's base rate.
- **Calibration line.** A logistic line ``P(converted) = 1 / (1 + exp(-(a + b * score)))`` fitted on
  the observable range; per band the rate the line predicts beside the rate seen.
- **Suggested threshold.** The lowest threshold *in the observable range* at which the leads
  scoring at or above it converted at ``target_rate`` or more.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nurture.scoring.auc import Auc, auc
from nurture.scoring.regression import fit_logistic
from nurture.scoring.sample_columns import SampleColumns
from nurture.scoring.snapshots import Sample

MIN_EACH = 10  # converted and not-converted leads an AUC needs (its interval is too wide below)
MIN_AT_THRESHOLD = 20  # leads at or above a threshold before its rate is judged


@dataclass(frozen=True)
class Band:
    low: float
    high: float
    leads: int
    converted: int
    rate: float
    lift: float | None
    observable: bool
    predicted: float | None  # by the calibration line
    accepted: int
    rejected: Mapping[str, int]

    def as_dict(self) -> dict[str, Any]:
        return {
            "from": round(self.low, 2), "to": round(self.high, 2), "leads": self.leads,
            "converted": self.converted, "rate": round(self.rate, 4),
            "lift": None if self.lift is None else round(self.lift, 3), "observable": self.observable,
            "predicted_rate": None if self.predicted is None else round(self.predicted, 4),
            "sales_accepted": self.accepted, "sales_rejected": dict(self.rejected),
        }  # fmt: skip


@dataclass(frozen=True)
class Backtest:
    leads: int
    positives: int
    left_out: Mapping[str, int]
    threshold: float | None
    auc: Auc | None
    auc_all_leads: Auc | None
    auc_by_month: Mapping[str, Auc | None]
    bands: Sequence[Band]
    calibration: tuple[float, float] | None  # intercept, slope per point
    suggested_threshold: float | None
    reason: str  # why the suggestion is what it is
    too_little_data: str | None
    unobservable: str | None  # the score range with no observable outcome, in words

    def as_dict(self) -> dict[str, Any]:
        def figure(found: Auc | None) -> float | None:
            return None if found is None else round(found.value, 4)

        interval = None if self.auc is None else [round(x, 4) for x in self.auc.interval]
        calibration = None
        if self.calibration is not None:
            a, b = self.calibration
            calibration = {
                "intercept": round(a, 4), "slope_per_point": round(b, 5),
                "points_to_double_odds": round(math.log(2) / b, 1) if b > 0 else None,
            }  # fmt: skip
        return {
            "leads": self.leads, "positives": self.positives, "left_out": dict(self.left_out),
            "mql_threshold": self.threshold, "observable_from": self.threshold,
            "unobservable": self.unobservable, "auc": figure(self.auc), "auc_interval": interval,
            "auc_all_leads": figure(self.auc_all_leads),
            "auc_by_month": {month: figure(found) for month, found in self.auc_by_month.items()},
            "bands": [band.as_dict() for band in self.bands], "calibration": calibration,
            "suggested_threshold": self.suggested_threshold, "suggested_threshold_reason": self.reason,
            "too_little_data": self.too_little_data,
        }  # fmt: skip


def evaluate(
    samples: Sequence[Sample],
    *,
    threshold: float | None,
    bands: int = 10,
    target_rate: float = 0.3,
    left_out: Mapping[str, int] | None = None,
) -> Backtest:
    """The backtest of these samples, with the MQL threshold in force (None: not a plain one)."""
    columns = SampleColumns.of(samples)
    scores, converted = columns.score, columns.converted
    seen = scores >= threshold if threshold is not None else np.ones(len(samples), dtype=bool)
    positives = int(converted.sum())
    observed = _enough(converted[seen])
    found = auc(scores[seen], converted[seen]) if observed is None else None
    calibration = _calibration(scores[seen], converted[seen]) if observed is None else None
    grouped = _bands(columns, scores, converted, seen, bands, calibration)
    suggested, reason = _suggest(scores[seen], converted[seen], threshold, target_rate, observed)
    unobservable = None
    if threshold is not None:
        unobservable = (
            f"scores below {threshold:g}: the MQL rule kept those leads from sales (those that reached "
            "sales qualified at another moment), so whether they would convert was not observed; "
            "nothing is judged or suggested there"
        )
    return Backtest(
        len(samples), positives, dict(left_out or {}), threshold, found,
        auc(scores, converted) if _enough(converted) is None else None,
        _by_month(columns, seen), grouped, calibration, suggested, reason, observed, unobservable,
    )  # fmt: skip


def _enough(converted: np.ndarray[Any, np.dtype[np.bool_]]) -> str | None:
    """None when there are enough of both kinds of lead, else what is missing."""
    yes = int(converted.sum())
    no = len(converted) - yes
    if yes >= MIN_EACH and no >= MIN_EACH:
        return None
    return (
        f"too little data: {yes} converted and {no} not converted leads in the observable range; "
        f"at least {MIN_EACH} of each are needed"
    )


def _calibration(scores: np.ndarray[Any, Any], converted: np.ndarray[Any, Any]) -> tuple[float, float] | None:
    if np.ptp(scores) == 0:
        return None
    fit = fit_logistic(scores.reshape(-1, 1), converted, l2=0.0)
    return (fit.intercept, float(fit.coef[0])) if fit.converged else None


def _bands(
    samples: SampleColumns,
    scores: np.ndarray[Any, Any],
    converted: np.ndarray[Any, Any],
    seen: np.ndarray[Any, Any],
    count: int,
    calibration: tuple[float, float] | None,
) -> list[Band]:
    if not len(samples):
        return []
    # The observable range is split into `count` bands of equal size; below it one band stands
    # for every score sales never judged.
    index = np.full(len(samples), -1)
    if seen.any():
        edges = np.unique(np.quantile(scores[seen], np.linspace(0, 1, count + 1)[1:-1]))
        index[seen] = np.searchsorted(edges, scores[seen], side="right")
    base = float(converted[seen].mean()) if seen.any() else 0.0
    found = []
    for band in np.unique(index):
        members = index == band
        leads = int(members.sum())
        yes = int(converted[members].sum())
        rate = yes / leads
        predicted = None
        if calibration is not None:
            a, b = calibration
            predicted = float(np.mean(1.0 / (1.0 + np.exp(-(a + b * scores[members])))))
        answers = samples.answer_names(members)
        accepted = answers.pop("accepted", 0)
        found.append(
            Band(
                float(scores[members].min()),
                float(scores[members].max()),
                leads,
                yes,
                rate,
                rate / base if base > 0 else None,
                bool(seen[members].all()),
                predicted,
                accepted,
                dict(answers),
            )
        )
    return found


def _suggest(
    scores: np.ndarray[Any, Any],
    converted: np.ndarray[Any, Any],
    threshold: float | None,
    target_rate: float,
    too_little: str | None,
) -> tuple[float | None, str]:
    if too_little is not None:
        return None, too_little
    order = np.sort(scores)
    ranked = converted[np.argsort(scores, kind="mergesort")]
    # Leads and conversions at or above each distinct score, from the sorted scores' suffix sums.
    candidates = np.unique(order)
    first = np.searchsorted(order, candidates, side="left")
    above = len(order) - first
    converted_above = np.cumsum(ranked[::-1])[::-1][first]
    rates = converted_above / above
    meets = np.flatnonzero((above >= MIN_AT_THRESHOLD) & (rates >= target_rate))
    if len(meets):
        lowest = int(meets[0])
        rate, candidate = float(rates[lowest]), float(candidates[lowest])
        if threshold is not None and lowest == 0:
            return threshold, (
                f"the threshold in force ({threshold:g}) already converts {rate:.0%} of its leads, "
                f"at least the target {target_rate:.0%}; a lower one cannot be judged, because sales "
                f"never saw leads scoring below {threshold:g}"
            )
        return round(candidate, 2), (
            f"leads scoring {candidate:g} or more converted at {rate:.0%}, reaching the target "
            f"{target_rate:.0%}"
        )
    return None, (
        f"no threshold with at least {MIN_AT_THRESHOLD} leads at or above it reaches the target "
        f"{target_rate:.0%}"
        + ("" if threshold is None else f"; thresholds below {threshold:g} cannot be judged (never observed)")
    )


def _by_month(samples: SampleColumns, seen: np.ndarray[Any, Any]) -> dict[str, Auc | None]:
    """AUC of the observable range per calendar month of the snapshot (None: too few leads)."""
    months = samples.months()
    found: dict[str, Auc | None] = {}
    for month in sorted(set(months[seen].tolist())):
        rows = seen & (months == month)
        converted = samples.converted[rows]
        found[month] = auc(samples.score[rows], converted) if _enough(converted) is None else None
    return found
