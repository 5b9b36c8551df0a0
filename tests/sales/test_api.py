"""The sales API over a real socket: rep tokens and the sales key, the CLI's rules, retries once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from nurture.clock import FixedClock
from nurture.http import HttpContext, create_app
from nurture.sales.rep_tokens import rep_of_token, rep_token
from nurture.store.schema import stage_changes
from nurture.workspace import Workspace
from tests.engagement.conftest import serving
from tests.sales.desk import LEADS, MONDAY, SLA, Desk, write_workspace

SALES_KEY = "sales-key-for-tests-0123456789"
LENA = "lena@alpenblick.de"


@pytest.fixture
def desk(workspace: Path, store: Engine) -> Desk:
    sla = SLA + "reject_reasons: [No budget, Wrong person, Competitor]\n"
    write_workspace(workspace, sla=sla)
    with (workspace / "nurture.toml").open("a", encoding="utf-8") as toml:
        toml.write(
            'timezone = "Europe/Berlin"\nbase_url = "https://nurture.example"\n'
            f'from_address = "Taktwerk <hallo@taktwerk.example>"\nsales_api_key = "{SALES_KEY}"\n'
        )
    desk = Desk(workspace, store)
    desk.import_leads(LEADS)
    return desk


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(MONDAY + timedelta(hours=1))


@pytest.fixture
def client(desk: Desk, store: Engine, clock: FixedClock) -> Iterator[httpx.Client]:
    context = HttpContext.from_workspace(Workspace(desk.root), engine=store, clock=clock)
    with serving(create_app(context)) as url, httpx.Client(base_url=url, timeout=10) as client:
        yield client


def as_rep(desk: Desk, rep_id: str) -> dict[str, str]:
    (team,) = desk.program.sales_teams.values()
    token = rep_token(desk.lifecycle.sales.setup.rep_token_key, team.rep(rep_id))
    return {"authorization": f"Bearer {token}"}


KEY = {"authorization": f"Bearer {SALES_KEY}"}


def routed(desk: Desk, email: str = LENA) -> str:
    """Make the lead an MQL; the rep it was routed to."""
    desk.make_mql(email, MONDAY)
    (handoff,) = desk.handoffs(email)
    return str(handoff.rep_id)


def test_a_rep_accepts_and_converts_with_an_amount_using_their_token(
    desk: Desk, client: httpx.Client
) -> None:
    rep = routed(desk)
    queue = client.get("/api/sales/queue", params={"rep": rep}, headers=as_rep(desk, rep)).json()
    (item,) = queue["handoffs"]
    assert item["lead"]["email"] == LENA and item["status"] == "pending" and item["score"] >= 100
    # Routed Monday 09:30 Berlin with 4 working hours: due 13:30 Berlin, told in the rep's own zone.
    assert item["deadline"] == "2026-03-02T12:30:00+00:00"
    assert item["deadline_local"] == "2026-03-02T13:30:00+01:00" and queue["timezone"] == "Europe/Berlin"

    accepted = client.post("/api/sales/accept", json={"email": LENA}, headers=as_rep(desk, rep))
    assert accepted.status_code == 200, accepted.text
    body = accepted.json()
    assert body["lead"]["stage"] == "sal" and body["handoff"]["status"] == "accepted" and body["actor"] == rep

    won = client.post(
        "/api/sales/convert",
        json={"email": LENA, "stage": "customer", "amount": 12000, "currency": "chf", "reason": "signed"},
        headers=as_rep(desk, rep),
    )
    assert won.status_code == 200, won.text
    assert won.json()["lead"]["stage"] == "customer"
    with desk.store.connect() as conn:
        c = stage_changes.c
        deal = select(c.to_stage, c.amount, c.currency).where(c.amount.is_not(None))
        assert conn.execute(deal).all() == [("customer", 12000.0, "CHF")]
    assert [c.actor for c in desk.stage_changes(LENA)][-2:] == [rep, rep]


def test_the_sales_key_acts_for_a_named_actor_and_reasons_come_from_the_sla(
    desk: Desk, client: httpx.Client
) -> None:
    routed(desk)
    missing = client.post("/api/sales/reject", json={"email": LENA, "reason": "no budget"}, headers=KEY)
    assert missing.status_code == 400 and "actor" in missing.json()["error"]
    no_reason = client.post("/api/sales/reject", json={"email": LENA, "actor": "crm"}, headers=KEY)
    assert no_reason.status_code == 400 and no_reason.json()["error"].startswith("reason:")

    done = client.post(
        "/api/sales/reject",
        json={"email": LENA, "actor": "crm:hubspot", "reason": "no budget", "note": "ask again in Q3"},
        headers=KEY,
    )
    assert done.status_code == 200 and done.json()["lead"]["stage"] == "recycled"
    (handoff,) = desk.handoffs(LENA)
    assert (handoff.status, handoff.actor, handoff.reason) == (
        "rejected",
        "crm:hubspot",
        "No budget: ask again in Q3",
    )


def test_a_retry_with_the_same_key_is_done_once_and_answered_the_same(
    desk: Desk, client: httpx.Client
) -> None:
    rep = routed(desk)
    headers = {**as_rep(desk, rep), "idempotency-key": "accept-1"}
    first = client.post("/api/sales/accept", json={"email": LENA}, headers=headers)
    again = client.post("/api/sales/accept", json={"email": LENA}, headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
    assert [(c.from_stage, c.to_stage) for c in desk.stage_changes(LENA)][-1] == ("mql", "sal")
    assert sum(c.to_stage == "sal" for c in desk.stage_changes(LENA)) == 1

    other = client.post("/api/sales/accept", json={"email": LENA, "reason": "x"}, headers=headers)
    assert other.status_code == 422
    # Without a key a second accept is an answer about the state: the handoff is closed.
    plain = client.post("/api/sales/accept", json={"email": LENA}, headers=as_rep(desk, rep))
    assert plain.status_code == 409 and "accepted" in plain.json()["error"]


def test_a_rep_acts_only_on_their_own_leads_and_errors_are_clear(desk: Desk, client: httpx.Client) -> None:
    rep = routed(desk)
    other = "ben" if rep == "anna" else "anna"
    refused = client.post("/api/sales/accept", json={"email": LENA}, headers=as_rep(desk, other))
    assert refused.status_code == 403 and desk.stage(LENA) == "mql"
    assert client.get("/api/sales/queue", params={"rep": rep}, headers=as_rep(desk, other)).status_code == 403
    assert client.post("/api/sales/accept", json={"email": LENA}).status_code == 401
    assert (
        client.post(
            "/api/sales/accept", json={"email": LENA}, headers={"authorization": "Bearer anna.x"}
        ).status_code
        == 401
    )
    assert client.post("/api/sales/promote", json={}, headers=KEY).status_code == 404
    wrong = client.post(
        "/api/sales/convert", json={"email": LENA, "actor": "crm", "amount": "lots"}, headers=KEY
    )
    assert wrong.status_code == 400 and wrong.json()["error"].startswith("amount:")
    unknown = client.post(
        "/api/sales/accept", json={"email": LENA, "actor": "crm", "stage": "x"}, headers=KEY
    )
    assert unknown.status_code == 400 and unknown.json()["error"].startswith("stage: not a field")
    nobody = client.post("/api/sales/accept", json={"email": "nobody@x.de", "actor": "crm"}, headers=KEY)
    assert nobody.status_code == 404
    sql_amount = client.post(
        "/api/sales/convert", json={"email": LENA, "actor": "crm", "stage": "sql", "amount": 5}, headers=KEY
    )
    assert sql_amount.status_code == 422 and "amount" in sql_amount.json()["error"]
    assert client.post("/api/sales/accept", content=b"[1", headers=KEY).status_code == 400
    assert desk.stage(LENA) == "mql"


def test_reassign_and_disqualify_follow_the_cli_rules(desk: Desk, client: httpx.Client) -> None:
    rep = routed(desk)
    other = "ben" if rep == "anna" else "anna"
    moved = client.post(
        "/api/sales/reassign",
        json={"email": LENA, "to": other, "reason": "holiday"},
        headers=as_rep(desk, rep),
    )
    assert moved.status_code == 200 and moved.json()["handoff"]["rep"] == other
    assert (
        client.get("/api/sales/queue", params={"rep": rep}, headers=as_rep(desk, rep)).json()["handoffs"]
        == []
    )
    nobody = client.post(
        "/api/sales/reassign", json={"email": LENA, "to": "zed", "actor": "boss"}, headers=KEY
    )
    assert nobody.status_code == 422 and "no rep 'zed'" in nobody.json()["error"]
    out = client.post(
        "/api/sales/disqualify", json={"email": LENA, "reason": "student"}, headers=as_rep(desk, other)
    )
    assert out.status_code == 200 and out.json()["lead"]["stage"] == "disqualified"
    again = client.post("/api/sales/convert", json={"email": LENA, "actor": "crm"}, headers=KEY)
    assert again.status_code == 409 and "disqualified" in again.json()["error"]


def test_raising_a_reps_token_generation_revokes_their_token(desk: Desk) -> None:
    (team,) = desk.program.sales_teams.values()
    key = desk.lifecycle.sales.setup.rep_token_key
    anna = team.rep("anna")
    token = rep_token(key, anna)
    assert token.startswith("anna.")
    assert rep_of_token(key, desk.program, token) == anna
    newer = anna.model_copy(update={"token_generation": 1})
    assert rep_token(key, newer) != token
    assert rep_of_token(key, desk.program, token.replace("anna.", "ben.")) is None
    assert rep_of_token(key, desk.program, "anna." + "A" * 22) is None
