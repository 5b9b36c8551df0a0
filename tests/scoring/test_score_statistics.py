"""Backtest and suggested points against generated histories whose truth is known."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nurture.scoring.auc import Z95, expected_auc
from nurture.scoring.backtest import evaluate
from nurture.scoring.regression import fit_logistic
from nurture.scoring.snapshots import LeadHistory, ModelRules, Question, Sample, sample_of
from nurture.scoring.suggest import suggest_points
from nurture.scoring.synthetic import (
    SNAPSHOT_AFTER,
    TRUE_WEIGHTS,
    SyntheticHistory,
    SyntheticLead,
    generate_history,
    synthetic_model,
)

RULES = ModelRules.of(synthetic_model())
QUESTION = Question(outcome="sql")


def history_of(lead_id: int, lead: SyntheticLead) -> LeadHistory:
    return LeadHistory(
        lead_id,
        lead.created_at,
        [(e.kind, e.rule, e.points, e.at) for e in lead.ledger],
        [(m.to_stage, m.at, m.reason) for m in lead.stages],
    )


def samples_of(
    history: SyntheticHistory, question: Question = QUESTION
) -> list[tuple[Sample, SyntheticLead]]:
    found = []
    for i, lead in enumerate(history.leads):
        sample = sample_of(history_of(i, lead), question, RULES, history.now)
        if not isinstance(sample, str):
            found.append((sample, lead))
    return found


@pytest.fixture(scope="module")
def history() -> SyntheticHistory:
    return generate_history(seed=5, leads=4_000)


@pytest.fixture(scope="module")
def samples(history: SyntheticHistory) -> list[tuple[Sample, SyntheticLead]]:
    return samples_of(history)


def test_the_same_seed_gives_the_same_history() -> None:
    assert generate_history(3, 50) == generate_history(3, 50)
    assert generate_history(3, 50) != generate_history(4, 50)


def test_no_lead_inside_its_horizon_is_labelled(
    history: SyntheticHistory, samples: list[tuple[Sample, SyntheticLead]]
) -> None:
    inside = sum(
        1 for lead in history.leads if lead.created_at + SNAPSHOT_AFTER + QUESTION.horizon > history.now
    )
    assert inside > 0
    assert len(samples) == len(history.leads) - inside
    assert all(sample.at + QUESTION.horizon <= history.now for sample, _ in samples)
    backtest = evaluate(
        [s for s, _ in samples], threshold=history.threshold, left_out={"horizon not over yet": inside}
    )
    assert backtest.as_dict()["left_out"] == {"horizon not over yet": inside}


def test_the_score_at_the_snapshot_uses_nothing_recorded_later(
    samples: list[tuple[Sample, SyntheticLead]],
) -> None:
    checked = 0
    for sample, lead in samples:
        if any(e.kind == "recycle" and e.at <= sample.at for e in lead.ledger):
            continue  # halved by sales before the snapshot: not a sum of rule points
        rule_points = (
            *(r.points for r in synthetic_model().behavior),
            *(r.points for r in synthetic_model().fit),
        )
        expected = sum(p * x for p, x in zip(rule_points, lead.features, strict=True))
        assert sample.score == pytest.approx(expected, abs=1e-9)
        assert sample.features == pytest.approx(lead.features)
        later = any(e.at > sample.at for e in lead.ledger)
        checked += later
    assert checked > 100  # many leads have events after their snapshot, and none of them counted


def test_auc_on_the_observable_range_is_the_one_the_true_model_implies(
    history: SyntheticHistory, samples: list[tuple[Sample, SyntheticLead]]
) -> None:
    backtest = evaluate([s for s, _ in samples], threshold=history.threshold)
    assert backtest.auc is not None
    seen = [(s, lead) for s, lead in samples if s.score >= history.threshold]
    truth = expected_auc([s.score for s, _ in seen], [lead.probability for _, lead in seen])
    # The sample AUC scatters around the expected one with (about) its standard error.
    assert abs(backtest.auc.value - truth) <= 3 * backtest.auc.standard_error
    lo, hi = backtest.auc.interval
    assert hi - lo == pytest.approx(2 * Z95 * backtest.auc.standard_error, rel=1e-6)
    # Over everyone the AUC is flattered: the leads kept from sales could not convert.
    assert backtest.auc_all_leads is not None and backtest.auc_all_leads.value > backtest.auc.value + 0.1


def test_no_threshold_is_suggested_below_the_one_in_force(
    history: SyntheticHistory, samples: list[tuple[Sample, SyntheticLead]]
) -> None:
    backtest = evaluate([s for s, _ in samples], threshold=history.threshold, target_rate=0.05)
    assert backtest.suggested_threshold == history.threshold
    assert "never saw leads scoring below 40" in backtest.reason
    assert backtest.unobservable is not None and "below 40" in backtest.unobservable
    below = [band for band in backtest.bands if not band.observable]
    assert len(below) == 1 and below[0].high < history.threshold
    assert all(band.low >= history.threshold for band in backtest.bands if band.observable)


def test_a_higher_target_suggests_a_higher_threshold_whose_leads_reach_it(
    history: SyntheticHistory, samples: list[tuple[Sample, SyntheticLead]]
) -> None:
    backtest = evaluate([s for s, _ in samples], threshold=history.threshold, target_rate=0.7)
    assert backtest.suggested_threshold is not None and backtest.suggested_threshold > history.threshold
    above = [s for s, _ in samples if s.score >= backtest.suggested_threshold]
    assert sum(s.converted for s in above) / len(above) >= 0.7


def test_bands_add_up_and_lift_is_rate_over_the_observable_base_rate(
    history: SyntheticHistory, samples: list[tuple[Sample, SyntheticLead]]
) -> None:
    backtest = evaluate([s for s, _ in samples], threshold=history.threshold, bands=5)
    assert sum(band.leads for band in backtest.bands) == len(samples)
    assert sum(band.converted for band in backtest.bands) == backtest.positives
    seen = [s for s, _ in samples if s.score >= history.threshold]
    base = sum(s.converted for s in seen) / len(seen)
    for band in backtest.bands:
        assert band.lift == pytest.approx(band.rate / base)
    observable = [band for band in backtest.bands if band.observable]
    assert len(observable) == 5
    assert observable[-1].rate > observable[0].rate  # the score ranks within the observable range


def test_too_little_data_gets_a_message_not_a_number() -> None:
    small = samples_of(generate_history(seed=2, leads=60))
    backtest = evaluate([s for s, _ in small], threshold=40)
    assert backtest.auc is None and backtest.suggested_threshold is None
    assert backtest.too_little_data is not None and "at least 10 of each" in backtest.too_little_data
    suggestion = suggest_points([s for s, _ in small], RULES)
    assert suggestion.too_little_data is not None and "70 of each" in suggestion.too_little_data
    assert all(rule.suggested is None for rule in suggestion.rules)


def test_suggested_points_keep_the_sign_and_order_of_the_true_weights(
    samples: list[tuple[Sample, SyntheticLead]],
) -> None:
    suggestion = suggest_points([s for s, _ in samples], RULES)
    assert suggestion.too_little_data is None
    weights = [rule.weight for rule in suggestion.rules]
    assert all(w is not None for w in weights)
    real = [(truth, float(w)) for truth, w in zip(TRUE_WEIGHTS, weights, strict=True) if truth != 0]  # type: ignore[arg-type]
    assert all(math.copysign(1, truth) == math.copysign(1, w) for truth, w in real)
    assert sorted(range(len(real)), key=lambda i: real[i][1]) == sorted(
        range(len(real)), key=lambda i: real[i][0]
    )
    noise = suggestion.rules[0]  # email_open: true weight 0
    assert noise.interval is not None and noise.interval[0] < 0 < noise.interval[1]
    assert not noise.separated_from_zero
    assert all(rule.separated_from_zero for rule in suggestion.rules[1:])
    # Points follow the weights on one scale: k * ln 2 points double the odds.
    k = suggestion.points_to_double_odds / math.log(2)  # type: ignore[operator]
    for rule in suggestion.rules:
        assert rule.suggested == round(k * rule.weight)  # type: ignore[operator]


def test_regression_matches_scikit_learn_on_standardised_columns() -> None:
    linear_model = pytest.importorskip("sklearn.linear_model")
    rng = np.random.default_rng(4)
    x = rng.normal(size=(500, 3)) * [1.0, 3.0, 0.5] + [0.0, 2.0, -1.0]
    y = rng.random(500) < 1 / (1 + np.exp(-(0.3 + x @ [0.8, -0.2, 1.5])))
    fit = fit_logistic(x, y, l2=2.0)
    z = (x - x.mean(axis=0)) / x.std(axis=0)
    reference = linear_model.LogisticRegression(C=1 / 2.0, tol=1e-12, max_iter=10_000).fit(z, y)
    assert fit.converged
    assert fit.coef * x.std(axis=0) == pytest.approx(reference.coef_[0], abs=1e-5)


def test_regression_intervals_cover_the_true_weights_about_95_percent_of_the_time() -> None:
    truth = np.array([1.0, -0.5, 0.0])
    rng = np.random.default_rng(21)
    trials = covered = 0
    for _ in range(200):
        x = np.column_stack([rng.random(400) < 0.4, rng.poisson(2.0, 400), rng.normal(size=400)]).astype(
            float
        )
        y = rng.random(400) < 1 / (1 + np.exp(-(-1.0 + x @ truth)))
        fit = fit_logistic(x, y, l2=1.0)
        inside = np.abs(fit.coef - truth) <= Z95 * fit.standard_error
        covered += int(inside.sum())
        trials += len(truth)
    # Binomial(600, 0.95): standard deviation 5.3; allow 3.5 of them either side.
    assert abs(covered - 0.95 * trials) <= 3.5 * math.sqrt(trials * 0.95 * 0.05)


def test_a_column_that_never_varies_gets_no_weight() -> None:
    x = np.column_stack([np.ones(50), np.arange(50) % 2])
    fit = fit_logistic(x, np.arange(50) % 3 == 0)
    assert math.isnan(fit.coef[0]) and not math.isnan(fit.coef[1])


def test_at_mql_takes_handed_over_leads_at_the_moment_they_qualified(history: SyntheticHistory) -> None:
    question = Question(outcome="sql", at="mql")
    found = samples_of(history, question)
    assert found and all(sample.handed_over for sample, _ in found)
    for sample, lead in found[:200]:
        mql = next(move.at for move in lead.stages if move.to_stage == "mql")
        assert sample.at == mql and sample.score >= history.threshold
    never = sum(1 for lead in history.leads if not lead.stages)
    assert (
        sample_of(
            history_of(0, next(lead for lead in history.leads if not lead.stages)),
            question,
            RULES,
            history.now,
        )
        == "never an MQL"
    )
    assert never > len(found)


def test_the_generated_funnel_reaches_every_stage_only_through_sales(history: SyntheticHistory) -> None:
    stages = {lead.stage for lead in history.leads}
    assert {"lead", "recycled", "sal", "sql", "opportunity", "customer"} <= stages
    for lead in history.leads:
        if lead.stages:
            assert lead.stages[0].to_stage == "mql"
            assert [m.at for m in lead.stages] == sorted(m.at for m in lead.stages)
