"""Sales actions: accept, reject, convert, disqualify; every move recorded, bad moves refused."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from nurture.sales import (
    HandoffClosed,
    InvalidTransition,
    SalesActionError,
    accept,
    convert,
    disqualify,
    reject,
)
from nurture.store.schema import enrollments, leads
from tests.sales.desk import MONDAY, SLA, Desk, write_workspace

LEAD = "lena@alpenblick.de"
SOON = MONDAY + timedelta(hours=1)


@pytest.fixture
def desk(desk: Desk) -> Desk:
    desk.import_leads("email,first_name,country,job_title,company_size\nlena@alpenblick.de,Lena,DE,CEO,100\n")
    desk.make_mql(LEAD, MONDAY)
    return desk


def recycle_enrollment(desk: Desk) -> Any:
    with desk.store.connect() as conn:
        return conn.execute(
            select(enrollments).where(
                enrollments.c.lead_id == desk.lead_id(LEAD, conn), enrollments.c.campaign_key == "recycle"
            )
        ).first()


def test_accepting_makes_a_sales_accepted_lead(desk: Desk) -> None:
    desk.act(accept, LEAD, SOON, actor="anna")
    [handoff] = desk.handoffs(LEAD)
    assert (handoff.status, handoff.actor, handoff.responded_at) == ("accepted", "anna", SOON)
    change = desk.stage_changes(LEAD)[-1]
    assert (change.from_stage, change.to_stage, change.actor, change.reason, change.at) == (
        "mql",
        "sal",
        "anna",
        "accepted by anna",
        SOON,
    )
    assert desk.lead(LEAD).owner_rep_id == "anna"


def test_a_lead_can_only_be_accepted_while_a_handoff_is_pending(desk: Desk) -> None:
    desk.act(accept, LEAD, SOON, actor="anna")
    with pytest.raises(HandoffClosed, match="has no pending handoff to accept"):
        desk.act(accept, LEAD, SOON, actor="anna")
    desk.import_leads("email\nnew@firm.de\n")
    with pytest.raises(HandoffClosed, match=r"new@firm.de has no pending handoff to accept \(stage: lead\)"):
        desk.act(accept, "new@firm.de", SOON, actor="anna")


def test_a_link_to_a_handoff_that_moved_on_is_refused_and_changes_nothing(desk: Desk) -> None:
    first = desk.handoffs(LEAD)[0].id
    desk.enforce(MONDAY + timedelta(days=1))  # breached: reassigned to ben
    with pytest.raises(HandoffClosed, match=r"closed already \(reassigned\)"):
        desk.act(accept, LEAD, SOON, actor="anna", handoff_id=first)
    assert desk.stage(LEAD) == "mql"
    desk.act(accept, LEAD, SOON, actor="ben", handoff_id=desk.handoffs(LEAD)[-1].id)
    assert (desk.stage(LEAD), desk.lead(LEAD).owner_rep_id) == ("sal", "ben")


def test_a_handoff_of_another_lead_is_refused(desk: Desk) -> None:
    desk.import_leads("email,country\nother@firm.de,DE\n")
    with pytest.raises(SalesActionError, match=r"is not a handoff of other@firm\.de"):
        desk.act(accept, "other@firm.de", SOON, actor="anna", handoff_id=desk.handoffs(LEAD)[0].id)


def test_rejecting_recycles_the_lead_halves_its_behaviour_points_and_enrols_it(desk: Desk) -> None:
    before = desk.lead(LEAD)
    desk.act(reject, LEAD, SOON, reason="no budget before Q3", actor="anna")
    lead = desk.lead(LEAD)
    assert (lead.lifecycle_stage, lead.owner_rep_id) == ("recycled", None)
    behaviour_then = before.behavior_score * 0.5 ** ((SOON - before.behavior_scored_at) / timedelta(days=30))
    assert lead.behavior_score == pytest.approx(behaviour_then / 2)
    assert lead.score == pytest.approx(lead.fit_score + behaviour_then / 2)
    line = desk.ledger(LEAD)[-1]
    assert (line.kind, line.rule, line.reason) == (
        "recycle",
        "sla: recycle",
        "rejected by sales: behaviour points halved",
    )
    assert line.points == pytest.approx(-behaviour_then / 2)
    change = desk.stage_changes(LEAD)[-1]
    assert (change.to_stage, change.actor, change.reason) == (
        "recycled",
        "anna",
        "rejected by sales: no budget before Q3",
    )
    [handoff] = desk.handoffs(LEAD)
    assert (handoff.status, handoff.reason) == ("rejected", "no budget before Q3")
    enrollment = recycle_enrollment(desk)
    assert (enrollment.status, enrollment.entered_at) == ("active", SOON)


@pytest.mark.parametrize(("policy", "behaviour"), [("keep", None), ("reset", 0.0)])
def test_the_slas_recycle_policy_decides_the_score(desk: Desk, policy: str, behaviour: float | None) -> None:
    write_workspace(desk.root, sla=SLA.replace("score: halve", f"score: {policy}"))
    desk.reload()
    before = desk.lead(LEAD).behavior_score
    desk.act(reject, LEAD, SOON, reason="not now", actor="anna")
    assert desk.lead(LEAD).behavior_score == (before if behaviour is None else behaviour)


def test_an_accepted_lead_can_still_be_handed_back(desk: Desk) -> None:
    desk.act(accept, LEAD, SOON, actor="anna")
    desk.act(reject, LEAD, SOON + timedelta(days=2), reason="after the call: too early", actor="anna")
    assert [c.to_stage for c in desk.stage_changes(LEAD)] == ["lead", "mql", "sal", "recycled"]


def test_rejecting_needs_a_reason(desk: Desk) -> None:
    with pytest.raises(SalesActionError, match="a reason is required to reject a lead"):
        desk.act(reject, LEAD, SOON, reason="   ", actor="anna")
    assert desk.stage(LEAD) == "mql"


def test_converting_walks_down_the_waterfall_and_closes_the_handoff(desk: Desk) -> None:
    desk.act(accept, LEAD, SOON, actor="anna")
    desk.act(convert, LEAD, SOON, stage="sql", reason="budget confirmed", actor="anna")
    assert desk.handoffs(LEAD)[0].status == "converted"
    desk.act(convert, LEAD, SOON, stage="customer", reason="contract signed", actor="anna")
    assert [(c.to_stage, c.reason) for c in desk.stage_changes(LEAD)][-2:] == [
        ("sql", "budget confirmed"),
        ("customer", "contract signed"),
    ]
    with pytest.raises(InvalidTransition, match="already at customer; opportunity would be a step back"):
        desk.act(convert, LEAD, SOON, stage="opportunity", reason="x", actor="anna")


def test_converting_a_pending_mql_closes_its_handoff_and_frees_the_reps_slot(desk: Desk) -> None:
    desk.act(convert, LEAD, SOON, stage="opportunity", reason="signed up on the call", actor="anna")
    assert desk.handoffs(LEAD)[0].status == "converted"
    assert desk.enforce(MONDAY + timedelta(days=2)).breaches == 0


def test_disqualified_leads_cannot_be_converted_or_disqualified_again(desk: Desk) -> None:
    desk.act(disqualify, LEAD, SOON, reason="competitor", actor="anna")
    assert desk.stage(LEAD) == "disqualified"
    assert desk.handoffs(LEAD)[0].status == "disqualified"
    with pytest.raises(InvalidTransition, match="is disqualified; it cannot be converted to sql"):
        desk.act(convert, LEAD, SOON, stage="sql", reason="x", actor="anna")
    with pytest.raises(InvalidTransition, match="already disqualified"):
        desk.act(disqualify, LEAD, SOON, reason="x", actor="anna")


def test_only_sales_stages_are_conversions(desk: Desk) -> None:
    with pytest.raises(InvalidTransition, match="one of sql, opportunity, customer, not 'mql'"):
        desk.act(convert, LEAD, SOON, stage="mql", reason="x", actor="anna")


# -- command line ------------------------------------------------------------------------------------


def test_the_sales_commands(desk: Desk, cli: Any) -> None:
    env = {"NURTURE_NOW": SOON.isoformat()}
    result = cli("sales", "accept", LEAD, "--actor", "anna", env=env)
    assert (result.exit_code, result.output) == (0, f"{LEAD}: sal (owner: anna)\n")
    result = cli(
        "sales",
        "convert",
        LEAD,
        "--stage",
        "opportunity",
        "--reason",
        "demo went well",
        "--actor",
        "anna",
        env=env,
    )
    assert (result.exit_code, result.output) == (0, f"{LEAD}: opportunity (owner: anna)\n")
    result = cli("sales", "reject", LEAD, "--reason", "gone quiet", "--actor", "anna", env=env)
    assert result.exit_code == 1
    assert "has no pending or accepted handoff to reject" in result.output
    result = cli("sales", "disqualify", LEAD, "--reason", "bought elsewhere", env=env)
    assert result.exit_code == 0
    assert desk.stage_changes(LEAD)[-1].actor.startswith("cli")
    result = cli("sales", "accept", "nobody@example.org", env=env)
    assert (result.exit_code, "no lead with e-mail 'nobody@example.org'" in result.output) == (1, True)
    result = cli("sales", "reject", LEAD, env=env)
    assert result.exit_code == 2  # --reason is required
    shown = json.loads(cli("leads", "show", LEAD, "--json", env=env).output)
    assert [s["to"] for s in shown["stage_history"]] == ["lead", "mql", "sal", "opportunity", "disqualified"]


def test_the_webhook_key_command_prints_a_hex_key(desk: Desk, cli: Any) -> None:
    result = cli("sales", "webhook-key")
    assert result.exit_code == 0
    assert len(bytes.fromhex(result.output.strip())) == 32


def test_a_rejected_lead_that_unsubscribed_is_not_recycled_into_mail(desk: Desk) -> None:
    with desk.store.begin() as conn:
        conn.execute(leads.update().where(leads.c.email == LEAD).values(unsubscribed_at=MONDAY))
    desk.act(reject, LEAD, SOON, reason="no budget", actor="anna")
    assert desk.stage(LEAD) == "recycled"  # the answer is recorded as ever
    assert recycle_enrollment(desk) is None  # but no campaign mails someone who opted out
