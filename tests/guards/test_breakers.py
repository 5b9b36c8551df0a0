"""Circuit breakers: a relay that starts bouncing mid-send pauses the campaign on every sender."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import func, select

from nurture.delivery.transports import parse_transport
from nurture.guards import open_pauses, resume_sending
from nurture.guards.rates import HARD_BOUNCE, Trip
from nurture.sending.factory import build_outbox
from nurture.store.engine import create_store_engine
from nurture.store.schema import audit_log, messages, sending_pauses
from nurture.workspace import Workspace
from tests.delivery.conftest import smtp_server
from tests.harness import Harness

MONDAY = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)
LEADS = 1200
CLEAN_FIRST = 300  # the relay accepts everything at first, then refuses one address in twenty
BATCH = 50


@dataclass
class SouringRelay:
    """A relay that starts refusing 5% of recipients for good after ``CLEAN_FIRST`` of them."""

    accepted: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    recipients: int = 0

    async def handle_RCPT(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        self.recipients += 1
        if self.recipients > CLEAN_FIRST and self.recipients % 20 == 0 and not address.startswith("ops@"):
            self.refused.append(address)
            return "550 5.1.1 user unknown"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        self.accepted.extend(envelope.rcpt_tos)
        return "250 2.0.0 queued"

    @property
    def handed_over(self) -> int:
        return len(self.accepted) + len(self.refused)


def _leads() -> str:
    rows = "".join(f"lead{i}@firma{i}.de,L{i},DE,Europe/Berlin\n" for i in range(LEADS))
    return "email,first_name,country,timezone\n" + rows


def test_a_relay_bouncing_five_percent_mid_send_trips_the_breaker_on_both_senders(
    harness: Harness, store_url: str
) -> None:
    h = harness
    settings = h.root / "nurture.toml"
    settings.write_text(settings.read_text() + 'alert_address = "ops@taktwerk.example"\n', encoding="utf-8")
    h.import_leads(_leads(), MONDAY)
    h.tick(MONDAY)
    relay = SouringRelay()
    at_trip: list[int] = []

    async def run() -> None:
        async with smtp_server(relay) as server:
            workspace = Workspace(h.root)
            program = h.engine().program
            engines = [create_store_engine(store_url) for _ in range(2)]
            outboxes = []
            for engine in engines:  # two replicas: each its own connections and its own relay pool
                relay_url = f"smtp://127.0.0.1:{server.port}?tls=none"
                transport = parse_transport(relay_url, h.root, workspace.settings)
                outbox = build_outbox(engine, program, workspace, transport)
                outbox.batch_size = BATCH
                assert outbox.guard is not None
                outbox.guard.on_trip.append(lambda key, trip: at_trip.append(relay.handed_over))
                outboxes.append(outbox)
            try:
                await asyncio.gather(*(o.deliver_due(MONDAY) for o in outboxes))
                # Both replicas keep trying: nothing more of the paused campaign goes out.
                before = relay.handed_over
                later = MONDAY + timedelta(seconds=30)
                reports = await asyncio.gather(*(o.deliver_due(later) for o in outboxes))
                assert relay.handed_over == before
                assert sum(r.outcomes["sent"] for r in reports) <= 1  # the operator's alert, by one of them
            finally:
                for outbox in outboxes:
                    await outbox.transport.close()
                for engine in engines:
                    engine.dispose()

    asyncio.run(run())
    assert len(at_trip) == 1  # recorded and announced once, by whichever replica saw it first
    # Each replica may have had two batches in hand when it tripped; nothing after those.
    assert relay.handed_over - at_trip[0] <= 2 * 2 * BATCH
    with h.store.connect() as conn:
        (pause,) = open_pauses(conn)
        queued = conn.scalar(
            select(func.count()).where(messages.c.status == "queued", messages.c.kind == "marketing")
        )
        alert = conn.execute(select(messages).where(messages.c.kind == "operator_alert")).one()
        audit = conn.execute(select(audit_log.c.action, audit_log.c.subject)).all()
    assert pause.campaign_key == "trial" and pause.reason == HARD_BOUNCE
    figures: dict[str, Any] = pause.figures or {}
    assert figures["handed_over"] >= 200 and figures["hard_bounce_rate"] > 0.02
    assert figures["hard_bounce_rate"] == round(figures["hard_bounces"] / figures["handed_over"], 6)
    assert queued >= LEADS - relay.handed_over - 1 > 0  # paused mail waits in the queue
    assert alert.to_address == "ops@taktwerk.example" and alert.status == "sent"
    assert "nurture resume" in alert.text
    assert ("breaker", "campaign:trial") in audit


def test_a_resumed_campaign_sends_again_and_is_judged_afresh(harness: Harness) -> None:
    from tests.sending.test_outbox import LEADS as TWO_LEADS
    from tests.sending.test_outbox import deliver

    h = harness
    h.import_leads(TWO_LEADS, MONDAY)
    h.tick(MONDAY)
    with h.store.begin() as conn:
        conn.execute(
            sending_pauses.insert().values(
                campaign_key="trial", reason="hard_bounce_rate", paused_by="nurture@test", paused_at=MONDAY
            )
        )
    assert deliver(h, MONDAY).outcomes == {}
    with h.store.begin() as conn:
        assert resume_sending(conn, "trial", actor="ops", now=MONDAY + timedelta(minutes=5))
        assert not resume_sending(conn, "trial", actor="ops", now=MONDAY + timedelta(minutes=5))
    assert deliver(h, MONDAY + timedelta(minutes=6)).outcomes == {"sent": 2}


def test_a_trip_is_described_with_its_figures() -> None:
    from nurture.guards.rates import WindowFigures

    trip = Trip(HARD_BOUNCE, WindowFigures(400, 12, 0, MONDAY), 0.02)
    assert trip.describe("campaign trial", timedelta(hours=1)) == (
        "campaign trial: 12 hard bounces in 400 emails handed over (3.00%, limit 2.00%) within the last 1h"
    )
