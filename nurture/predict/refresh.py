"""Refresh every lead's ``conversion_probability`` from the latest predictive model, in batches."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection
from sqlalchemy.engine import Engine

from nurture.definitions import Program
from nurture.predict.features import feature_names, feature_vector
from nurture.predict.stored import PredictiveModel, latest_model
from nurture.scoring.snapshots import ModelRules, read_history_page
from nurture.store import bulk


def refresh_probabilities(db: Engine, program: Program, now: datetime) -> int:
    """Write each lead's probability at ``now``; returns how many leads were refreshed (0 without
    a model, or when the scoring model's rules are no longer the ones it was trained on)."""
    model_def = program.scoring_model
    with db.connect() as conn:
        model = latest_model(conn)
    if model is None or model_def is None:
        return 0
    rules = ModelRules.of(model_def)
    if feature_names(rules) != model.features:
        return 0  # trained on other rules: `nurture score train` again
    done = after = 0
    while True:
        with db.connect() as conn:  # read, then write: SQLite allows one writer and no reader then
            page = read_history_page(conn, after)
        if not page:
            return done
        after = page[-1].lead_id
        rows = [{"id": h.lead_id, "p": model.probability(feature_vector(h, now, rules))} for h in page]
        with db.begin() as conn:
            bulk.executemany(conn, "UPDATE leads SET conversion_probability = :p WHERE id = :id", rows)
        done += len(rows)


def explain(conn: Connection, program: Program, lead_id: int, now: datetime) -> dict[str, object] | None:
    """The lead's probability now with its top factors, for ``leads show``; None without a model."""
    model_def = program.scoring_model
    model: PredictiveModel | None = latest_model(conn)
    if model is None or model_def is None:
        return None
    rules = ModelRules.of(model_def)
    if feature_names(rules) != model.features:
        return {"model_version": model.version, "stale": "trained on other scoring rules: train again"}
    for history in read_history_page(conn, lead_id - 1, 1):
        if history.lead_id != lead_id:
            break
        x = feature_vector(history, now, rules)
        return {
            "probability": round(model.probability(x), 4), "model_version": model.version,
            "held_out_auc": model.held_out_auc, "top_factors": model.top_factors(x),
        }  # fmt: skip
    return None
