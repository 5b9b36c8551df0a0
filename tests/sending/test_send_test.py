"""`nurture send-test` and `preview --sample`: a real email to yourself, recorded against no lead."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from sqlalchemy import func, select

from nurture.store.schema import events, leads, messages, score_ledger, stage_changes
from tests.harness import Harness
from tests.ports import free_port

MONDAY = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)
LEADS = "email,first_name,country,timezone\nanna@alpenblick.de,Anna,DE,Europe/Berlin\n"


class Relay:
    def __init__(self) -> None:
        self.received: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 2.0.0 queued"


def counts(h: Harness) -> dict[str, int]:
    with h.store.connect() as conn:
        return {
            t.name: conn.scalar(select(func.count()).select_from(t)) or 0
            for t in (leads, messages, events, score_ledger, stage_changes)
        }


def test_send_test_goes_through_the_smtp_relay_and_records_nothing(harness: Harness, cli) -> None:  # type: ignore[no-untyped-def]
    harness.import_leads(LEADS, MONDAY)
    before = counts(harness)
    relay = Relay()
    port = free_port()
    controller = Controller(relay, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        toml = harness.root / "nurture.toml"
        toml.write_text(
            toml.read_text() + f'transport = "smtp://127.0.0.1:{port}?tls=none"\n', encoding="utf-8"
        )
        result = cli("send-test", "trial", "welcome", "--to", "Marketing <qa@taktwerk.example>",
                     "--lead", "anna@alpenblick.de")  # fmt: skip
    finally:
        controller.stop()
    assert result.exit_code == 0, result.output
    assert "sent '[TEST] Willkommen, Anna!' to" in result.output
    [(_sender, recipients, data)] = relay.received
    assert recipients == ["qa@taktwerk.example"]
    parsed = email.message_from_bytes(data, policy=email.policy.default)
    assert parsed["Subject"] == "[TEST] Willkommen, Anna!"
    assert parsed["To"] == "Marketing <qa@taktwerk.example>"
    assert "Hallo Anna" in parsed.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert counts(harness) == before


def test_send_test_with_a_sample_lead_writes_to_the_maildir(harness: Harness, cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("send-test", "trial", "welcome", "--to", "qa@taktwerk.example", "--sample")
    assert result.exit_code == 0, result.output
    [written] = list((harness.root / "outbox" / "new").iterdir())
    parsed = email.message_from_bytes(Path(written).read_bytes(), policy=email.policy.default)
    assert parsed["Subject"].startswith("[TEST] Willkommen, ")
    assert parsed["To"] == "qa@taktwerk.example"
    assert counts(harness)["leads"] == 0 and counts(harness)["messages"] == 0


def test_send_test_refuses_a_bad_address_or_a_step_that_sends_nothing(harness: Harness, cli) -> None:  # type: ignore[no-untyped-def]
    assert "not an e-mail address" in cli("send-test", "trial", "welcome", "--to", "qa@").output
    refused = cli("send-test", "trial", "opened-welcome", "--to", "qa@taktwerk.example")
    assert refused.exit_code == 1 and "sends no email" in refused.output


def test_preview_with_a_sample_lead_needs_no_stored_lead(harness: Harness, cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("preview", "trial", "welcome", "--sample")
    assert result.exit_code == 0, result.output
    assert "Subject: Willkommen, " in result.output
    assert cli("preview", "trial", "welcome").exit_code == 2  # neither --lead nor --sample
