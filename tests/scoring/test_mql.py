"""MQL at once: the event or field change that meets the MQL rule makes the MQL and routes it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from nurture.engine.tick import CampaignEngine
from nurture.sales.actions import reject
from nurture.scoring import StoredEvent
from nurture.store.schema import enrollments, events, handoffs, leads, messages
from tests.sales.desk import LEADS, MONDAY, Desk

LENA = "lena@alpenblick.de"


@pytest.fixture
def desk(desk: Desk) -> Desk:
    desk.import_leads(LEADS)
    # trial and newsletter
    CampaignEngine(desk.store, desk.program, desk.settings, then=desk.lifecycle).tick(MONDAY)
    return desk


def enrollment_states(desk: Desk, email: str) -> dict[str, tuple[str, str | None]]:
    with desk.store.connect() as conn:
        rows = conn.execute(
            select(enrollments.c.campaign_key, enrollments.c.status, enrollments.c.exit_reason).where(
                enrollments.c.lead_id == desk.lead_id(email, conn)
            )
        ).all()
    return {r.campaign_key: (r.status, r.exit_reason) for r in rows}


def test_the_event_that_meets_the_mql_rule_makes_an_mql_and_hands_it_to_a_rep(desk: Desk) -> None:
    desk.record(LENA, "demo_requested", MONDAY)  # 25 + 60
    assert desk.stage(LENA) == "lead"
    at = MONDAY + timedelta(minutes=5)
    desk.record(LENA, "webinar_attended", at)  # 105
    lead = desk.lead(LENA)
    assert (lead.lifecycle_stage, lead.owner_rep_id, round(lead.score)) == ("mql", "anna", 105)
    change = desk.stage_changes(LENA)[-1]
    assert (change.from_stage, change.to_stage, change.actor, change.at) == ("lead", "mql", "sla", at)
    assert change.reason == "MQL rule held: lead.score >= 100 (score 105)"
    [handoff] = desk.handoffs(LENA)
    assert (handoff.rep_id, handoff.status, handoff.team_key) == ("anna", "pending", "dach-sales")
    assert handoff.accept_due_at == at + timedelta(hours=4)  # Monday 09:35 Berlin, inside her hours
    [notice] = desk.sales_messages(LENA)
    assert (notice.kind, notice.to_address, notice.status, notice.handoff_id) == (
        "sales_notification",
        "anna@sales.example",
        "queued",
        handoff.id,
    )


def test_campaigns_that_exit_on_mql_end_at_once_and_others_go_on(desk: Desk) -> None:
    desk.make_mql(LENA, MONDAY + timedelta(hours=1))
    states = enrollment_states(desk, LENA)
    assert states["trial"] == (
        "exited",
        "exit_when: lead.lifecycle_stage in ['mql', 'sal', 'sql', 'opportunity', 'customer', 'disqualified']",
    )
    assert states["newsletter"] == ("active", None)


def test_a_field_change_can_make_an_mql(desk: Desk) -> None:
    desk.record("max@bergwerk.at", "demo_requested", MONDAY)
    desk.record("max@bergwerk.at", "webinar_attended", MONDAY)  # 80, no fit yet
    assert desk.stage("max@bergwerk.at") == "lead"
    desk.import_leads(
        "email,job_title,company_size\nmax@bergwerk.at,Leiter Vertrieb,200\n", MONDAY + timedelta(hours=1)
    )
    assert desk.stage("max@bergwerk.at") == "mql"
    assert desk.lead("max@bergwerk.at").owner_rep_id == "ben"  # Austria is Ben's


def test_only_leads_not_yet_handed_over_qualify(desk: Desk) -> None:
    desk.make_mql(LENA, MONDAY)
    desk.record(LENA, "demo_requested", MONDAY + timedelta(hours=1))
    assert len(desk.handoffs(LENA)) == 1
    assert [c.to_stage for c in desk.stage_changes(LENA)] == ["lead", "mql"]


def test_a_recycled_lead_qualifies_again_when_it_warms_up(desk: Desk) -> None:
    desk.make_mql(LENA, MONDAY)
    desk.act(reject, LENA, MONDAY + timedelta(hours=1), reason="no budget this year", actor="anna")
    assert desk.stage(LENA) == "recycled"
    desk.record(LENA, "demo_requested", MONDAY + timedelta(days=40))
    assert desk.stage(LENA) == "mql"
    assert len(desk.handoffs(LENA)) == 2


def test_a_falling_score_never_makes_an_mql(desk: Desk) -> None:
    desk.record("sara@gmail.com", "unsubscribe", MONDAY)
    assert desk.stage("sara@gmail.com") == "lead"


def test_the_mql_is_part_of_the_callers_transaction(desk: Desk) -> None:
    desk.record(LENA, "demo_requested", MONDAY)
    with desk.store.connect() as conn:
        transaction = conn.begin()
        lead_id = desk.lead_id(LENA, conn)
        event_id = conn.execute(
            events.insert().values(
                lead_id=lead_id,
                type="webinar_attended",
                occurred_at=MONDAY,
                received_at=MONDAY,
                properties={},
            )
        ).inserted_primary_key[0]
        stored = StoredEvent(event_id, lead_id, "webinar_attended", MONDAY, {}, None, None, None, None)
        desk.lifecycle.events_recorded(conn, [stored], MONDAY)
        assert conn.scalar(select(leads.c.lifecycle_stage).where(leads.c.id == lead_id)) == "mql"
        transaction.rollback()
    assert desk.stage(LENA) == "lead"
    with desk.store.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(handoffs)) == 0
        assert (
            conn.scalar(select(func.count()).select_from(messages).where(messages.c.kind != "marketing")) == 0
        )


def test_a_batch_of_events_qualifies_several_leads_at_once(desk: Desk) -> None:
    with desk.store.begin() as conn:
        stored = []
        for email in (LENA, "max@bergwerk.at"):
            lead_id = desk.lead_id(email, conn)
            for type_ in ("demo_requested", "webinar_attended", "webinar_attended"):
                event_id = conn.execute(
                    events.insert().values(
                        lead_id=lead_id, type=type_, occurred_at=MONDAY, received_at=MONDAY, properties={}
                    )
                ).inserted_primary_key[0]
                stored.append(StoredEvent(event_id, lead_id, type_, MONDAY, {}, None, None, None, None))
        desk.lifecycle.events_recorded(conn, stored, MONDAY)
    assert (desk.stage(LENA), desk.stage("max@bergwerk.at")) == ("mql", "mql")
    assert {desk.lead(LENA).owner_rep_id, desk.lead("max@bergwerk.at").owner_rep_id} == {"anna", "ben"}
