"""The report's former mistakes, each replayed through the command line on a pinned clock."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.sales.desk import LEADS, MONDAY, Desk

LENA, MAX = "lena@alpenblick.de", "max@bergwerk.at"


def run(cli: Any, now: datetime, *args: str) -> Any:
    result = cli(*args, env={"NURTURE_NOW": now.isoformat()})
    assert result.exit_code == 0, result.output
    return result


def report(cli: Any, now: datetime, *args: str) -> dict[str, Any]:
    return json.loads(run(cli, now, "report", "--json", *args).output)  # type: ignore[no-any-return]


def test_a_lead_converted_straight_to_customer_passes_every_stage_once(desk: Desk, cli: Any) -> None:
    desk.import_leads(LEADS, MONDAY)
    later = MONDAY + timedelta(days=3)
    run(
        cli, later, "sales", "convert", LENA, "--stage", "customer", "--reason", "signed", "--amount", "12000"
    )
    for args in ((), ("--since", MONDAY.isoformat()), ("--since", (MONDAY + timedelta(days=1)).isoformat())):
        data = report(cli, later + timedelta(hours=1), *args)
        assert all(s["rate"] is None or s["rate"] <= 1 for s in data["funnel"]), data["funnel"]
    funnel = {s["stage"]: s for s in report(cli, later + timedelta(hours=1))["funnel"]}
    assert [funnel[s]["reached"] for s in ("lead", "mql", "sal", "sql", "opportunity", "customer")] == [
        4, 1, 1, 1, 1, 1,
    ]  # fmt: skip
    assert funnel["mql"]["rate"] == 0.25 and funnel["customer"]["rate"] == 1.0
    # Skipped stages are reported apart and have no time of their own.
    assert [funnel[s]["skipped"] for s in ("lead", "mql", "sal", "sql", "opportunity", "customer")] == [
        0, 1, 1, 1, 1, 0,
    ]  # fmt: skip
    assert funnel["mql"]["median_days"] is None and funnel["customer"]["median_days"] == 3.0
    assert funnel["customer"]["still_open"] == 1 and funnel["lead"]["still_open"] == 3
    # Read as of a moment before the deal, the history stands as it was then.
    before = {s["stage"]: s for s in report(cli, MONDAY + timedelta(days=1))["funnel"]}
    assert before["customer"]["reached"] == 0 and before["lead"]["still_open"] == 4


def test_hours_to_answer_are_the_reps_working_hours_and_timeouts_are_no_answers(desk: Desk, cli: Any) -> None:
    desk.import_leads(LEADS, MONDAY)
    friday_evening = datetime(2026, 3, 6, 16, 30, tzinfo=UTC)  # 17:30 in Berlin and Zurich
    desk.make_mql(LENA, friday_evening)
    (handoff,) = desk.handoffs(LENA)
    monday_morning = datetime(2026, 3, 9, 8, 30, tzinfo=UTC)  # 09:30 local
    run(cli, monday_morning, "sales", "accept", LENA, "--actor", str(handoff.rep_id))
    # Max becomes an MQL on Monday; nobody answers and the SLA passes the lead on: a breach, not an answer.
    desk.make_mql(MAX, monday_morning)
    desk.enforce(monday_morning + timedelta(days=1))
    statuses = [h.status for h in desk.handoffs(MAX)]
    assert statuses[0] in ("reassigned", "escalated"), statuses
    sla = report(cli, monday_morning + timedelta(days=1))["sla"]
    # Anna works 08:00-18:00 (Berlin): 0.5 h on Friday and 1.5 h on Monday; Ben 08:00-17:00 (Zurich).
    expected = {"anna": 2.0, "ben": 1.5}[handoff.rep_id]
    assert sla["median_hours_to_answer"] == expected  # not 64 wall-clock hours
    assert sla["breaches"] == 1 and sla["accepted_in_time"] == 1
    mine = next(r for r in sla["by_rep"] if r["rep"] == handoff.rep_id)
    assert mine["median_hours_to_answer"] == expected and mine["sals"] == 1


EXIT_CAMPAIGNS = """\
kind: Campaign
key: short
entry: {on: lead_created}
steps:
  - id: hello
    send: {template: t/mail, subject: "Hallo"}
  - id: done
    exit: finished
---
kind: Campaign
key: dormant
entry: {on: manual}
steps:
  - id: ping
    send: {template: t/mail, subject: "Ping"}
"""


def test_campaigns_that_end_in_an_exit_step_complete_and_idle_campaigns_are_listed(
    desk: Desk, cli: Any
) -> None:
    (desk.root / "campaigns" / "short.yaml").write_text(EXIT_CAMPAIGNS, encoding="utf-8")
    desk.import_leads(LEADS, MONDAY)
    run(cli, MONDAY, "tick")
    campaigns = {c["campaign"]: c for c in report(cli, MONDAY + timedelta(hours=1))["campaigns"]}
    short = campaigns["short"]
    assert (short["entered"], short["completed"], short["exited"]) == (4, 4, 0)
    assert campaigns["dormant"]["entered"] == 0 and campaigns["dormant"]["steps"] == []


@pytest.mark.parametrize("bad", [("--amount", "-5"), ("--currency", "EURO", "--amount", "5")])
def test_a_deal_amount_must_be_sensible(desk: Desk, cli: Any, bad: tuple[str, ...]) -> None:
    desk.import_leads(LEADS, MONDAY)
    result = cli("sales", "convert", LENA, "--stage", "customer", "--reason", "x", *bad)
    assert result.exit_code == 1 and "error:" in result.output
    assert desk.stage(LENA) == "lead"
