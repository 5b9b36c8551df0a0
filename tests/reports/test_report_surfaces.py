"""One journey through the command line, read back from every surface: text, JSON, CSV, the HTML
page in a real browser, and ``nurture leads list``; all show the same figures."""

from __future__ import annotations

import csv
import json
import shutil
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from nurture.store.schema import events, leads, messages
from tests.browser import chromium
from tests.sales.desk import LEADS, MONDAY, SLA, Desk, team, write_workspace

LENA, MAX, SARA, TOM = "lena@alpenblick.de", "max@bergwerk.at", "sara@gmail.com", "tom@example.us"
COSTS = (
    "- {campaign: trial, month: 2026-03, amount: 3000}\n"
    "- {campaign: newsletter, month: 2026-03, amount: 500}\n"
)


def run(cli: Any, now: datetime, *args: str) -> Any:
    result = cli(*args, env={"NURTURE_NOW": now.isoformat()})
    assert result.exit_code == 0, result.output
    return result


def history(desk: Desk, cli: Any) -> datetime:
    """Lena clicks the welcome email, qualifies, is accepted and buys for 12,000 EUR; Max qualifies and
    waits; Sara and Tom stay leads. Returns the moment the report is read."""
    desk.import_leads(LEADS, MONDAY)
    run(cli, MONDAY, "tick")
    with desk.store.begin() as conn:
        conn.execute(messages.update().values(status="sent", sent_at=MONDAY))
        lena = conn.scalar(select(leads.c.id).where(leads.c.email == LENA))
        welcome = conn.scalar(
            select(messages.c.id).where(messages.c.lead_id == lena, messages.c.step_id == "welcome")
        )
        conn.execute(
            events.insert().values(
                lead_id=lena, message_id=welcome, type="email_click", campaign_key="trial", step_id="welcome",
                occurred_at=MONDAY + timedelta(hours=2), received_at=MONDAY, properties={},
            )
        )  # fmt: skip
    desk.make_mql(LENA, MONDAY + timedelta(hours=3))
    (handoff,) = desk.handoffs(LENA)
    run(cli, MONDAY + timedelta(hours=4), "sales", "accept", LENA, "--actor", str(handoff.rep_id))
    run(cli, MONDAY + timedelta(days=8), "sales", "convert", LENA, "--stage", "sql", "--reason", "budget")
    run(
        cli, MONDAY + timedelta(days=20), "sales", "convert", LENA, "--stage", "customer",
        "--reason", "signed", "--amount", "12000", "--currency", "eur",
    )  # fmt: skip
    desk.make_mql(MAX, MONDAY + timedelta(days=1))
    return MONDAY + timedelta(days=25)


@pytest.fixture
def journeyed(desk: Desk, cli: Any) -> datetime:
    # Max waits at MQL: with stale_after 2d he is stuck by the time the report is read.
    sla = SLA + "stale_after: {mql: 2d}\n"
    write_workspace(desk.root, sla=sla, sales_team=team())
    (desk.root / "costs.yaml").write_text(COSTS, encoding="utf-8")
    desk.reload()
    return history(desk, cli)


def test_json_has_the_documented_keys_and_figures(journeyed: datetime, cli: Any) -> None:
    data = json.loads(run(cli, journeyed, "report", "--json", "--attribution", "first").output)
    assert {"funnel", "velocity", "stuck", "campaigns", "sla", "attribution", "experiments"} <= set(data)
    assert data["experiments"] == []
    funnel = {s["stage"]: s for s in data["funnel"]}
    assert [funnel[s]["reached"] for s in ("lead", "mql", "sal", "sql", "opportunity", "customer")] == [
        4, 2, 1, 1, 1, 1,
    ]  # fmt: skip
    assert all(set(s) >= {"stage", "reached", "rate", "median_days"} for s in data["funnel"])
    assert funnel["customer"]["rate"] == 1.0 and funnel["opportunity"]["skipped"] == 1
    assert [(s["email"], s["stage"]) for s in data["stuck"]["leads"]] == [(MAX, "mql")]
    assert data["stuck"]["limits_days"]["mql"] == 2.0
    credits = {(c["campaign"], c["step"]): c for c in data["attribution"]["credits"]}
    assert credits[("trial", "welcome")]["customers"] == 1.0
    assert credits[("trial", "welcome")]["revenue"] == {"EUR": 12000.0}
    assert credits[("(no touch)", "")]["mqls"] == 1.0  # Max never engaged
    money = data["money"]
    assert money["revenue"] == {"EUR": 12000.0} and money["average_deal"] == {"EUR": 12000.0}
    trial = next(c for c in money["campaigns"] if c["campaign"] == "trial")
    assert (trial["cost"], trial["cost_per_customer"], trial["roi"]) == (3000.0, 3000.0, 3.0)
    assert data["sla"]["by_rep"] and data["velocity"]["legs"][0]["leg"] == "lead -> mql"
    # Both MQLs had the trial welcome and the newsletter before qualifying.
    assert (data["touches"]["mqls"], data["touches"]["median_emails"]) == (2, 2.0)
    shown = json.loads(run(cli, journeyed, "leads", "show", LENA, "--json").output)
    deal = shown["stage_history"][-1]
    assert (deal["to"], deal["amount"], deal["currency"]) == ("customer", 12000.0, "EUR")


def test_breakdowns_and_weekly_balance(journeyed: datetime, cli: Any) -> None:
    data = json.loads(run(cli, journeyed, "report", "--json", "--by", "country", "--every", "week").output)
    groups = {g["value"]: g for g in data["breakdown"]["groups"]}
    assert set(groups) == {"DE", "AT", "CH", "US"}
    assert groups["DE"]["funnel"][-1]["reached"] == 1 and groups["AT"]["funnel"][1]["reached"] == 1
    periods = {row["period"] for row in data["balance"]["rows"]}
    assert "2026-03-02" in periods and "2026-03-23" in periods
    by_campaign = json.loads(run(cli, journeyed, "report", "--json", "--by", "campaign").output)
    assert {g["value"] for g in by_campaign["breakdown"]["groups"]} <= {"trial", "newsletter", "(none)"}


def test_csv_files_hold_the_json_figures(journeyed: datetime, cli: Any, tmp_path: Path) -> None:
    data = json.loads(run(cli, journeyed, "report", "--json").output)
    run(cli, journeyed, "report", "--csv", str(tmp_path / "csv"))
    with (tmp_path / "csv" / "funnel.csv").open(encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    assert [(r["stage"], int(r["reached"])) for r in rows] == [
        (s["stage"], s["reached"]) for s in data["funnel"]
    ]
    assert {p.name for p in (tmp_path / "csv").iterdir()} >= {
        "funnel.csv", "velocity.csv", "stuck.csv", "attribution.csv", "money.csv", "reps.csv", "balance.csv",
    }  # fmt: skip


def test_text_report_and_leads_list(journeyed: datetime, cli: Any) -> None:
    text = run(cli, journeyed, "report").output
    assert "Funnel" in text and "Velocity" in text and "Stuck leads" in text and MAX in text
    stale = json.loads(run(cli, journeyed, "leads", "list", "--stage", "mql", "--stale", "--json").output)
    assert [(x["email"], x["stale_limit_days"]) for x in stale] == [(MAX, 2.0)]
    assert stale[0]["days_in_stage"] == 24.0
    found = json.loads(run(cli, journeyed, "leads", "list", "--search", "ALPEN", "--json").output)
    assert [x["email"] for x in found] == [LENA] and found[0]["stage"] == "customer"
    assert json.loads(run(cli, journeyed, "leads", "list", "--search", "%", "--json").output) == []
    listed = json.loads(run(cli, journeyed, "leads", "list", "--campaign", "trial", "--json").output)
    assert LENA in {x["email"] for x in listed} and TOM not in {x["email"] for x in listed}  # DACH only
    assert "leads" in run(cli, journeyed, "leads", "list", "--owner", "anna").output


def test_costs_file_errors_name_the_entry_and_field(journeyed: datetime, cli: Any, desk: Desk) -> None:
    (desk.root / "costs.yaml").write_text(COSTS + "- {campaign: trial, month: March, amount: 5}\n")
    result = cli("report", env={"NURTURE_NOW": journeyed.isoformat()})
    assert result.exit_code == 1 and "costs.yaml: entry 3: month 'March' is not YYYY-MM" in result.output


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed")
def test_the_page_renders_offline_in_a_real_browser(journeyed: datetime, cli: Any, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    run(cli, journeyed, "report", "--html", str(page))
    html = page.read_text(encoding="utf-8")
    assert "<script" not in html and "http://" not in html and "https://" not in html  # nothing fetched
    assert html.count("<svg") >= 4  # waterfall, velocity trend, stage balance, attribution
    dom = chromium(page.as_uri(), tmp_path / "profile", timeout=90)
    for heading in ("Cohort waterfall", "Velocity", "Stage balance", "Attribution", "Sales and the SLA"):
        assert heading in dom
    assert MAX in dom and "polyline" in dom


def test_a_report_failing_before_its_journeys_leaves_no_backtest_waiting(
    journeyed: datetime, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Score health's backtest waits for the stage changes the journeys hand over; when the
    report fails before reading them, the command closes the hand-over, and the backtest reads
    them itself instead of waiting for ever."""
    import nurture.cli.report as command
    from nurture.reports.workspace_report import BacktestBeside

    made: list[BacktestBeside] = []

    class Seen(BacktestBeside):
        def __init__(self) -> None:
            super().__init__()
            made.append(self)

    def failing(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the report failed before its journeys")

    monkeypatch.setattr(command, "BacktestBeside", Seen)
    monkeypatch.setattr(command, "workspace_report", failing)
    done: list[Any] = []
    running = threading.Thread(
        target=lambda: done.append(cli("report", "--json", env={"NURTURE_NOW": journeyed.isoformat()})),
        daemon=True,
    )
    running.start()
    running.join(60)
    if running.is_alive():  # let the waiting backtest go, so that the run can end, then fail
        for shared in made:
            shared.moves.close()
        running.join(60)
        pytest.fail("the backtest waited for stage changes that nobody would hand over")
    assert made and done[0].exit_code != 0
    assert isinstance(done[0].exception, RuntimeError)
