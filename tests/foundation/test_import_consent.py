"""A lead import says where its people's consent comes from, and the proof is kept and shown."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine

from nurture.engagement import unsubscribe
from nurture.leads.addresses import suppression_hash
from nurture.store.schema import consent_proofs, consents, leads

ENV = {"NURTURE_NOW": "2026-03-02T09:00:00Z"}


def test_imported_leads_carry_the_consent_the_file_stands_for(
    cli: Any, workspace: Path, store: Engine
) -> None:
    path = workspace / "fair.csv"
    path.write_text("email,first_name\nanna@firma.de,Anna\nben@firma.de,Ben\n", encoding="utf-8")
    args = ("leads", "import", str(path), "--consent-source", "fair-2026", "--consent-date", "2026-02-10",
            "--consent-text-version", "v3", "--consent-topic", "newsletter")  # fmt: skip
    first = cli(*args, env=ENV)
    assert first.exit_code == 0, first.output
    again = cli(*args, env=ENV)  # unchanged leads, the same consent: nothing new
    assert again.exit_code == 0, again.output
    with store.connect() as conn:
        rows = conn.execute(select(consents.c.topic, consents.c.source, consents.c.text_version)).all()
    assert sorted(rows) == [("newsletter", "import:fair-2026", "v3")] * 2
    shown = json.loads(cli("leads", "show", "anna@firma.de", "--json", env=ENV).stdout)
    assert shown["consent"] == [
        {"topic": "newsletter", "status": "confirmed", "at": "2026-02-10T00:00:00+00:00",
         "source": "import:fair-2026", "text_version": "v3", "ip": None},
    ]  # fmt: skip
    exported = json.loads(cli("leads", "export", "anna@firma.de", env=ENV).stdout)
    assert [c["source"] for c in exported["consents"]] == ["import:fair-2026"]
    # A new wording is new consent, recorded for every lead of the file, changed or not.
    cli(
        "leads", "import", str(path), "--consent-source", "fair-2026", "--consent-text-version", "v4", env=ENV
    )
    with store.connect() as conn:
        assert len(conn.execute(select(consents)).all()) == 4


def test_a_consent_date_without_a_source_or_in_the_future_is_refused(cli: Any, workspace: Path) -> None:
    path = workspace / "fair.csv"
    path.write_text("email\nanna@firma.de\n", encoding="utf-8")
    alone = cli("leads", "import", str(path), "--consent-date", "2026-02-10", env=ENV)
    assert alone.exit_code == 2 and "go with --consent-source" in alone.output
    future = cli(
        "leads", "import", str(path), "--consent-source", "x", "--consent-date", "2027-01-01", env=ENV
    )
    assert future.exit_code == 2 and "in the future" in future.output


def test_after_erasure_the_proofs_stay_under_the_address_hash_only(
    cli: Any, workspace: Path, store: Engine
) -> None:
    path = workspace / "fair.csv"
    path.write_text("email,first_name\nanna@firma.de,Anna\n", encoding="utf-8")
    cli(
        "leads", "import", str(path), "--consent-source", "fair-2026", "--consent-date", "2026-02-10", env=ENV
    )
    assert cli("leads", "forget", "anna@firma.de", "--yes", env=ENV).exit_code == 0
    with store.connect() as conn:
        assert conn.execute(select(consents)).all() == []
        proofs = conn.execute(select(consent_proofs)).all()
    assert [(p.status, p.source) for p in proofs] == [
        ("confirmed", "import:fair-2026"), ("withdrawn", "erasure: erasure request"),
    ]  # fmt: skip
    assert {p.email_hash for p in proofs} == {suppression_hash("anna@firma.de")}
    assert "anna" not in repr([tuple(p) for p in proofs])
    exported = json.loads(cli("leads", "export", "anna@firma.de", env=ENV).stdout)
    assert exported["profile"] is None
    assert [c["status"] for c in exported["consents"]] == ["confirmed", "withdrawn"]


def test_an_unsubscribe_is_recorded_as_a_withdrawal_of_every_consent(
    cli: Any, workspace: Path, store: Engine
) -> None:
    path = workspace / "fair.csv"
    path.write_text("email\nanna@firma.de\n", encoding="utf-8")
    cli(
        "leads",
        "import",
        str(path),
        "--consent-source",
        "fair-2026",
        "--consent-topic",
        "newsletter",
        env=ENV,
    )
    now = datetime(2026, 3, 3, 10, 0, tzinfo=UTC)
    with store.begin() as conn:
        unsubscribe(conn, "anna@firma.de", now, "one_click")
        unsubscribe(conn, "anna@firma.de", now, "page")  # already out: nothing more recorded
    history = json.loads(cli("leads", "show", "anna@firma.de", "--json", env=ENV).stdout)["consent_history"]
    assert [(c["topic"], c["status"], c["source"]) for c in history] == [
        ("newsletter", "confirmed", "import:fair-2026"),
        ("newsletter", "withdrawn", "unsubscribe: one_click"),
    ]


def test_a_row_gives_its_own_consent_in_the_lead_apis_fields(
    cli: Any, workspace: Path, store: Engine
) -> None:
    path = workspace / "webinar.csv"
    path.write_text(
        "email,consent.topic,consent.status,consent.at,consent.source,consent.text_version,consent.ip\n"
        "anna@firma.de,newsletter,,2026-02-10T09:30:00Z,webinar-7,v3,203.0.113.5\n"
        "ben@firma.de,,,,,,\n"  # says nothing about consent
        "cara@firma.de,webinar,pending,,,,\n"
        "dora@firma.de,newsletter,,yesterday,,,\n"
        "emil@firma.de,,,,webinar-7,,\n"
        "fritz@firma.de,newsletter,maybe,,,,\n",
        encoding="utf-8",
    )
    result = cli("leads", "import", str(path), "--json", env=ENV)
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert (report["created"], report["rejected"]) == (3, 3)
    assert {p["row"]: p["message"] for p in report["problems"]} == {
        5: "consent.at: 'yesterday' is not an ISO-8601 date and time",
        6: "consent.topic: is required",
        7: "consent.status: is one of pending, confirmed, withdrawn, expired",
    }
    with store.connect() as conn:
        recorded = conn.execute(
            select(
                leads.c.email, consents.c.topic, consents.c.status, consents.c.at, consents.c.source,
                consents.c.text_version, consents.c.ip,
            ).join(leads, leads.c.id == consents.c.lead_id).order_by(leads.c.email)
        ).all()  # fmt: skip
    assert [tuple(r) for r in recorded] == [
        ("anna@firma.de", "newsletter", "confirmed", datetime(2026, 2, 10, 9, 30, tzinfo=UTC),
         "import:webinar-7", "v3", "203.0.113.5"),
        ("cara@firma.de", "webinar", "pending", datetime(2026, 3, 2, 9, 0, tzinfo=UTC), "import", None, None),
    ]  # fmt: skip
    # The same file again: the leads are unchanged and so is their consent.
    again = json.loads(cli("leads", "import", str(path), "--json", env=ENV).stdout)
    assert again["unchanged"] == 3
    with store.connect() as conn:
        assert len(conn.execute(select(consents)).all()) == 2


def test_json_lines_give_consent_as_the_api_does_and_bad_ones_can_be_left_out(
    cli: Any, workspace: Path, store: Engine
) -> None:
    path = workspace / "leads.jsonl"
    lines = [
        {"email": "anna@firma.de", "consent": {"topic": "newsletter", "text_version": "v1"}},
        {
            "email": "ben@firma.de",
            "consent": [{"topic": "newsletter"}, {"topic": "events", "status": "withdrawn"}],
        },
        {"email": "cara@firma.de", "consent": {"topic": "newsletter", "colour": "blue"}},
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    dry = json.loads(cli("leads", "import", str(path), "--dry-run", "--json", env=ENV).stdout)
    assert (dry["created"], dry["rejected"]) == (2, 1)
    assert dry["problems"] == [
        {"row": 3, "message": "consent.colour: is not a consent field (topic, status, at, source, "
         "text_version, ip)"},
    ]  # fmt: skip
    with store.connect() as conn:
        assert conn.execute(select(consents)).all() == []  # a dry run records nothing
    kept = json.loads(cli("leads", "import", str(path), "--on-error", "skip-field", "--json", env=ENV).stdout)
    assert (kept["created"], kept["rejected"], kept["fields_skipped"]) == (3, 0, 1)
    with store.connect() as conn:
        recorded = conn.execute(
            select(leads.c.email, consents.c.topic, consents.c.status, consents.c.text_version)
            .join(leads, leads.c.id == consents.c.lead_id).order_by(leads.c.email, consents.c.topic)
        ).all()  # fmt: skip
    assert [tuple(r) for r in recorded] == [
        ("anna@firma.de", "newsletter", "confirmed", "v1"),
        ("ben@firma.de", "events", "withdrawn", None),
        ("ben@firma.de", "newsletter", "confirmed", None),
    ]


def test_a_row_named_by_its_external_id_brings_consent_to_that_lead(
    cli: Any, workspace: Path, store: Engine
) -> None:
    path = workspace / "crm.csv"
    path.write_text("email,external_id\nanna@firma.de,CRM-1\n", encoding="utf-8")
    assert cli("leads", "import", str(path), env=ENV).exit_code == 0
    path.write_text("external_id,consent.topic,consent.source\nCRM-1,newsletter,crm\n", encoding="utf-8")
    assert cli("leads", "import", str(path), env=ENV).exit_code == 0
    shown = json.loads(cli("leads", "show", "anna@firma.de", "--json", env=ENV).stdout)
    assert [(c["topic"], c["source"]) for c in shown["consent"]] == [("newsletter", "import:crm")]


def test_a_column_named_consent_with_a_spreadsheets_yes_stays_a_custom_attribute(
    cli: Any, workspace: Path, store: Engine
) -> None:
    path = workspace / "sheet.csv"
    path.write_text("email,consent\nanna@firma.de,yes\n", encoding="utf-8")
    assert cli("leads", "import", str(path), env=ENV).exit_code == 0
    lines = workspace / "sheet.jsonl"
    lines.write_text(
        json.dumps({"email": "ben@firma.de", "consent": ["newsletter"]}) + "\n", encoding="utf-8"
    )
    assert cli("leads", "import", str(lines), env=ENV).exit_code == 0
    with store.connect() as conn:
        kept = dict(conn.execute(select(leads.c.email, leads.c.attributes)).all())
        assert conn.execute(select(consents)).all() == []
    assert kept == {"anna@firma.de": {"consent": "yes"}, "ben@firma.de": {"consent": ["newsletter"]}}
