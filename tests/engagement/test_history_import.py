"""``nurture history import``: the past with its real dates, for the funnel and the backtest;
checked row by row, recorded once, and a record rather than a replay (nothing sent, nobody routed)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from nurture.store.schema import handoffs, leads, messages, score_ledger
from tests.sales.desk import SLA, write_workspace

ENV = {"NURTURE_NOW": "2026-03-02T09:00:00Z"}
LEADS = (
    "email,first_name,country,lifecycle_stage\n"
    "anna@firma.de,Anna,DE,sql\nben@firma.de,Ben,DE,mql\ncara@firma.de,Cara,DE,lead\n"
)
HISTORY = """\
email,from,to,at,reason,actor,amount,currency,type,url
anna@firma.de,,lead,2025-05-01T09:00:00Z,webinar,crm,,,,
anna@firma.de,lead,mql,2025-05-11T09:00:00Z,score,crm,,,,
anna@firma.de,mql,sal,2025-05-13T09:00:00Z,accepted,petra,,,,
anna@firma.de,sal,sql,2025-05-21T09:00:00Z,qualified,petra,5000,eur,,
ben@firma.de,,lead,2025-05-02T09:00:00Z,,,,,,
ben@firma.de,lead,mql,2025-05-22T09:00:00Z,,,,,,
cara@firma.de,,lead,2025-05-03T09:00:00Z,,,,,,
ben@firma.de,,,2025-05-20T10:00:00Z,,,,,page_view,https://taktwerk.example/pricing
"""


@pytest.fixture
def program_workspace(workspace: Path) -> Path:
    # Any score would make an MQL here: history must still route nobody.
    write_workspace(workspace, sla=SLA.replace("lead.score >= 100", "lead.score >= 1"))
    return workspace


def count(store: Engine, table: Any) -> int:
    with store.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(table)) or 0)


def test_history_shows_in_the_funnel_with_its_dates_and_routes_nobody(
    cli: Any, program_workspace: Path, store: Engine
) -> None:
    (program_workspace / "leads.csv").write_text(LEADS, encoding="utf-8")
    assert cli("leads", "import", str(program_workspace / "leads.csv"), env=ENV).exit_code == 0
    path = program_workspace / "history.csv"
    path.write_text(HISTORY, encoding="utf-8")
    first = cli("history", "import", str(path), "--json", env=ENV)
    assert first.exit_code == 0, first.output
    report = json.loads(first.stdout)
    assert (report["stage_changes"], report["events"], report["rejected"]) == (7, 1, 0)
    assert report["leads_moved_back"] == 3
    funnel = json.loads(
        cli("report", "--since", "2025-05-01", "--until", "2025-06-01", "--json", env=ENV).stdout
    )["funnel"]
    by_stage = {s["stage"]: s for s in funnel}
    assert [by_stage[s]["reached"] for s in ("lead", "mql", "sal", "sql")] == [3, 2, 1, 1]
    assert by_stage["mql"]["median_days"] == 15.0  # 10 and 20 days
    assert (by_stage["sal"]["median_days"], by_stage["sql"]["median_days"]) == (2.0, 8.0)
    # The past visit earned its points at its own time, and nobody was routed or mailed.
    with store.connect() as conn:
        ben = conn.scalar(select(leads.c.id).where(leads.c.email == "ben@firma.de"))
        behaviour = conn.execute(
            select(score_ledger.c.points, score_ledger.c.at).where(
                score_ledger.c.lead_id == ben, score_ledger.c.kind == "behavior"
            )
        ).all()
    assert [(p, at.isoformat()) for p, at in behaviour] == [(15.0, "2025-05-20T10:00:00+00:00")]
    assert count(store, handoffs) == 0 and count(store, messages) == 0
    # The backtest sees them: their scores a month after their real start are in the past now.
    evaluated = cli("score", "evaluate", "--outcome", "sql", "--json", env=ENV)
    backtest = json.loads(evaluated.stdout)
    assert (backtest["leads"], backtest["positives"]) == (3, 1), evaluated.output
    again = json.loads(cli("history", "import", str(path), "--json", env=ENV).stdout)
    assert (again["stage_changes"], again["events"], again["already_recorded"]) == (0, 0, 8)


def test_bad_rows_are_named_by_row_and_field(cli: Any, program_workspace: Path, store: Engine) -> None:
    (program_workspace / "leads.csv").write_text(LEADS, encoding="utf-8")
    cli("leads", "import", str(program_workspace / "leads.csv"), env=ENV)
    path = program_workspace / "history.csv"
    path.write_text(
        "email,from,to,at,amount,currency,type\n"
        "anna@firma.de,,lead,2025-05-01T09:00:00Z,,,\n"
        "anna@firma.de,lead,won,2025-05-02T09:00:00Z,,,\n"
        "anna@firma.de,lead,mql,,,,\n"
        "anna@firma.de,lead,mql,2027-01-01T00:00:00Z,,,\n"
        "nobody@firma.de,lead,mql,2025-05-02T09:00:00Z,,,\n"
        "anna@firma.de,sql,customer,2025-06-01T00:00:00Z,lots,EUR,\n"
        "anna@firma.de,,,2025-05-02T09:00:00Z,,,Not A Type\n"
        "anna@firma.de,,mql,2025-05-02T09:00:00Z,,,page_view\n",
        encoding="utf-8",
    )
    result = cli("history", "import", str(path), env=ENV)
    assert result.exit_code == 1
    for expected in (
        "row 3: to: 'won' is not a lifecycle stage",
        "row 4: at: is required: history has real dates",
        "row 5: at: '2027-01-01T00:00:00Z' is in the future",
        "row 6: email: no lead nobody@firma.de; import the leads first",
        "row 7: amount: 'lots' is not an amount of money",
        "row 8: type: 'Not A Type' is not an event type",
        "row 9: a row is a stage change (with 'to') or an event (with 'type')",
    ):
        assert f"{path}: {expected}" in result.output, result.output
    assert "1 stage changes and 0 events recorded" in result.output
