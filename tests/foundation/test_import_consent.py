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
from nurture.store.schema import consent_proofs, consents

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
