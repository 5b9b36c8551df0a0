"""``nurture outbox unknown``: list, resend the very bytes attempted, or drop."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from nurture.clock import FixedClock
from nurture.guards.audit import audit_entries
from nurture.sending.factory import build_outbox
from nurture.store.schema import messages
from nurture.workspace import Workspace
from tests.harness import Harness
from tests.relay import Relay, relay_url, start_relay

MONDAY = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)
ANNA, JENS, LENA = "anna@alpenblick.de", "jens@rheinwerk.de", "lena@nordlicht.de"


@pytest.fixture
def relay(harness: Harness) -> Iterator[Relay]:
    handler = Relay()
    controller = start_relay(handler)
    toml = harness.root / "nurture.toml"
    transport = relay_url(controller, data_timeout=1)
    toml.write_text(toml.read_text() + f'transport = "{transport}"\n', encoding="utf-8")
    try:
        yield handler
    finally:
        handler.release.set()
        controller.stop()


def status_of(h: Harness, address: str) -> tuple[str, bytes | None]:
    with h.store.connect() as conn:
        row = conn.execute(
            select(messages.c.status, messages.c.attempted_data).where(messages.c.to_address == address)
        ).one()
    return row[0], row[1]


def test_unknown_emails_are_listed_resent_byte_for_byte_or_dropped(  # type: ignore[no-untyped-def]
    harness: Harness, relay: Relay, cli
) -> None:
    h = harness
    h.import_leads(
        "email,first_name,country,timezone\n"
        f"{ANNA},Anna,DE,Europe/Berlin\n{JENS},Jens,DE,Europe/Berlin\n{LENA},Lena,DE,Europe/Berlin\n",
        MONDAY,
    )
    h.tick(MONDAY)
    relay.faults.update({ANNA: "drop-after-dot", JENS: "drop-after-dot"})
    workspace = Workspace(h.root)
    outbox = build_outbox(h.store, h.engine().program, workspace, clock=FixedClock(MONDAY).now)

    async def deliver():  # type: ignore[no-untyped-def]
        try:
            return await outbox.deliver_due(MONDAY)
        finally:
            await outbox.transport.close()

    assert asyncio.run(deliver()).outcomes == {"sent": 1, "unknown": 2}
    first_bytes = dict(zip(relay.accepted, relay.contents, strict=True))

    listed = cli("outbox", "unknown")
    assert listed.exit_code == 0, listed.output
    assert ANNA in listed.output and JENS in listed.output and LENA not in listed.output
    assert "2 unknown" in listed.output and "final dot" in listed.output

    relay.faults.clear()
    with h.store.connect() as conn:
        anna_id = conn.scalar(select(messages.c.id).where(messages.c.to_address == ANNA))
    resent = cli("outbox", "unknown", "--resend", "--id", str(anna_id), "--actor", "mara")
    assert resent.exit_code == 0, resent.output
    assert "sent" in resent.output
    assert status_of(h, ANNA) == ("sent", None)
    anna_mid = relay.accepted[-1]
    assert relay.accepted.count(anna_mid) == 2  # the same Message-ID, as receiving systems need
    assert relay.contents[-1] == first_bytes[anna_mid]  # the very bytes that were attempted

    dropped = cli("outbox", "unknown", "--drop", "--actor", "jo")
    assert dropped.exit_code == 0 and "dropped 1" in dropped.output
    assert status_of(h, JENS) == ("dropped", None)
    with h.store.connect() as conn:
        jens_id = conn.scalar(select(messages.c.id).where(messages.c.to_address == JENS))
        entries = audit_entries(conn)
    audited = [(e.actor, e.action, e.subject, e.detail) for e in entries if e.action != "deploy"]
    assert audited == [
        ("mara", "resend", f"message:{anna_id}", {"outcome": "sent"}),
        ("jo", "drop", f"message:{jens_id}", {"campaign": "trial"}),
    ]
    assert "no emails with an unknown fate" in cli("outbox", "unknown").output
    assert cli("outbox", "unknown", "--resend", "--drop").exit_code != 0


def test_a_resend_obeys_pauses_and_suppressions(  # type: ignore[no-untyped-def]
    harness: Harness, relay: Relay, cli
) -> None:
    h = harness
    h.import_leads(
        f"email,first_name,country,timezone\n{ANNA},Anna,DE,Europe/Berlin\n{JENS},Jens,DE,Europe/Berlin\n",
        MONDAY,
    )
    h.tick(MONDAY)
    relay.faults.update({ANNA: "drop-after-dot", JENS: "drop-after-dot"})
    outbox = build_outbox(h.store, h.engine().program, Workspace(h.root), clock=FixedClock(MONDAY).now)

    async def deliver():  # type: ignore[no-untyped-def]
        try:
            return await outbox.deliver_due(MONDAY)
        finally:
            await outbox.transport.close()

    assert asyncio.run(deliver()).outcomes == {"unknown": 2}
    relay.faults.clear()
    handed_over = len(relay.accepted)
    listed = h.root / "old-tool.txt"
    listed.write_text(f"{JENS}\n", encoding="utf-8")
    assert cli("suppressions", "import", str(listed)).exit_code == 0
    assert cli("pause", "trial", "--actor", "mara").exit_code == 0
    held = cli("outbox", "unknown", "--resend")
    assert held.exit_code == 0, held.output
    assert "not resent: sending is paused" in held.output
    assert "not resent: address suppressed" in held.output
    assert len(relay.accepted) == handed_over
    assert status_of(h, ANNA)[0] == status_of(h, JENS)[0] == "unknown"

    assert cli("resume", "trial", "--actor", "mara").exit_code == 0
    resent = cli("outbox", "unknown", "--resend")
    assert status_of(h, ANNA)[0] == "sent", resent.output
    assert status_of(h, JENS)[0] == "unknown"  # suppressed: never mailed again, left to --drop
