"""The predictive score in the report: the stored model and the open leads it rates likeliest to
convert, each with the factors behind its figure, so marketing can see what the model sees.

The probabilities are those stored on the leads (refreshed when a lead changes and hourly); the
factors are worked out again here from each lead's ledger at the report's moment.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from markupsafe import Markup
from sqlalchemy import Connection, select

from nurture.definitions import Program
from nurture.predict.features import feature_names, feature_vector
from nurture.predict.stored import PredictiveModel, latest_model
from nurture.scoring.snapshots import ModelRules, read_lead_histories
from nurture.store.schema import leads

LIKELIEST = 10
# Leads marketing still nurtures: those with sales already have an owner watching them.
OPEN_STAGES = ("subscriber", "lead")


def predictive_section(conn: Connection, program: Program, now: datetime) -> dict[str, Any] | None:
    """The model's summary and its likeliest open leads; None before the first training."""
    model = latest_model(conn)
    if model is None:
        return None
    section = predictive_summary(model)
    section["likeliest_leads"] = likeliest_leads(conn, program, model, now)
    return section


def predictive_summary(model: PredictiveModel) -> dict[str, Any]:
    """The stored predictive model: its version, window, held-out AUC and strongest factors."""
    weights = sorted(zip(model.features, model.coef, strict=True), key=lambda item: -abs(item[1]))
    return {
        "version": model.version, "outcome": model.outcome, "trained_at": model.trained_at.isoformat(),
        "window": [model.window_from.isoformat(), model.window_to.isoformat()],
        "held_out_auc": model.held_out_auc, "leads": model.leads, "positives": model.positives,
        "top_factors": [
            {"feature": name, "effect": "raises" if weight > 0 else "lowers",
             "log_odds_per_standard_deviation": round(weight, 3)}
            for name, weight in weights[:5]
        ],
    }  # fmt: skip


def likeliest_leads(
    conn: Connection, program: Program, model: PredictiveModel, now: datetime, count: int = LIKELIEST
) -> list[dict[str, Any]]:
    """The open leads with the highest stored probability, each with its top factors now (empty
    when the scoring rules changed since training: the factors would name rules that are gone)."""
    scoring = program.scoring_model
    if scoring is None:
        return []
    rules = ModelRules.of(scoring)
    if feature_names(rules) != model.features:
        return []
    probability = leads.c.conversion_probability
    rows = conn.execute(
        select(leads.c.id, leads.c.email, leads.c.lifecycle_stage, probability)
        .where(probability.is_not(None), leads.c.lifecycle_stage.in_(OPEN_STAGES))
        .order_by(probability.desc(), leads.c.id)
        .limit(count)
    ).all()
    histories = {h.lead_id: h for h in read_lead_histories(conn, [int(row[0]) for row in rows])}
    found = []
    for lead_id, email, stage, stored in rows:
        history = histories.get(int(lead_id))
        factors = [] if history is None else model.top_factors(feature_vector(history, now, rules))
        found.append(
            {"email": email, "stage": stage, "probability": round(float(stored), 4), "top_factors": factors}
        )
    return found


def predictive_lines(section: dict[str, Any] | None) -> list[str]:
    """The section as plain text lines (none before the first training)."""
    if section is None:
        return []
    auc = section["held_out_auc"]
    lines = [
        f"Predictive score {section['version']} (outcome {section['outcome']}, held-out AUC "
        f"{'-' if auc is None else f'{auc:.3f}'}, trained on {section['leads']} leads)"
    ]
    if section["likeliest_leads"]:
        lines.append("  Likeliest open leads:")
    for lead in section["likeliest_leads"]:
        lines.append(
            f"  {lead['probability']:>6.1%}  {lead['email']}  ({_factors_text(lead['top_factors'])})"
        )
    return lines


def predictive_html(section: dict[str, Any] | None) -> Markup:
    """The section as HTML: the model and a table of the likeliest open leads (escaped text)."""
    if section is None:
        return Markup("")
    auc = section["held_out_auc"]
    parts = [
        Markup("<section id='predictive-score'><h2>Predictive score</h2>"),
        Markup("<p>Model {} (outcome {}), held-out AUC {}, trained on {} leads ({} converted).</p>").format(
            section["version"], section["outcome"], "–" if auc is None else f"{auc:.3f}",
            section["leads"], section["positives"],
        ),
    ]  # fmt: skip
    if section["likeliest_leads"]:
        parts.append(Markup("<table><tr><th>Lead</th><th>Stage</th><th>Probability</th><th>Why</th></tr>"))
        for lead in section["likeliest_leads"]:
            parts.append(
                Markup("<tr><td>{}</td><td>{}</td><td>{:.1%}</td><td>{}</td></tr>").format(
                    lead["email"], lead["stage"], lead["probability"], _factors_text(lead["top_factors"])
                )
            )
        parts.append(Markup("</table>"))
    parts.append(Markup("</section>"))
    return Markup("").join(parts)


def _factors_text(factors: list[dict[str, Any]]) -> str:
    return ", ".join(f"{factor['feature']} {factor['effect']} it" for factor in factors) or "no single factor"
