"""The streamed, array-based snapshot rebuild agrees with the plain lead-by-lead definition."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy.engine import Engine

from nurture.scoring.backtest import evaluate
from nurture.scoring.sample_columns import SampleColumns
from nurture.scoring.snapshot_stream import read_samples
from nurture.scoring.snapshots import ModelRules, Question, sample_of, samples_one_by_one
from nurture.scoring.suggest import suggest_points
from nurture.scoring.synthetic import SYNTHETIC_THRESHOLD, generate_history, synthetic_model
from nurture.scoring.synthetic_store import load_history
from tests.scoring.test_score_statistics import history_of

RULES = ModelRules.of(synthetic_model())
QUESTIONS = (
    Question(),
    Question(outcome="sal", at="mql", horizon=timedelta(days=30)),
    Question(outcome="customer", at="created+10d", horizon=timedelta(days=200)),
)


@pytest.mark.parametrize("question", QUESTIONS, ids=lambda q: q.describe)
def test_the_streamed_samples_equal_the_lead_by_lead_ones(store: Engine, question: Question) -> None:
    history = generate_history(seed=11, leads=600)
    with store.begin() as conn:
        load_history(conn, history)
    with store.connect() as conn:
        plain = samples_one_by_one(conn, question, RULES, history.now)
        # Small chunks: leads and their lines cross many chunk borders.
        streamed = read_samples(conn, question, RULES, history.now, chunk=97)
    assert list(streamed.left_out.items()) == list(plain.left_out.items())
    assert len(streamed.samples) == len(plain.samples) > 50
    for mine, theirs in zip(streamed.samples, plain.samples, strict=True):
        assert (mine.lead_id, mine.at, mine.converted, mine.handed_over, mine.answer) == (
            theirs.lead_id, theirs.at, theirs.converted, theirs.handed_over, theirs.answer,
        )  # fmt: skip
        assert mine.score == pytest.approx(theirs.score, abs=1e-9)
        assert mine.features == pytest.approx(theirs.features, abs=1e-9)
    threshold = float(SYNTHETIC_THRESHOLD)
    # Every figure of the backtest and the suggestion, from either: the same document.
    assert json.dumps(evaluate(streamed.samples, threshold=threshold).as_dict()) == json.dumps(
        evaluate(plain.samples, threshold=threshold).as_dict()
    )
    assert json.dumps(suggest_points(streamed.samples, RULES).as_dict()) == json.dumps(
        suggest_points(plain.samples, RULES).as_dict()
    )


def test_columns_made_from_samples_give_the_samples_back() -> None:
    history = generate_history(seed=2, leads=300)
    question = Question(at="mql")
    now = history.now
    found = (sample_of(history_of(i, lead), question, RULES, now) for i, lead in enumerate(history.leads))
    samples = [sample for sample in found if not isinstance(sample, str)]
    assert len(samples) > 20 and any(s.answer for s in samples)
    halves = [SampleColumns.of(samples[:10]), SampleColumns.of(samples[10:])]
    joined = SampleColumns.joined(halves, len(RULES.labels))
    assert list(joined) == samples
    assert list(SampleColumns.of([])) == []
    assert joined.months().tolist() == [s.at.strftime("%Y-%m") for s in samples]
