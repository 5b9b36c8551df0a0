"""The predictive score: trained on the history, stored with its version, used in conditions."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from nurture.definitions import load_program, predictive_check
from nurture.lifecycle import Lifecycle
from nurture.predict.features import feature_names
from nurture.predict.stored import PredictiveModel, save_model
from nurture.predict.train import data_floor
from nurture.sales.notifications import lead_card
from nurture.scoring.snapshots import ModelRules
from nurture.scoring.synthetic import SYNTHETIC_MODEL_YAML, generate_history
from nurture.scoring.synthetic_store import load_history
from nurture.store.schema import leads
from nurture.workspace import Workspace
from tests.sales.desk import SLA, write_workspace

Cli = Callable[..., Any]
PROBABILITY_SLA = SLA.replace(
    '">= 100"', '"lead.score >= 40 or (lead.conversion_probability or 0) >= 0.9"'
).replace(
    'mql: {when: "lead.score >= 100"}',
    'mql: {when: "lead.score >= 40 or (lead.conversion_probability or 0) >= 0.9"}',
)


def test_a_definition_naming_the_probability_needs_the_extra(
    cli: Cli, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_workspace(workspace, scoring=SYNTHETIC_MODEL_YAML, sla=PROBABILITY_SLA)
    monkeypatch.setattr(predictive_check, "extra_installed", lambda: False)
    result = cli("check")
    assert result.exit_code == 1
    assert "campaigns/sales.yaml:3:" in result.output
    assert "lead.conversion_probability is the predictive score, which needs its extra" in result.output
    monkeypatch.setattr(predictive_check, "extra_installed", lambda: True)
    assert cli("check").exit_code == 0


def test_training_below_the_data_floor_is_refused_with_the_floor_named(
    cli: Cli, workspace: Path, store: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("sklearn")
    write_workspace(workspace, scoring=SYNTHETIC_MODEL_YAML, sla=SLA.replace(">= 100", ">= 40"))
    history = generate_history(seed=3, leads=300)
    with store.begin() as conn:
        load_history(conn, history)
    monkeypatch.setenv("NURTURE_NOW", history.now.isoformat())
    result = cli("score", "train")
    assert result.exit_code == 1
    assert data_floor(10) == 100 and data_floor(12) == 120
    assert "too little data to train" in result.output and "at least 100 of each" in result.output


def test_train_stores_a_versioned_model_and_every_lead_gets_a_probability(
    cli: Cli, workspace: Path, store: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("sklearn")
    write_workspace(workspace, scoring=SYNTHETIC_MODEL_YAML, sla=PROBABILITY_SLA)
    history = generate_history(seed=4, leads=4_000)
    with store.begin() as conn:
        load_history(conn, history)
    monkeypatch.setenv("NURTURE_NOW", history.now.isoformat())
    result = cli("score", "train", "--json")
    assert result.exit_code == 0, result.output
    trained = json.loads(result.output)
    assert len(trained["version"]) == 12 and trained["positives"] >= 100
    assert 0.55 < trained["held_out_auc"] < 0.9
    assert trained["weights"]["fit: lead.email_domain in free_mail_domains"] < 0
    assert trained["leads_refreshed"] == 4_000
    with store.connect() as conn:
        missing = conn.scalar(select(func.count()).where(leads.c.conversion_probability.is_(None)))
        low, high = conn.execute(
            select(func.min(leads.c.conversion_probability), func.max(leads.c.conversion_probability))
        ).one()
    assert missing == 0 and 0 <= low < high <= 1
    shown = json.loads(cli("leads", "show", history.leads[0].email, "--json").output)
    predicted = shown["conversion_probability"]
    assert predicted["model_version"] == trained["version"] and 0 <= predicted["probability"] <= 1
    assert 1 <= len(predicted["top_factors"]) <= 3
    place = Workspace(workspace)
    chain = Lifecycle.of(load_program(place), place.settings)
    with store.connect() as conn:
        card = lead_card(conn, chain.sales, 1, history.now, chain.sales.reader(None, "Europe/Berlin"))
    assert card["prediction"]["percent"].endswith("%") and card["prediction"]["factors"]
    summary = json.loads(cli("report", "--json").output)["score_health"]["predictive"]
    assert summary["version"] == trained["version"] and summary["held_out_auc"] == trained["held_out_auc"]
    assert len(summary["top_factors"]) == 5
    likeliest = summary["likeliest_leads"]
    assert len(likeliest) == 10 and {lead["stage"] for lead in likeliest} <= {"subscriber", "lead"}
    assert [lead["probability"] for lead in likeliest] == sorted(
        (lead["probability"] for lead in likeliest), reverse=True
    )
    first = json.loads(cli("leads", "show", likeliest[0]["email"], "--json").output)["conversion_probability"]
    assert likeliest[0]["top_factors"] == first["top_factors"]  # the same lead, the same reasons
    page = workspace / "report.html"
    assert cli("report", "--html", str(page)).exit_code == 0
    html = page.read_text(encoding="utf-8")
    assert "Predictive score" in html and likeliest[0]["email"] in html
    again = json.loads(cli("score", "train", "--json").output)
    assert again["version"] == trained["version"]  # the same history gives the same model


def test_a_change_to_a_lead_refreshes_its_probability_before_the_mql_rule_reads_it(
    cli: Cli, workspace: Path, store: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A model with a known answer: only clicks count (a feature of 1 per scored click); one click
    # takes the probability from sigmoid(-6) (0.25 %) to sigmoid(6) (99.75 %), while the score
    # alone (5 points) stays below the rule's 40.
    write_workspace(workspace, scoring=SYNTHETIC_MODEL_YAML, sla=PROBABILITY_SLA)
    place = Workspace(workspace)
    program = load_program(place)
    assert program.scoring_model is not None
    names = feature_names(ModelRules.of(program.scoring_model))
    click = names.index("behavior: email_click")
    start = datetime(2026, 3, 2, 9, tzinfo=UTC)
    model = PredictiveModel(
        names, (0.0,) * len(names), (1.0,) * len(names),
        tuple(12.0 if i == click else 0.0 for i in range(len(names))), -6.0,
        start, start, start, "sql", 1_000, 200, 0.8,
    )  # fmt: skip
    with store.begin() as conn:
        save_model(conn, model)
    monkeypatch.setenv("NURTURE_NOW", start.isoformat())
    leads_file = workspace / "leads.csv"
    leads_file.write_text("email,first_name\nolga@kesselhaus.de,Olga\n", encoding="utf-8")
    assert cli("leads", "import", str(leads_file)).exit_code == 0
    before = json.loads(cli("leads", "show", "olga@kesselhaus.de", "--json").output)
    assert before["lifecycle_stage"] == "lead"
    assert before["conversion_probability"]["probability"] == pytest.approx(0.0025, abs=1e-4)
    events = workspace / "events.jsonl"
    events.write_text(
        json.dumps({"type": "email_click", "email": "olga@kesselhaus.de", "occurred_at": start.isoformat()})
        + "\n",
        encoding="utf-8",
    )
    assert cli("events", "import", str(events)).exit_code == 0
    with store.connect() as conn:
        stored, stage, score = conn.execute(
            select(leads.c.conversion_probability, leads.c.lifecycle_stage, leads.c.score).where(
                leads.c.email == "olga@kesselhaus.de"
            )
        ).one()
    assert stored == pytest.approx(0.9975, abs=1e-4)  # written with the event, not an hour later
    assert (stage, score) == ("mql", 5)  # the probability arm of the MQL rule held
