"""Who gets an MQL: account owner, territory, then round robin, least loaded or weighted; capacity
is never exceeded, and when nobody fits the manager gets it."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from nurture.definitions import SalesTeam
from nurture.sales.routing import TeamStanding
from tests.sales.desk import MONDAY, SLA, Desk, team, write_workspace

HOURS = {"timezone": "Europe/Berlin"}


def sales_team(routing: str, *reps: dict[str, Any]) -> SalesTeam:
    return SalesTeam.model_validate(
        {
            "kind": "SalesTeam",
            "key": "t",
            "manager": {"name": "Petra", "email": "petra@example.com"},
            "routing": routing,
            "reps": [
                {"name": r["id"], "email": f"{r['id']}@example.com", "working_hours": HOURS, **r}
                for r in reps
            ],
        }
    )


def picks(standing: TeamStanding, n: int, country: str | None = "DE") -> list[str | None]:
    return [rep.id if (rep := standing.take(country)) else None for _ in range(n)]


def test_round_robin_takes_turns_among_reps_for_the_country() -> None:
    standing = TeamStanding(
        sales_team("round_robin", {"id": "a"}, {"id": "b"}, {"id": "c", "territories": ["AT"]}), {}
    )
    assert picks(standing, 4) == ["a", "b", "a", "b"]
    assert picks(standing, 2, "AT") == ["c", "c"]


def test_reps_for_the_country_come_before_reps_for_any_country() -> None:
    standing = TeamStanding(sales_team("round_robin", {"id": "any"}, {"id": "de", "territories": ["DE"]}), {})
    assert picks(standing, 2) == ["de", "de"]
    assert picks(standing, 1, "FR") == ["any"]
    assert picks(standing, 1, None) == ["any"]


def test_a_full_rep_is_skipped_and_with_everyone_full_the_manager_gets_it() -> None:
    standing = TeamStanding(
        sales_team("round_robin", {"id": "a", "capacity": 1}, {"id": "b", "capacity": 2}), {}
    )
    assert picks(standing, 4) == ["a", "b", "b", None]
    standing.release("a")
    assert picks(standing, 1) == ["a"]


def test_nobody_for_the_country_means_the_manager() -> None:
    standing = TeamStanding(sales_team("round_robin", {"id": "a", "territories": ["DE"]}), {})
    assert picks(standing, 1, "US") == [None]


def test_least_loaded_picks_the_rep_with_fewest_open_leads() -> None:
    standing = TeamStanding(sales_team("least_loaded", {"id": "a"}, {"id": "b"}, {"id": "c"}), {})
    standing.standing("a").open = 5
    standing.standing("b").open = 3
    standing.standing("c").open = 4
    assert picks(standing, 4) == ["b", "c", "b", "a"]  # ties go to whoever waited longest


def test_weighted_routing_shares_by_weight_and_spreads_a_heavy_reps_leads() -> None:
    standing = TeamStanding(
        sales_team("weighted", {"id": "a", "weight": 3}, {"id": "b", "weight": 1}, {"id": "z", "weight": 0}),
        {},
    )
    sequence = picks(standing, 8)
    assert Counter(sequence) == {"a": 6, "b": 2}
    assert sequence[:4] == ["a", "a", "b", "a"]  # b's turn comes within the first round


def test_excluded_reps_are_passed_over() -> None:
    standing = TeamStanding(sales_team("round_robin", {"id": "a"}, {"id": "b"}), {})
    assert standing.take("DE", exclude={"a"}).id == "b"  # type: ignore[union-attr]
    assert standing.take("DE", exclude={"a", "b"}) is None


def test_the_company_owner_keeps_the_account_while_they_have_room() -> None:
    standing = TeamStanding(sales_team("round_robin", {"id": "a"}, {"id": "b", "capacity": 1}), {})
    assert standing.take("DE", account_owner="b").id == "b"  # type: ignore[union-attr]
    assert standing.take("DE", account_owner="b").id == "a"  # type: ignore[union-attr]


# -- against the database --------------------------------------------------------------------------


def leads_csv(*rows: str) -> str:
    return "email,first_name,country,job_title,company_size\n" + "".join(f"{r}\n" for r in rows)


def test_the_round_robin_pointer_lives_in_the_database(desk: Desk) -> None:
    desk.import_leads(leads_csv("a@one.de,A,DE,,", "b@two.de,B,DE,,", "c@three.de,C,DE,,"))
    for minute, email in enumerate(("a@one.de", "b@two.de", "c@three.de")):
        desk.make_mql(email, MONDAY + timedelta(minutes=minute))  # each in its own transactions
    assert [desk.lead(e).owner_rep_id for e in ("a@one.de", "b@two.de", "c@three.de")] == [
        "anna",
        "ben",
        "anna",
    ]


def test_a_second_lead_at_a_company_goes_to_its_owner(desk: Desk) -> None:
    desk.import_leads(
        leads_csv("a@one.de,A,DE,,", "b@one.de,B,DE,,", "x@gmail.com,X,DE,,", "y@gmail.com,Y,DE,,")
    )
    desk.make_mql("a@one.de", MONDAY)
    desk.make_mql("b@one.de", MONDAY)
    assert desk.lead("b@one.de").owner_rep_id == desk.lead("a@one.de").owner_rep_id == "anna"
    assert desk.handoffs("b@one.de")[0].rep_id == "anna"
    desk.make_mql("x@gmail.com", MONDAY)
    desk.make_mql("y@gmail.com", MONDAY)  # free-mail is not a company
    assert {desk.lead("x@gmail.com").owner_rep_id, desk.lead("y@gmail.com").owner_rep_id} == {"anna", "ben"}


def test_a_lead_nobody_covers_goes_to_the_manager_with_an_escalation(desk: Desk) -> None:
    desk.import_leads(leads_csv("tom@example.us,Tom,US,,"))
    desk.make_mql("tom@example.us", MONDAY)
    [handoff] = desk.handoffs("tom@example.us")
    # The manager owns it, with 4h of their own working time (mon-fri 09-17, the workspace's Berlin).
    assert (handoff.rep_id, handoff.status) == (None, "pending")
    assert handoff.accept_due_at == datetime(2026, 3, 2, 12, 30, tzinfo=UTC)
    assert desk.lead("tom@example.us").owner_rep_id == "manager:dach-sales"
    [notice] = desk.sales_messages("tom@example.us")
    assert (notice.kind, notice.to_address) == ("escalation", "petra.vogel@example.com")
    assert "no rep of the team could take it" in notice.text


def test_capacity_counts_open_handoffs_in_the_database(desk: Desk) -> None:
    write_workspace(desk.root, sales_team=team(reps="anna:DE:1,ben:AT:5"))
    desk.reload()
    desk.import_leads(leads_csv("a@one.de,A,DE,,", "b@two.de,B,DE,,"))
    desk.make_mql("a@one.de", MONDAY)
    desk.make_mql("b@two.de", MONDAY)
    assert (desk.lead("a@one.de").owner_rep_id, desk.lead("b@two.de").owner_rep_id) == (
        "anna",
        "manager:dach-sales",
    )


@pytest.mark.parametrize("routing", ["least_loaded", "weighted"])
def test_other_routings_work_against_the_database(desk: Desk, routing: str) -> None:
    write_workspace(desk.root, sales_team=team(routing=routing, reps="anna:DE:30:2,ben:DE:30:1"))
    desk.reload()
    emails = [f"p{i}@c{i}.de" for i in range(6)]
    desk.import_leads(leads_csv(*(f"{e},P,DE,," for e in emails)))
    for email in emails:
        desk.make_mql(email, MONDAY)
    owners = Counter(desk.lead(e).owner_rep_id for e in emails)
    assert owners == ({"anna": 3, "ben": 3} if routing == "least_loaded" else {"anna": 4, "ben": 2})


def test_sla_without_a_team_key_in_the_program_is_refused_by_the_checks(desk: Desk) -> None:
    from nurture.definitions import InvalidProgram, load_program
    from nurture.workspace import Workspace

    write_workspace(desk.root, sla=SLA.replace("route_to: dach-sales", "route_to: nordics"))
    with pytest.raises(InvalidProgram):
        load_program(Workspace(desk.root))
