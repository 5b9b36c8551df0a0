"""A trained predictive model as stored: plain numbers, applied with numpy alone."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from nurture.store.schema import predictive_models


@dataclass(frozen=True)
class PredictiveModel:
    """``P = sigmoid(intercept + sum(coef * (x - mean) / scale))`` over named features."""

    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float
    trained_at: datetime
    window_from: datetime
    window_to: datetime
    outcome: str
    leads: int
    positives: int
    held_out_auc: float | None

    @property
    def parameters(self) -> dict[str, Any]:
        return {"features": list(self.features), "mean": list(self.mean), "scale": list(self.scale),
                "coef": list(self.coef), "intercept": self.intercept}  # fmt: skip

    @property
    def version(self) -> str:
        """A content hash of the parameters: the same fit gives the same version."""
        content = json.dumps(self.parameters, sort_keys=True)
        return hashlib.sha256(content.encode("utf-8")).hexdigest()[:12]

    def contributions(self, x: Sequence[float]) -> list[float]:
        return [c * (v - m) / s for c, v, m, s in zip(self.coef, x, self.mean, self.scale, strict=True)]

    def probability(self, x: Sequence[float]) -> float:
        z = self.intercept + sum(self.contributions(x))
        return 1.0 / (1.0 + math.exp(-max(-35.0, min(35.0, z))))

    def top_factors(self, x: Sequence[float], count: int = 3) -> list[dict[str, Any]]:
        """The features that move this lead's probability most, with the direction."""
        ranked = sorted(
            zip(self.features, self.contributions(x), strict=True), key=lambda item: -abs(item[1])
        )
        return [
            {"feature": name, "effect": "raises" if value > 0 else "lowers", "log_odds": round(value, 3)}
            for name, value in ranked[:count]
            if abs(value) > 1e-9
        ]


def save_model(conn: Connection, model: PredictiveModel) -> str:
    """Store the model (once per version); returns its version."""
    version = model.version
    if conn.scalar(select(predictive_models.c.id).where(predictive_models.c.version == version)) is None:
        conn.execute(
            predictive_models.insert().values(
                version=version, trained_at=model.trained_at, window_from=model.window_from,
                window_to=model.window_to, outcome=model.outcome, leads=model.leads,
                positives=model.positives, held_out_auc=model.held_out_auc, parameters=model.parameters,
            )
        )  # fmt: skip
    return version


def latest_model(conn: Connection) -> PredictiveModel | None:
    """The most recently trained model, or None before the first training."""
    p = predictive_models.c
    row = conn.execute(select(predictive_models).order_by(p.trained_at.desc(), p.id.desc()).limit(1)).first()
    if row is None:
        return None
    values = row.parameters
    return PredictiveModel(
        tuple(values["features"]), tuple(values["mean"]), tuple(values["scale"]), tuple(values["coef"]),
        float(values["intercept"]), row.trained_at, row.window_from, row.window_to, row.outcome, row.leads,
        row.positives, row.held_out_auc,
    )  # fmt: skip
