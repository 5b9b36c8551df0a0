"""Moving a lead's open handoff to another rep by hand: new deadline, new notice, old links refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from nurture.sales import HandoffClosed, SalesActionError, accept, reassign
from nurture.sales.deadlines import accept_due_at
from nurture.store.schema import audit_log
from tests.sales.desk import MONDAY, Desk, team, write_workspace

LEAD = "lena@alpenblick.de"
# Monday 16:00 in Berlin and Zurich: Anna works until 18:00, Ben until 17:00.
LATE = MONDAY + timedelta(hours=6, minutes=30)

OTHER_TEAM = """\
---
kind: SalesTeam
key: ch-sales
name: Vertrieb Schweiz
manager: {name: Urs Meier, email: urs.meier@example.com}
reps:
  - {id: dora, name: Dora Rep, email: dora@sales.example, territories: [CH],
     working_hours: {timezone: America/New_York, days: mon-fri, hours: "09:00-17:00"}}
"""


@pytest.fixture
def desk(desk: Desk) -> Desk:
    write_workspace(desk.root, sales_team=team() + OTHER_TEAM)
    desk.reload()
    desk.import_leads("email,first_name,country,job_title,company_size\nlena@alpenblick.de,Lena,DE,CEO,100\n")
    desk.make_mql(LEAD, MONDAY)
    return desk


def move(desk: Desk, to: str, now: datetime = LATE, **options: Any) -> None:
    options.setdefault("actor", "petra")
    desk.act(reassign, LEAD, now, to=to, sales=desk.lifecycle.sales, **options)


def audit_lines(desk: Desk) -> list[Any]:
    with desk.store.connect() as conn:
        return conn.execute(select(audit_log).order_by(audit_log.c.id)).all()


def test_reassigning_moves_the_handoff_with_a_deadline_in_the_new_reps_hours(desk: Desk) -> None:
    [first] = desk.handoffs(LEAD)
    assert first.rep_id == "anna"
    move(desk, "ben", reason="Ben knows the company")
    old, new = desk.handoffs(LEAD)
    assert (old.status, old.actor, old.responded_at) == ("reassigned", "petra", LATE)
    assert old.reason == "Ben knows the company; reassigned to Ben Rep by petra"
    assert (new.rep_id, new.status, new.team_key) == ("ben", "pending", "dach-sales")
    assert new.previous_handoff_id == old.id
    # 1h left of Ben's Monday (until 17:00 Zurich), 3h on Tuesday from 08:00: 11:00 Zurich.
    assert new.accept_due_at == datetime(2026, 3, 3, 10, 0, tzinfo=UTC)
    ben = desk.program.team("dach-sales").rep("ben")
    assert new.accept_due_at == accept_due_at(ben, timedelta(hours=4), LATE)
    lead = desk.lead(LEAD)
    assert (lead.owner_rep_id, lead.lifecycle_stage) == ("ben", "mql")
    notice = desk.sales_messages(LEAD)[-1]
    assert (notice.to_address, notice.handoff_id) == ("ben@sales.example", new.id)
    assert notice.kind == "sales_notification"
    assert "petra moved it to you from Anna Rep: Ben knows the company" in (notice.text or "")
    [line] = audit_lines(desk)
    assert (line.actor, line.action, line.subject, line.at) == (
        "petra",
        "reassign",
        f"lead:{desk.lead_id(LEAD)}",
        LATE,
    )
    assert line.detail == {
        "from": "anna", "to": "ben", "team": "dach-sales", "reason": "Ben knows the company",
        "handoff": new.id,
    }  # fmt: skip
    # The SLA now chases Ben's deadline, not Anna's (which passed at 12:30).
    assert desk.enforce(LATE).breaches == 0


def test_the_old_reps_link_is_refused_and_the_new_rep_can_accept(desk: Desk) -> None:
    first = desk.handoffs(LEAD)[0].id
    move(desk, "ben")
    with pytest.raises(HandoffClosed, match=r"closed already \(reassigned\)"):
        desk.act(accept, LEAD, LATE, actor="anna", handoff_id=first)
    assert (desk.stage(LEAD), desk.lead(LEAD).owner_rep_id) == ("mql", "ben")
    desk.act(accept, LEAD, LATE, actor="ben", handoff_id=desk.handoffs(LEAD)[-1].id)
    assert (desk.stage(LEAD), desk.lead(LEAD).owner_rep_id) == ("sal", "ben")


def test_an_accepted_lead_can_be_moved_and_waits_for_the_new_reps_answer(desk: Desk) -> None:
    desk.act(accept, LEAD, LATE, actor="anna")
    move(desk, "ben")
    old, new = desk.handoffs(LEAD)
    assert (old.status, new.status, new.rep_id) == ("reassigned", "pending", "ben")
    assert desk.stage(LEAD) == "sal"


def test_a_rep_of_another_team_takes_the_handoff_into_their_team(desk: Desk) -> None:
    move(desk, "dora")
    new = desk.handoffs(LEAD)[-1]
    assert (new.team_key, new.rep_id) == ("ch-sales", "dora")
    # 16:00 in Berlin is 10:00 in New York: Dora's 4h end at 14:00 there.
    assert new.accept_due_at == datetime(2026, 3, 2, 19, 0, tzinfo=UTC)
    assert desk.sales_messages(LEAD)[-1].to_address == "dora@sales.example"


def test_bad_moves_are_refused_and_change_nothing(desk: Desk) -> None:
    with pytest.raises(SalesActionError, match=r"no rep 'zoe' in any sales team \(reps: anna, ben, dora\)"):
        move(desk, "zoe")
    with pytest.raises(SalesActionError, match=r"is with Anna Rep \(anna\) already"):
        move(desk, "anna")
    desk.import_leads("email,country\nnew@firm.de,DE\n")
    with pytest.raises(HandoffClosed, match=r"new@firm.de has no open handoff to reassign \(stage: lead\)"):
        desk.act(reassign, "new@firm.de", LATE, to="ben", actor="petra", sales=desk.lifecycle.sales)
    assert [h.status for h in desk.handoffs(LEAD)] == ["pending"]
    assert audit_lines(desk) == []


def test_the_reassign_command(desk: Desk, cli: Any) -> None:
    env = {"NURTURE_NOW": LATE.isoformat()}
    result = cli("sales", "reassign", LEAD, "--to", "ben", "--reason", "holiday", "--actor", "petra", env=env)
    assert (result.exit_code, result.output) == (0, f"{LEAD}: mql (owner: ben)\n")
    assert desk.handoffs(LEAD)[0].reason == "holiday; reassigned to Ben Rep by petra"
    result = cli("sales", "reassign", LEAD, "--to", "ben", env=env)
    assert result.exit_code == 1
    assert "is with Ben Rep (ben) already" in result.output
    result = cli("sales", "reassign", LEAD, "--to", "nobody", env=env)
    assert (result.exit_code, "there is no rep 'nobody'" in result.output) == (1, True)
    result = cli("sales", "reassign", LEAD, env=env)
    assert result.exit_code == 2  # --to is required
    assert audit_lines(desk)[0].actor == "petra"


def test_a_lead_escalated_to_the_manager_can_be_handed_to_a_rep(desk: Desk) -> None:
    desk.enforce(MONDAY + timedelta(days=1))  # Anna let it lapse: Ben
    desk.enforce(MONDAY + timedelta(days=3))  # Ben too, and nobody else is left: the manager
    escalated = desk.handoffs(LEAD)[-1]
    # The manager's own deadline: 4h of their hours (mon-fri 09-17 in the workspace's Berlin).
    due = MONDAY + timedelta(days=3, hours=4)
    assert (escalated.rep_id, escalated.status, escalated.accept_due_at) == (None, "pending", due)
    wednesday = MONDAY + timedelta(days=3)
    move(desk, "anna", now=wednesday, reason="back from holiday")
    new = desk.handoffs(LEAD)[-1]
    assert (new.rep_id, new.status, new.previous_handoff_id) == ("anna", "pending", escalated.id)
    assert new.accept_due_at == wednesday + timedelta(hours=4)  # 09:30 in Berlin, within her day
    assert "moved it to you from the manager: back from holiday" in (desk.sales_messages(LEAD)[-1].text or "")
