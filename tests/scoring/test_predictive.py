"""The predictive score: trained on the history, stored with its version, used in conditions."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from nurture.definitions import load_program, predictive_check
from nurture.lifecycle import Lifecycle
from nurture.predict.train import data_floor
from nurture.sales.notifications import lead_card
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
    again = json.loads(cli("score", "train", "--json").output)
    assert again["version"] == trained["version"]  # the same history gives the same model
