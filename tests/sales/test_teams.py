"""Several teams: the SLA's route_to rules send each MQL to the first team whose `when` holds."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from tests.sales.desk import LEADS, MONDAY, SLA, Desk, team, write_workspace

ROUTES = """route_to:
  - {when: "lead.country == 'CH'", team: ch-sales}
  - {team: dach-sales}
"""

CH_TEAM = """kind: SalesTeam
key: ch-sales
name: Vertrieb Schweiz
manager: {name: Urs Meier, email: urs.meier@example.com}
reps:
  - {id: chris, name: Chris Rep, email: chris@sales.example,
     working_hours: {timezone: Europe/Zurich, days: mon-fri, hours: "08:00-17:00"}}
"""


@pytest.fixture
def desk(workspace: Path, store: Engine) -> Desk:
    write_workspace(
        workspace,
        sla=SLA.replace("route_to: dach-sales\n", ROUTES),
        sales_team=team(reps="anna:DE:30,ben:AT|DE:20") + "---\n" + CH_TEAM,
    )
    with (workspace / "nurture.toml").open("a", encoding="utf-8") as toml:
        toml.write('timezone = "Europe/Berlin"\nbase_url = "https://nurture.example"\n')
    desk = Desk(workspace, store)
    desk.import_leads(LEADS)
    return desk


def test_two_teams_by_territory(desk: Desk) -> None:
    desk.make_mql("sara@gmail.com", MONDAY)  # CH
    desk.make_mql("max@bergwerk.at", MONDAY)  # AT: the default team
    (swiss,) = desk.handoffs("sara@gmail.com")
    (austrian,) = desk.handoffs("max@bergwerk.at")
    assert (swiss.team_key, swiss.rep_id) == ("ch-sales", "chris")
    assert (austrian.team_key, austrian.rep_id) == ("dach-sales", "ben")
    (notice,) = desk.sales_messages("sara@gmail.com")
    assert notice.to_address == "chris@sales.example" and "Vertrieb Schweiz" in notice.text
    (notice,) = desk.sales_messages("max@bergwerk.at")
    assert notice.to_address == "ben@sales.example" and "Vertrieb DACH" in notice.text
