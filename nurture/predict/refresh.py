"""Refresh every lead's ``conversion_probability`` from the latest predictive model, in batches."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, select
from sqlalchemy.engine import Engine

from nurture.definitions import Program
from nurture.predict.features import feature_names, feature_vector
from nurture.predict.stored import PredictiveModel, latest_model
from nurture.scoring.snapshots import ModelRules, read_history_page, read_lead_histories
from nurture.store import bulk
from nurture.store.schema import leads, predictive_models


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


class LeadPredictions:
    """Keeps the changed leads' ``conversion_probability`` current inside the chain's transaction.

    The chain asks it after every change to a lead (events, fields, points), before the MQL rule
    runs, so a rule naming ``lead.conversion_probability`` never decides on a stale figure. The
    stored model is read again only when a newer one was trained.
    """

    def __init__(self, program: Program) -> None:
        model_def = program.scoring_model
        self._rules = ModelRules.of(model_def) if model_def is not None else None
        self._model: PredictiveModel | None = None

    def refresh(
        self, conn: Connection, lead_ids: Sequence[int], now: datetime
    ) -> dict[int, tuple[float | None, float]]:
        """Write these leads' probabilities at ``now``; returns (before, now) by lead id, empty
        without a model or when the model was trained on other scoring rules."""
        model = self._current_model(conn)
        if model is None or self._rules is None or not lead_ids:
            return {}
        ids = sorted(set(lead_ids))
        column = leads.c.conversion_probability
        rows = conn.execute(select(leads.c.id, column).where(leads.c.id.in_(ids))).all()
        before = {int(lead_id): probability for lead_id, probability in rows}
        changed: dict[int, tuple[float | None, float]] = {}
        for history in read_lead_histories(conn, list(before)):
            probability = model.probability(feature_vector(history, now, self._rules))
            old = before.get(history.lead_id)
            if old is None or abs(float(old) - probability) > 1e-9:
                changed[history.lead_id] = (None if old is None else float(old), probability)
        bulk.executemany(
            conn,
            "UPDATE leads SET conversion_probability = :p WHERE id = :id",
            [{"id": lead_id, "p": now_p} for lead_id, (_, now_p) in changed.items()],
        )
        return changed

    def _current_model(self, conn: Connection) -> PredictiveModel | None:
        p = predictive_models.c
        version = conn.scalar(select(p.version).order_by(p.trained_at.desc(), p.id.desc()).limit(1))
        if version is None:
            return None
        if self._model is None or self._model.version != version:
            self._model = latest_model(conn)
        model = self._model
        if model is None or self._rules is None or feature_names(self._rules) != model.features:
            return None
        return model
