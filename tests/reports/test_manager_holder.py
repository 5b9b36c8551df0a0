"""A lead escalated to a team's manager is theirs in the report, as it is on the lead's row."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from nurture.sales.lead_view import Holding
from tests.sales.desk import MONDAY, Desk, team, write_workspace

MARCO = "marco@firma.it"  # no rep covers Italy: the manager gets him


def with_manager(desk: Desk, manager: str) -> None:
    spec = team(reps="anna:DE:30").replace(
        "manager: {name: Petra Vogel, email: petra.vogel@example.com}", f"manager: {manager}"
    )
    write_workspace(desk.root, sales_team=spec)
    desk.reload()
    desk.import_leads("email,first_name,country\nlena@alpenblick.de,Lena,DE\nmarco@firma.it,Marco,IT\n")
    desk.make_mql(MARCO, MONDAY)


@pytest.mark.parametrize(
    ("manager", "owner"),
    [
        (
            "{name: Petra Vogel, email: petra.vogel@example.com, id: petra, "
            "working_hours: {timezone: Europe/Berlin, hours: '09:00-17:00'}}",
            "petra",
        ),
        ("{name: Petra Vogel, email: petra.vogel@example.com}", "manager:dach-sales"),
    ],
)
def test_the_report_names_the_manager_holding_an_escalated_lead(
    desk: Desk, cli: Any, manager: str, owner: str
) -> None:
    with_manager(desk, manager)
    (handoff,) = desk.handoffs(MARCO)
    assert handoff.rep_id is None
    assert desk.lead(MARCO).owner_rep_id == owner
    later = MONDAY + timedelta(hours=2)
    result = cli("report", "--json", "--by", "owner", env={"NURTURE_NOW": later.isoformat()})
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    groups = {g["value"]: g["leads"] for g in data["breakdown"]["groups"]}
    assert groups == {owner: 1, "(none)": 1}  # Marco is the manager's; Lena was never handed over
    assert [r["rep"] for r in data["sla"]["by_rep"]] == [owner]


def test_a_step_on_the_managers_handoff_is_taken_in_their_owner_id() -> None:
    held = Holding(1, 1, "dach-sales", None, "pending", None, "mql", None, "petra")
    assert held.actor == "petra"
    assert Holding(1, 1, "dach-sales", None, "pending", None, "mql", None).actor == "manager:dach-sales"
