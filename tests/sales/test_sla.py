"""Breaches: a handoff not accepted in the rep's working time moves on, each move recorded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from nurture.sales.actions import accept
from tests.sales.desk import MONDAY, SLA, Desk, team, write_workspace

LEAD = "lena@alpenblick.de"
DUE = MONDAY + timedelta(hours=4)  # 09:30 + 4h in Anna's Berlin working day


@pytest.fixture
def desk(desk: Desk) -> Desk:
    write_workspace(desk.root, sales_team=team(reps="anna:DE:30,ben:DE:30,clara:DE:30"))
    desk.reload()
    desk.import_leads("email,first_name,last_name,country\nlena@alpenblick.de,Lena,Wolf,DE\n")
    desk.make_mql(LEAD, MONDAY)
    return desk


def test_nothing_happens_before_the_deadline(desk: Desk) -> None:
    report = desk.enforce(DUE - timedelta(seconds=1))
    assert (report.reassigned, report.escalated) == (0, 0)
    assert [h.status for h in desk.handoffs(LEAD)] == ["pending"]


def test_a_breach_reassigns_to_the_next_rep_with_a_fresh_deadline_and_a_notification(desk: Desk) -> None:
    report = desk.enforce(DUE)
    assert report.reassigned == 1
    first, second = desk.handoffs(LEAD)
    assert (first.rep_id, first.status, first.actor, first.responded_at) == ("anna", "reassigned", "sla", DUE)
    assert first.reason.startswith(
        "not accepted within 4h (due 2026-03-02T12:30:00+00:00); reassigned to Ben Rep"
    )
    assert (second.rep_id, second.status, second.previous_handoff_id, second.reassignments) == (
        "ben",
        "pending",
        first.id,
        1,
    )
    # Ben works 08:00-17:00 in Zurich: 13:30 + 3.5h today, the last half hour on Tuesday.
    assert second.accept_due_at == datetime(2026, 3, 3, 7, 30, tzinfo=UTC)
    assert desk.lead(LEAD).owner_rep_id == "ben"
    notice = desk.sales_messages(LEAD)[-1]
    assert (notice.to_address, notice.kind, notice.handoff_id) == (
        "ben@sales.example",
        "sales_notification",
        second.id,
    )
    assert notice.subject.startswith("Lead reassigned to you: Lena Wolf")
    assert "Anna Rep did not accept it by Mon 02 Mar 2026 13:30 (Europe/Zurich)" in notice.text


def test_reps_who_had_the_lead_are_not_offered_it_again_and_then_it_escalates(desk: Desk) -> None:
    desk.enforce(DUE)
    desk.enforce(DUE + timedelta(days=1))
    holders = [(h.rep_id, h.status) for h in desk.handoffs(LEAD)]
    assert holders == [("anna", "reassigned"), ("ben", "reassigned"), ("clara", "pending")]
    report = desk.enforce(DUE + timedelta(days=2))  # max_reassignments: 2 reached
    assert report.escalated == 1
    last, manager = desk.handoffs(LEAD)[-2:]
    assert last.status == "escalated"
    assert "already reassigned 2 times; escalated to Petra Vogel" in last.reason
    # The manager owns it now, with 4h of their working time (mon-fri 09-17 in the workspace's
    # Berlin by default): Wednesday 13:30 + 3.5h, then Thursday 09:00 + 0.5h.
    assert (manager.rep_id, manager.status, manager.accept_due_at, manager.previous_handoff_id) == (
        None,
        "pending",
        datetime(2026, 3, 5, 8, 30, tzinfo=UTC),
        last.id,
    )
    assert desk.lead(LEAD).owner_rep_id == "manager:dach-sales"
    notice = desk.sales_messages(LEAD)[-1]
    assert (notice.kind, notice.to_address) == ("escalation", "petra.vogel@example.com")
    assert "Thu, Mar 5, 2026 9:30" in notice.text
    assert desk.enforce(DUE + timedelta(days=30)).breaches == 0  # escalation is the end of the line


def test_with_on_breach_escalate_the_manager_gets_it_at_once(desk: Desk) -> None:
    write_workspace(
        desk.root,
        sla=SLA.replace("on_breach: reassign", "on_breach: escalate"),
        sales_team=team(reps="anna:DE:30,ben:DE:30"),
    )
    desk.reload()
    assert desk.enforce(DUE).escalated == 1
    assert [(h.rep_id, h.status) for h in desk.handoffs(LEAD)] == [("anna", "escalated"), (None, "pending")]


def test_when_no_other_rep_can_take_it_the_breach_escalates(desk: Desk) -> None:
    write_workspace(desk.root, sales_team=team(reps="anna:DE:30,ben:AT:30"))
    desk.reload()
    report = desk.enforce(DUE)
    assert report.escalated == 1
    assert "no other rep could take it" in desk.handoffs(LEAD)[0].reason


def test_an_accepted_handoff_is_never_breached(desk: Desk) -> None:
    desk.act(accept, LEAD, DUE - timedelta(minutes=1), actor="anna")
    assert desk.enforce(DUE + timedelta(days=3)).breaches == 0
    assert desk.stage(LEAD) == "sal"


def test_a_breach_frees_the_slot_of_the_rep_who_let_it_pass(desk: Desk) -> None:
    write_workspace(desk.root, sales_team=team(reps="anna:DE:1,ben:DE:1"))
    desk.reload()
    desk.enforce(DUE)  # anna -> ben
    desk.import_leads("email,country\nnext@firm.de,DE\n", DUE)
    desk.make_mql("next@firm.de", DUE + timedelta(minutes=1))
    assert desk.lead("next@firm.de").owner_rep_id == "anna"


def test_a_team_removed_from_the_program_stops_the_clock_with_a_problem(desk: Desk) -> None:
    from nurture.store.schema import handoffs

    with desk.store.begin() as conn:
        conn.execute(handoffs.update().values(team_key="old-team"))
    report = desk.enforce(DUE)
    [problem] = report.problems
    assert problem.endswith("team 'old-team' is no longer in the program")
    assert desk.handoffs(LEAD)[0].accept_due_at is None
    assert desk.enforce(DUE + timedelta(days=1)).problems == []


def test_given_a_connection_the_timers_run_in_the_callers_transaction(desk: Desk) -> None:
    from nurture.sales import enforce_sla

    with desk.store.connect() as conn:
        transaction = conn.begin()
        assert enforce_sla(conn, desk.lifecycle.sales, DUE).reassigned == 1
        transaction.rollback()
    assert [h.status for h in desk.handoffs(LEAD)] == ["pending"]
    assert desk.enforce(DUE).reassigned == 1
