"""A report pinned to a moment names the owner each lead had then, not today's."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from nurture.reports.journeys import journeys_from_rows
from nurture.reports.lead_facts import RowFacts
from nurture.reports.owners import owners_at
from nurture.reports.report import ProgramFacts, ReportOptions, build_report
from nurture.reports.rows import Handoff, History, Lead, StageChange
from tests.reports.rows import day, handoffs_of
from tests.sales.desk import LEADS as LEADS_CSV
from tests.sales.desk import MONDAY, SLA, Desk, team, write_workspace

MAX = "max@bergwerk.at"


def _lead(lead_id: int, owner: str | None) -> Lead:
    return Lead(lead_id, f"lead{lead_id}@example.com", day(0), "mql", owner, handed_over=lead_id != 3)


# Lead 1: routed to anna on day 4, reassigned to ben on day 20 (ben owns it today).
# Lead 2: routed to anna on day 4, handed back on day 6 (nobody owns it from then on).
# Lead 3: never handed over; its row names carl (an import said so).
# Lead 4: first handed over on day 30.
HANDOFFS = [
    Handoff(1, 1, "anna", "reassigned", day(4), day(5), day(20), None),
    Handoff(2, 2, "anna", "rejected", day(4), day(5), day(6), "no budget"),
    Handoff(3, 1, "ben", "pending", day(20), day(21), None, None),
    Handoff(4, 4, "ben", "pending", day(30), day(31), None, None),
]
LEADS = {1: _lead(1, "ben"), 2: _lead(2, None), 3: _lead(3, "carl"), 4: _lead(4, "ben")}


def _owners(at: datetime, handoffs: list[Handoff] = HANDOFFS) -> dict[int, str | None]:
    journeys = journeys_from_rows(LEADS.values(), {})
    codes, names = owners_at(len(journeys), handoffs_of(handoffs, journeys), RowFacts(LEADS.values(), []), at)
    return {
        int(lead): None if code < 0 else names[code]
        for lead, code in zip(journeys.lead_id, codes, strict=True)
    }


def test_the_owner_at_a_moment_is_the_holder_of_the_latest_handoff_by_then() -> None:
    assert _owners(day(5)) == {1: "anna", 2: "anna", 3: "carl", 4: None}
    assert _owners(day(10)) == {1: "anna", 2: None, 3: "carl", 4: None}
    assert _owners(day(40)) == {1: "ben", 2: None, 3: "carl", 4: "ben"}


def test_the_latest_handoff_is_the_latest_assigned_whatever_its_id() -> None:
    # An imported handoff of the past has a later id than those recorded since.
    imported = Handoff(5, 1, "carl", "reassigned", day(2), day(3), day(4), None)
    assert _owners(day(5), [*HANDOFFS, imported])[1] == "anna"
    # Of two assigned at the same moment, the one recorded later (the greater id).
    tied = Handoff(6, 4, "anna", "reassigned", day(30), day(31), day(30), None)
    assert _owners(day(40), [tied, *HANDOFFS])[4] == "anna"


def _history() -> History:
    changes = {
        i: [StageChange(i, None, "lead", day(0), "t"), StageChange(i, "lead", "mql", day(4), "t")]
        for i in LEADS
    }
    return History(leads=LEADS, changes=changes, handoffs=HANDOFFS, enrollments=[], touches={})


def test_a_pinned_report_lists_stuck_leads_and_breaks_down_by_the_owner_of_then() -> None:
    facts = ProgramFacts(stale_after={"mql": timedelta(days=3)})
    now = day(15)
    history = _history()
    history.handoffs = [h for h in HANDOFFS if h.assigned_at <= now]  # as the report reads them
    history.handoffs[0] = Handoff(1, 1, "anna", "pending", day(4), day(5), None, None)
    report = build_report(history, [], facts, ReportOptions(now=now, by="owner"))
    assert {s.email: s.owner for s in report.stuck} == {
        "lead1@example.com": "anna",
        "lead2@example.com": None,
        "lead3@example.com": "carl",
        "lead4@example.com": None,
    }
    assert report.breakdown is not None
    assert {g.value: g.funnel.cohort for g in report.breakdown} == {"anna": 1, "(none)": 2, "carl": 1}


def test_until_picks_the_owner_at_the_end_of_the_period() -> None:
    report = build_report(
        _history(), [], ProgramFacts(), ReportOptions(now=day(40), until=day(10), by="owner")
    )
    assert report.breakdown is not None
    assert {g.value: g.funnel.cohort for g in report.breakdown} == {"anna": 1, "(none)": 2, "carl": 1}


def test_the_report_command_pinned_before_a_reassignment_names_the_rep_of_then(desk: Desk, cli: Any) -> None:
    write_workspace(desk.root, sla=SLA + "stale_after: {mql: 2d}\n", sales_team=team())
    desk.reload()
    desk.import_leads(LEADS_CSV, MONDAY)
    desk.make_mql(MAX, MONDAY + timedelta(days=1))
    (first,) = desk.handoffs(MAX)
    other = "anna" if first.rep_id == "ben" else "ben"
    moved = cli(
        "sales", "reassign", MAX, "--to", other, "--actor", "petra",
        env={"NURTURE_NOW": (MONDAY + timedelta(days=10)).isoformat()},
    )  # fmt: skip
    assert moved.exit_code == 0, moved.output

    def report(at: timedelta) -> dict[str, Any]:
        done = cli("report", "--json", "--by", "owner", env={"NURTURE_NOW": (MONDAY + at).isoformat()})
        assert done.exit_code == 0, done.output
        return dict(json.loads(done.output))

    for at, owner in ((timedelta(days=5), first.rep_id), (timedelta(days=12), other)):
        data = report(at)
        assert {s["email"]: s["owner"] for s in data["stuck"]["leads"]}[MAX] == owner
        groups = {g["value"]: g["leads"] for g in data["breakdown"]["groups"]}
        assert groups[owner] == 1


def test_the_stale_list_names_who_held_the_lead_while_it_sat_at_its_stage(desk: Desk, cli: Any) -> None:
    write_workspace(desk.root, sla=SLA + "stale_after: {mql: 2d}\n", sales_team=team())
    desk.reload()
    desk.import_leads(LEADS_CSV, MONDAY)
    desk.make_mql(MAX, MONDAY + timedelta(days=1))
    (first,) = desk.handoffs(MAX)
    other = "anna" if first.rep_id == "ben" else "ben"
    moved = cli(
        "sales", "reassign", MAX, "--to", other, "--actor", "petra",
        env={"NURTURE_NOW": (MONDAY + timedelta(days=10)).isoformat()},
    )  # fmt: skip
    assert moved.exit_code == 0, moved.output

    def stale(at: timedelta, *more: str) -> list[dict[str, Any]]:
        done = cli(
            "leads", "list", "--stage", "mql", "--stale", "--json", *more,
            env={"NURTURE_NOW": (MONDAY + at).isoformat()},
        )  # fmt: skip
        assert done.exit_code == 0, done.output
        return list(json.loads(done.output))

    # On day 5 the lead had sat at mql for four days with its first rep; today's owner is the other.
    (listed,) = stale(timedelta(days=5))
    assert (listed["email"], listed["stage"], listed["owner"]) == (MAX, "mql", first.rep_id)
    assert (listed["days_in_stage"], listed["stale_limit_days"]) == (4.0, 2.0)
    assert [x["email"] for x in stale(timedelta(days=5), "--owner", str(first.rep_id))] == [MAX]
    assert stale(timedelta(days=5), "--owner", other) == []
    (later,) = stale(timedelta(days=12))
    assert later["owner"] == other
