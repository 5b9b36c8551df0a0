"""Addresses with non-ASCII local parts (RFC 6531): sent with SMTPUTF8 where the relay offers it,
a clear failure recorded on the message where it does not."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime
from typing import Any

from aiosmtpd.controller import Controller
from sqlalchemy import select

from nurture.store.schema import messages
from tests.harness import Harness
from tests.ports import free_port

MONDAY = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)
LEADS = "email,first_name,country,timezone\nJürgen@Müller-Bau.de,Jürgen,DE,Europe/Berlin\n"


class Relay:
    def __init__(self) -> None:
        self.received: list[tuple[list[str], list[str], bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.received.append(
            (list(envelope.mail_options), list(envelope.rcpt_tos), envelope.original_content)
        )
        return "250 2.0.0 queued"


def send_through(harness: Harness, cli, *, smtputf8: bool) -> Relay:  # type: ignore[no-untyped-def]
    relay, port = Relay(), free_port()
    controller = Controller(relay, hostname="127.0.0.1", port=port, enable_SMTPUTF8=smtputf8)
    controller.start()
    try:
        toml = harness.root / "nurture.toml"
        toml.write_text(
            toml.read_text() + f'transport = "smtp://127.0.0.1:{port}?tls=none"\n', encoding="utf-8"
        )
        harness.import_leads(LEADS, MONDAY)
        result = cli("tick", "--now", "2026-03-02T08:30:00Z")
        assert result.exit_code == 0, result.output
    finally:
        controller.stop()
    return relay


def message_row(harness: Harness) -> Any:
    with harness.store.connect() as conn:
        return conn.execute(select(messages.c.to_address, messages.c.status, messages.c.last_error)).one()


def test_a_relay_offering_smtputf8_gets_the_address_as_it_is(harness: Harness, cli) -> None:  # type: ignore[no-untyped-def]
    relay = send_through(harness, cli, smtputf8=True)
    [(options, recipients, data)] = relay.received
    assert "SMTPUTF8" in options
    assert recipients == ["jürgen@xn--mller-bau-q9a.de"]
    parsed = email.message_from_bytes(data, policy=email.policy.SMTPUTF8)
    assert "jürgen@xn--mller-bau-q9a.de" in str(parsed["To"])
    assert message_row(harness).status == "sent"


def test_a_relay_without_smtputf8_leaves_a_clear_recorded_failure(harness: Harness, cli) -> None:  # type: ignore[no-untyped-def]
    relay = send_through(harness, cli, smtputf8=False)
    assert relay.received == []
    row = message_row(harness)
    assert row.status == "failed"
    assert "does not offer SMTPUTF8" in row.last_error
