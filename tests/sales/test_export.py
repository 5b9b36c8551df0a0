"""``nurture leads export``: everything stored about one person, and nothing about anyone else."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from nurture.definitions import content_hash
from nurture.engagement.optouts import add_suppression
from nurture.engine.entry import enroll
from nurture.errors import LeadNotFound
from nurture.leads.addresses import suppression_hash
from nurture.leads.consent import record_consent
from nurture.leads.export import EXPORT_FORMAT, export_lead
from nurture.sales import accept, convert
from nurture.store.schema import events, leads, messages, metadata, topic_suppressions
from tests.sales.desk import MONDAY, Desk, team, write_workspace

LENA = "lena@alpenblick.de"
MAX = "max@bergwerk.at"
LATER = MONDAY + timedelta(hours=2)

# Where each table holding a person's data appears in the export.
EXPORTED = {
    "leads": "profile",
    "stage_changes": "stage_history",
    "score_ledger": "score_ledger",
    "enrollments": "enrollments",
    "messages": "messages",
    "events": "events",
    "handoffs": "handoffs",
    "webhook_deliveries": "webhooks",
    "consents": "consents",
    "consent_proofs": "consents",  # an erased person's consent records, kept by hash
    "suppressions": "suppressions",
    "topic_suppressions": "topic_suppressions",
}


def fill(desk: Desk, email: str, marker: str) -> None:
    """Give the lead a row in every table that can hold data about a person."""
    desk.make_mql(email, MONDAY)
    desk.record(email, "page_view", MONDAY, url=f"https://taktwerk.example/{marker}", note=marker)
    with desk.store.begin() as conn:
        lead_id = desk.lead_id(email, conn)
        conn.execute(leads.update().where(leads.c.id == lead_id).values(attributes={"marker": marker}))
        campaign = desk.program.campaign("newsletter")
        enroll(conn, campaign, content_hash(campaign), [lead_id], MONDAY)
        conn.execute(
            messages.insert().values(
                lead_id=lead_id, campaign_key="newsletter", step_id="issue", kind="marketing",
                to_address=email, subject=f"Newsletter {marker}", html=f"<p>{marker} body</p>",
                message_id=f"<{marker}@taktwerk.example>", status="sent", created_at=MONDAY, sent_at=MONDAY,
            )
        )  # fmt: skip
        conn.execute(
            events.insert().values(
                anonymous_email=email, type="form_submit", occurred_at=MONDAY - timedelta(days=1),
                received_at=MONDAY - timedelta(days=1), properties={"form": f"before-{marker}"},
            )
        )  # fmt: skip
        record_consent(
            conn, lead_id, "newsletter", "confirmed", MONDAY, source=f"form-{marker}", ip="192.0.2.7"
        )
        add_suppression(conn, email, "complaint", f"feedback loop {marker}", LATER)
        conn.execute(
            topic_suppressions.insert().values(
                email_hash=suppression_hash(email), topic="events", reason="imported",
                detail=f"old tool {marker}", created_at=MONDAY,
            )
        )  # fmt: skip


@pytest.fixture
def desk(desk: Desk) -> Desk:
    write_workspace(desk.root, sales_team=team(extra=", webhook: 'https://hooks.example/rep'"))
    desk.reload()
    desk.import_leads(
        "email,first_name,last_name,country,job_title,company_size\n"
        f"{LENA},Lena,Wolf,DE,CEO,100\n{MAX},Max,Huber,AT,CEO,100\n"
    )
    fill(desk, LENA, "LENA-ONLY")
    fill(desk, MAX, "MAX-ONLY")
    desk.act(accept, LENA, LATER, actor="anna")
    desk.act(convert, LENA, LATER, stage="opportunity", actor="anna", reason="demo", amount=12000.0)
    return desk


def exported(desk: Desk, email: str) -> dict[str, Any]:
    with desk.store.connect() as conn:
        return export_lead(conn, email, LATER)


def test_every_table_about_a_person_is_in_the_export(desk: Desk) -> None:
    personal = {
        name
        for name, table in metadata.tables.items()
        if {"lead_id", "email_hash", "handoff_id"} & set(table.c.keys())
    }
    # A new table holding a person's data must be exported (or this list says why not).
    assert personal | {"leads"} == set(EXPORTED)
    document = exported(desk, LENA)
    assert set(document) == {
        "format", "exported_at", "email", "attributes", "score", *EXPORTED.values(),
    }  # fmt: skip
    for table, key in EXPORTED.items():
        assert document[key], f"{table} is missing from the export ({key})"


def test_the_export_holds_the_persons_data(desk: Desk) -> None:
    document = exported(desk, LENA)
    assert (document["format"], document["email"]) == (EXPORT_FORMAT, LENA)
    assert document["profile"]["first_name"] == "Lena"
    assert (document["profile"]["lifecycle_stage"], document["profile"]["owner"]) == ("opportunity", "anna")
    assert document["attributes"] == {"marker": "LENA-ONLY"}
    assert document["score"]["fit"] == desk.lead(LENA).fit_score
    assert [s["to"] for s in document["stage_history"]] == ["lead", "mql", "sal", "opportunity"]
    assert (document["stage_history"][-1]["amount"], document["stage_history"][-1]["currency"]) == (
        12000.0,
        "EUR",
    )
    assert sum(line["points"] for line in document["score_ledger"]) == pytest.approx(desk.lead(LENA).score)
    assert [e["campaign"] for e in document["enrollments"]] == ["newsletter"]
    subjects = {m["subject"] for m in document["messages"]}
    assert "Newsletter LENA-ONLY" in subjects
    assert {m["kind"] for m in document["messages"]} == {"marketing", "sales_notification"}
    assert all(set(m) == {"kind", "campaign", "step", "subject", "status", "attempts", "created_at",
                          "sent_at", "variant"} for m in document["messages"])  # fmt: skip
    types = [e["type"] for e in document["events"]]
    assert "form_submit" in types  # received for the address before it was a lead
    page_view = next(e for e in document["events"] if e["type"] == "page_view")
    assert page_view["properties"] == {"note": "LENA-ONLY"}
    assert [(h["rep"], h["status"]) for h in document["handoffs"]] == [("anna", "converted")]
    assert {w["event"] for w in document["webhooks"]} == {"lead.routed"}
    assert document["consents"] == [
        {"topic": "newsletter", "status": "confirmed", "at": MONDAY.isoformat(), "source": "form-LENA-ONLY",
         "text_version": None, "ip": "192.0.2.7"}
    ]  # fmt: skip
    assert document["suppressions"] == [
        {"reason": "complaint", "detail": "feedback loop LENA-ONLY", "created_at": LATER.isoformat()}
    ]
    assert document["topic_suppressions"][0]["topic"] == "events"
    json.dumps(document)  # plain JSON throughout


def test_nothing_about_another_person_or_the_reps_addresses(desk: Desk) -> None:
    text = json.dumps(exported(desk, LENA))
    for other in ("MAX-ONLY", MAX, "Huber", "before-MAX"):
        assert other not in text
    # Nor the rep's address, the webhook's address, message bodies or the recipient column.
    for private in ("@sales.example", "hooks.example", "LENA-ONLY body", "to_address", "signature"):
        assert private not in text
    assert "MAX-ONLY" in json.dumps(exported(desk, MAX))


def test_an_address_that_is_no_lead(desk: Desk) -> None:
    with desk.store.begin() as conn:
        add_suppression(conn, "walker@passant.de", "unsubscribe", None, MONDAY)
        conn.execute(
            events.insert().values(
                anonymous_email="walker@passant.de", type="page_view", occurred_at=MONDAY,
                received_at=MONDAY, properties={},
            )
        )  # fmt: skip
    document = exported(desk, "Walker@Passant.de")
    assert (document["profile"], document["score"], document["email"]) == (None, None, "walker@passant.de")
    assert [e["type"] for e in document["events"]] == ["page_view"]
    assert document["suppressions"][0]["reason"] == "unsubscribe"
    assert document["stage_history"] == document["handoffs"] == document["webhooks"] == []
    with pytest.raises(LeadNotFound):
        exported(desk, "nobody@nowhere.example")


def test_the_export_command(desk: Desk, cli: Any) -> None:
    env = {"NURTURE_NOW": LATER.isoformat()}
    result = cli("leads", "export", LENA, env=env)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == exported(desk, LENA)
    target = desk.root / "lena.json"
    result = cli("leads", "export", LENA, "--output", str(target), env=env)
    assert result.exit_code == 0
    assert json.loads(target.read_text(encoding="utf-8"))["email"] == LENA
    result = cli("leads", "export", "nobody@nowhere.example", env=env)
    assert (result.exit_code, "no lead with e-mail 'nobody@nowhere.example'" in result.output) == (1, True)
    with desk.store.connect() as conn:
        assert conn.scalar(select(leads.c.email).where(leads.c.email == LENA)) == LENA  # read only
