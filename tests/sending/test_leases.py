"""Two senders on one database, a real relay: a live sender keeps its claims for as long as it
works, only the holder of a claim writes its verdict, and an answer lost after the final dot is
``unknown`` and never sent again."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from nurture.clock import FixedClock
from nurture.delivery.transports import parse_transport
from nurture.sending.factory import build_outbox
from nurture.sending.outbox import LEASE, Outbox
from nurture.store.schema import messages
from nurture.workspace import Workspace
from tests.harness import Harness
from tests.relay import Relay, relay_url, start_relay

MONDAY = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)
LEADS = 6


def addresses(count: int = LEADS) -> list[str]:
    return [f"lead{i}@firma{i}.de" for i in range(count)]


@pytest.fixture
def relay() -> Iterator[tuple[Relay, str]]:
    handler = Relay()
    controller = start_relay(handler)
    try:
        yield handler, relay_url(controller, data_timeout=2)
    finally:
        handler.release.set()
        controller.stop()


def queue_welcome_emails(h: Harness) -> None:
    rows = "".join(f"{a},L{i},DE,Europe/Berlin\n" for i, a in enumerate(addresses()))
    h.import_leads("email,first_name,country,timezone\n" + rows, MONDAY)
    h.tick(MONDAY)
    assert len(h.messages()) == LEADS


def sender(h: Harness, url: str, clock: FixedClock, **options: Any) -> Outbox:
    workspace = Workspace(h.root)
    transport = parse_transport(url, h.root, workspace.settings)
    outbox = build_outbox(h.store, h.engine().program, workspace, transport, clock=clock.now)
    for name, value in options.items():
        setattr(outbox, name, value)
    return outbox


def rows(h: Harness) -> dict[str, tuple[str, str]]:
    """Status and Message-ID per address."""
    with h.store.connect() as conn:
        found = conn.execute(select(messages.c.to_address, messages.c.status, messages.c.message_id))
        return {address: (status, mid) for address, status, mid in found}


async def until(condition: Callable[[], bool], what: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


def test_a_run_longer_than_the_lease_keeps_its_claims_from_another_senders_recovery(
    harness: Harness, relay: tuple[Relay, str]
) -> None:
    handler, url = relay
    queue_welcome_emails(harness)
    handler.faults[addresses()[0]] = "stall"  # the first email of the first batch holds its sender up
    clock = FixedClock(MONDAY)
    first = sender(harness, url, clock, concurrency=1, batch_size=2, heartbeat=0.02)
    second = sender(harness, url, clock)

    async def scenario() -> tuple[Any, Any]:
        running = asyncio.create_task(first.deliver_due(MONDAY))
        await until(lambda: handler.stalled == 1, "the relay to hold the first email")
        clock.advance(timedelta(minutes=11))  # far past any lease taken when the run began
        await asyncio.sleep(0.2)  # the first sender's heartbeats carry its leases along
        other = await second.deliver_due(clock.now())  # another replica's run, recovery first
        handler.release.set()
        mine = await running
        await first.transport.close()
        await second.transport.close()
        return mine, other

    mine, other = asyncio.run(scenario())
    assert other.unknown == 0  # nothing of the live sender's was taken for a dead sender's
    # The first sender holds its batch and the next one claimed ahead; the other sends the rest.
    assert set(mine.outcomes) == set(other.outcomes) == {"sent"}
    assert mine.outcomes["sent"] >= 2 and mine.outcomes["sent"] + other.outcomes["sent"] == LEADS
    assert Counter(handler.accepted).most_common(1)[0][1] == 1  # no email twice
    assert {status for status, _ in rows(harness).values()} == {"sent"}
    assert sorted(handler.accepted) == sorted(mid for _, mid in rows(harness).values())


def test_a_sender_whose_claim_was_taken_over_writes_nothing_and_sends_nothing_more(
    harness: Harness, relay: tuple[Relay, str]
) -> None:
    handler, url = relay
    queue_welcome_emails(harness)
    first_address = addresses()[0]
    handler.faults[first_address] = "stall"
    clock = FixedClock(MONDAY)
    # A sender frozen longer than its lease (no heartbeat gets through: a paused VM, a cut network).
    frozen = sender(harness, url, clock, concurrency=1, batch_size=3, heartbeat=3600)
    second = sender(harness, url, clock)

    async def scenario() -> Any:
        running = asyncio.create_task(frozen.deliver_due(MONDAY))
        await until(lambda: handler.stalled == 1, "the relay to hold the first email")
        clock.advance(LEASE * 2)
        other = await second.deliver_due(clock.now())
        handler.release.set()
        await running
        await frozen.transport.close()
        await second.transport.close()
        return other

    other = asyncio.run(scenario())
    assert other.unknown == 1 and other.outcomes == {"sent": LEADS - 1}
    found = rows(harness)
    # The frozen sender's late "sent" did not overwrite the recovering sender's verdict, and it
    # handed over none of the rows it had lost.
    assert found[first_address][0] == "unknown"
    assert Counter(handler.accepted).most_common(1)[0][1] == 1
    assert len(handler.accepted) == LEADS


def test_an_answer_lost_after_the_final_dot_is_unknown_kept_and_never_resent(
    harness: Harness, relay: tuple[Relay, str]
) -> None:
    handler, url = relay
    queue_welcome_emails(harness)
    dropped, stalled = addresses()[0], addresses()[1]
    handler.faults.update({dropped: "drop-after-dot", stalled: "stall"})
    clock = FixedClock(MONDAY)

    async def deliver(now: datetime) -> Any:
        outbox = sender(harness, url, clock)
        try:
            return await outbox.deliver_due(now)
        finally:
            await outbox.transport.close()

    report = asyncio.run(deliver(MONDAY))
    handler.release.set()
    assert report.outcomes == {"sent": LEADS - 2, "unknown": 2}
    assert any("unknown   2" in line for line in report.lines())
    assert sum("final dot" in problem for problem in report.problems) == 2
    # A later run, long after, sends neither again (before: both went out a second time).
    clock.advance(timedelta(days=1))
    assert asyncio.run(deliver(clock.now())).outcomes == {}
    assert Counter(handler.accepted).most_common(1)[0][1] == 1
    sent = {mid for status, mid in rows(harness).values() if status == "sent"}
    assert sent <= set(handler.accepted)
    with harness.store.connect() as conn:
        kept = dict(
            conn.execute(
                select(messages.c.to_address, messages.c.attempted_data).where(messages.c.status == "unknown")
            ).all()
        )
        emptied = conn.scalars(select(messages.c.attempted_data).where(messages.c.status == "sent")).all()
    assert set(kept) == {dropped, stalled}
    assert all(data and b"Message-ID: " in data for data in kept.values())  # the very bytes, for a resend
    assert emptied == [None] * (LEADS - 2)
