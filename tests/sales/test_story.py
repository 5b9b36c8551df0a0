"""One lead's whole way: import, nurture emails, engagement, MQL, the rep told, a breach, accepted."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from nurture.engagement.record import record_events
from nurture.engine.tick import CampaignEngine
from nurture.sales import ACCEPT, HandoffClosed, accept, handoff_from_token, handoff_lead
from nurture.settings import secret_key
from nurture.store.schema import messages
from nurture.tokens import TokenSigner
from tests.sales.desk import MONDAY, Desk

LENA = "lena@alpenblick.de"


def tick(desk: Desk, now: object) -> None:
    engine = CampaignEngine(desk.store, desk.program, desk.settings, then=desk.lifecycle)
    engine.record_program(now)  # type: ignore[arg-type]
    engine.tick(now)  # type: ignore[arg-type]


def marketing_steps(desk: Desk) -> list[str]:
    with desk.store.connect() as conn:
        return list(
            conn.scalars(
                select(messages.c.step_id)
                .where(messages.c.campaign_key == "trial", messages.c.to_address == LENA)
                .order_by(messages.c.id)
            )
        )


def click_link(desk: Desk, text: str, rep: str, now: object) -> None:
    """What the HTTP server does with a rep's accept link."""
    token = re.search(r"https://nurture\.example/sales/accept/(\S+)", text).group(1)  # type: ignore[union-attr]
    handoff_id = handoff_from_token(TokenSigner(secret_key(desk.settings, desk.root)), ACCEPT, token)
    with desk.store.begin() as conn:
        lead_id = handoff_lead(conn, handoff_id)
        accept(conn, desk.lifecycle, lead_id, actor=rep, now=now, handoff_id=handoff_id)  # type: ignore[arg-type]


def test_from_import_to_an_accepted_lead(desk: Desk) -> None:
    desk.import_leads(
        "email,first_name,last_name,company,job_title,company_size,country,timezone\n"
        "lena@alpenblick.de,Lena,Wolf,Alpenblick GmbH,Head of Operations,120,DE,Europe/Berlin\n"
    )
    tick(desk, MONDAY)
    assert marketing_steps(desk) == ["welcome"]
    with desk.store.connect() as conn:
        welcome = conn.scalar(select(messages.c.id).where(messages.c.step_id == "welcome"))

    engaged = MONDAY + timedelta(hours=1)  # 10:30 in Berlin
    with desk.store.begin() as conn:
        result = record_events(
            conn,
            desk.lifecycle,
            [
                {
                    "type": "email_open",
                    "message_id": welcome,
                    "occurred_at": (engaged - timedelta(minutes=5)).isoformat(),
                },
                {
                    "type": "email_click",
                    "message_id": welcome,
                    "occurred_at": (engaged - timedelta(minutes=4)).isoformat(),
                    "url": "https://taktwerk.example/pricing",
                },
                {
                    "type": "page_view",
                    "email": LENA,
                    "occurred_at": (engaged - timedelta(minutes=3)).isoformat(),
                    "url": "https://taktwerk.example/pricing",
                },
                {"type": "demo_requested", "email": LENA, "occurred_at": engaged.isoformat()},
            ],
            engaged,
        )
        assert result.stored == 4, result.errors

    # The MQL, the end of the nurture and the rep's notification, all at once.
    assert desk.stage(LENA) == "mql"
    assert round(desk.lead(LENA).score) == 25 + 1 + 5 + 15 + 60
    [notice] = desk.sales_messages(LENA)
    assert (notice.kind, notice.to_address, notice.status) == (
        "sales_notification",
        "anna@sales.example",
        "queued",
    )
    assert "Please accept or reject it by Mon, Mar 2, 2026 2:30\u202fPM (Europe/Berlin)" in notice.text
    tick(desk, MONDAY + timedelta(days=2))
    assert marketing_steps(desk) == ["welcome"]  # no case study for an MQL

    # Anna lets the four hours pass; Ben gets it.
    report = desk.enforce(engaged + timedelta(hours=4))
    assert report.reassigned == 1
    reassigned = desk.sales_messages(LENA)[-1]
    assert reassigned.to_address == "ben@sales.example"
    assert desk.lead(LENA).owner_rep_id == "ben"

    # Anna's link is dead now; Ben's works.
    accepted_at = engaged + timedelta(hours=5)
    with pytest.raises(HandoffClosed):
        click_link(desk, notice.text, "anna", accepted_at)
    click_link(desk, reassigned.text, "ben", accepted_at)
    history = [(c.from_stage, c.to_stage, c.actor) for c in desk.stage_changes(LENA)]
    assert history[-2:] == [("lead", "mql", "sla"), ("mql", "sal", "ben")]
    assert [(h.rep_id, h.status) for h in desk.handoffs(LENA)] == [
        ("anna", "reassigned"),
        ("ben", "accepted"),
    ]
    assert desk.enforce(accepted_at + timedelta(days=7)).breaches == 0
