"""Suppression lists from a previous tool: imported, listed, lifted, each with its actor."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from nurture.leads.addresses import suppression_hash
from nurture.store.schema import audit_log, enrollments, leads
from tests.harness import Harness

MONDAY = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)
ENV = {"NURTURE_NOW": MONDAY.isoformat()}
LEADS = "email,first_name,country\nanna@alpenblick.de,Anna,DE\njens@rheinwerk.de,Jens,DE\n"


def test_an_imported_list_suppresses_addresses_and_hashes_and_reports_bad_lines(
    harness: Harness, cli: Any
) -> None:
    h = harness
    h.import_leads(LEADS, MONDAY)
    h.tick(MONDAY)
    path = h.root / "mailchimp-unsubscribed.csv"
    path.write_text(
        "email,unsubscribed_on\n"
        "Anna@Alpenblick.de,2025-01-01\n"
        f"{suppression_hash('someone@else.example').upper()}\n"
        "# a comment\n"
        "\n"
        "not an address\n",
        encoding="utf-8",
    )
    result = cli("suppressions", "import", str(path), "--reason", "unsubscribe", "--actor", "petra", env=ENV)
    assert result.exit_code == 1
    assert "mailchimp-unsubscribed.csv: line 6: not an e-mail address or a SHA-256 hash" in result.output
    assert (
        "2 entries for every topic, 2 new, 0 already suppressed, 1 rejected; 1 enrollments ended"
        in result.output
    )
    again = cli("suppressions", "import", str(path), "--reason", "unsubscribe", env=ENV)
    assert "0 new, 2 already suppressed" in again.output

    listed = json.loads(cli("suppressions", "list", "--json", env=ENV).output)
    hashes = {row["email_hash"] for row in listed}
    assert {suppression_hash("anna@alpenblick.de"), suppression_hash("someone@else.example")} <= hashes
    with h.store.connect() as conn:
        status = conn.scalar(
            select(enrollments.c.status)
            .join(leads, leads.c.id == enrollments.c.lead_id)
            .where(leads.c.email == "anna@alpenblick.de")
        )
        audit = conn.execute(select(audit_log.c.actor, audit_log.c.action, audit_log.c.detail)).all()
    assert status == "exited"
    assert any(actor == "petra" and action == "suppress" and d["added"] == 2 for actor, action, d in audit)

    lifted = cli("suppressions", "remove", "anna@alpenblick.de", "--actor", "ben", env=ENV)
    assert lifted.exit_code == 0 and "was: unsubscribe" in lifted.output
    assert cli("suppressions", "remove", "anna@alpenblick.de", env=ENV).exit_code == 1  # not any more
    shown = cli("audit", "--action", "unsuppress", env=ENV).output
    assert "ben" in shown and "email-hash:" in shown and "anna" not in shown


def test_an_erasure_is_audited_and_its_suppression_cannot_be_lifted(harness: Harness, cli: Any) -> None:
    h = harness
    h.import_leads(LEADS, MONDAY)
    assert cli("leads", "forget", "jens@rheinwerk.de", "--yes", "--actor", "dpo", env=ENV).exit_code == 0
    refused = cli("suppressions", "remove", "jens@rheinwerk.de", env=ENV)
    assert refused.exit_code == 1 and "erased at the person's request" in refused.output
    audit = json.loads(cli("audit", "--json", "--action", "erase", env=ENV).output.splitlines()[0])
    assert (
        audit["actor"] == "dpo" and audit["subject"] == f"email-hash:{suppression_hash('jens@rheinwerk.de')}"
    )
