"""`nurture score evaluate` and `score suggest` over a generated history loaded into the store."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy.engine import Engine

from nurture.scoring.synthetic import SYNTHETIC_MODEL_YAML, SyntheticHistory, generate_history
from nurture.scoring.synthetic_store import load_history
from tests.sales.desk import SLA, write_workspace

Cli = Callable[..., Any]


@pytest.fixture(scope="module")
def history() -> SyntheticHistory:
    """A fixed seed makes the same (frozen) history for every test: generated once, loaded per test."""
    return generate_history(seed=8, leads=1_500)


@pytest.fixture
def history_workspace(workspace: Path, store: Engine, history: SyntheticHistory) -> str:
    write_workspace(workspace, scoring=SYNTHETIC_MODEL_YAML, sla=SLA.replace(">= 100", ">= 40"))
    with store.begin() as conn:
        load_history(conn, history)
    return history.now.isoformat()


def test_evaluate_prints_the_backtest_as_json(
    cli: Cli, history_workspace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NURTURE_NOW", history_workspace)
    result = cli("score", "evaluate", "--outcome", "sql", "--horizon", "90d", "--json")
    assert result.exit_code == 0, result.output
    found = json.loads(result.output)
    assert {"leads", "positives", "auc", "auc_interval", "bands", "suggested_threshold"} <= found.keys()
    assert found["leads"] > 500 and found["left_out"]["horizon not over yet"] > 0
    assert 0.5 < found["auc"] < 0.8 and found["auc_interval"][0] < found["auc"] < found["auc_interval"][1]
    assert all({"from", "to", "leads", "converted", "rate", "lift"} <= band.keys() for band in found["bands"])
    assert found["mql_threshold"] == 40 and "below 40" in found["unobservable"]
    assert found["suggested_threshold"] == 40


def test_evaluate_in_words_names_what_cannot_be_observed(
    cli: Cli, history_workspace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NURTURE_NOW", history_workspace)
    result = cli("score", "evaluate", "--at", "mql", "--bands", "4")
    assert result.exit_code == 0, result.output
    assert "AUC (observable range)" in result.output
    assert "not observable: scores below 40" in result.output
    assert "MQL threshold in force: 40" in result.output


def test_evaluate_with_too_little_data_says_how_much_is_needed(
    cli: Cli, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_workspace(workspace, scoring=SYNTHETIC_MODEL_YAML)
    result = cli("score", "evaluate", "--json")
    assert result.exit_code == 0, result.output
    found = json.loads(result.output)
    assert found["auc"] is None and found["suggested_threshold"] is None
    assert "at least 10 of each" in found["suggested_threshold_reason"]


def test_suggest_writes_a_model_the_marketer_can_adopt(
    cli: Cli, history_workspace: str, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NURTURE_NOW", history_workspace)
    target = workspace / "suggested.yaml"
    result = cli("score", "suggest", "--json", "--write", str(target))
    assert result.exit_code == 0, result.output
    found = json.loads(result.output[: result.output.rindex("}") + 1])
    rules = found["rules"]
    assert [rule["rule"] for rule in rules][:2] == ["behavior: email_open", "behavior: email_click"]
    assert all({"rule", "points", "suggested", "interval"} <= rule.keys() for rule in rules)
    written = yaml.safe_load(target.read_text(encoding="utf-8"))
    assert written["kind"] == "ScoringModel"
    assert [rule["points"] for rule in written["behavior"] + written["fit"]] == [
        rule["suggested"] for rule in rules
    ]
    check = cli("check")
    assert check.exit_code == 0, check.output


def test_the_report_has_a_score_health_section_in_json_text_and_html(
    cli: Cli, history_workspace: str, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NURTURE_NOW", history_workspace)
    result = cli("report", "--json")
    assert result.exit_code == 0, result.output
    health = json.loads(result.output)["score_health"]
    backtest = json.loads(cli("score", "evaluate", "--json").output)
    assert health["auc"] == backtest["auc"] and health["bands"] == backtest["bands"]
    assert health["mql_threshold"] == 40 and health["suggested_threshold"] == 40
    text = cli("report")
    assert "Score health (sql within 90d" in text.output and "MQL threshold in force 40" in text.output
    page = workspace / "report.html"
    assert cli("report", "--html", str(page)).exit_code == 0
    html = page.read_text(encoding="utf-8")
    assert "<section id='score-health'>" in html and html.index("score-health") < html.index("</body>")
    assert "Lift by score band" in html and "Calibration" in html
