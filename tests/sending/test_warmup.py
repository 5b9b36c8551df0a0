"""The warm-up of a new sending domain, on a moved clock: marketing mail over the day's volume
waits in the queue (never dropped), the most engaged leads go first, transactional mail is never
held back, and the next day's volume sends the rest."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select, update

from nurture.delivery.transports import MemoryTransport
from nurture.sending.factory import build_outbox
from nurture.sending.outbox import DeliveryReport, Outbox
from nurture.sending.warmup import DEFAULT_SCHEDULE, Warmup, is_transactional
from nurture.settings import Settings
from nurture.store.schema import leads, messages
from nurture.workspace import Workspace
from tests.harness import Harness

MONDAY = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")
ADDRESSES = [f"lead{i}@firma{i}.de" for i in range(6)]


def queue(h: Harness) -> None:
    rows = "".join(f"{a},L{i},DE,Europe/Berlin\n" for i, a in enumerate(ADDRESSES))
    h.import_leads("email,first_name,country,timezone\n" + rows, MONDAY)
    h.tick(MONDAY)
    with h.store.begin() as conn:  # the engaged leads (a score earned by opens and clicks)
        conn.execute(update(leads).where(leads.c.email == ADDRESSES[3]).values(score=90))
        conn.execute(update(leads).where(leads.c.email == ADDRESSES[5]).values(score=50))


def queue_notice(h: Harness, n: int, at: datetime) -> None:
    """A notice to a rep: nurture's own transactional mail, rendered when queued."""
    with h.store.begin() as conn:
        conn.execute(insert(messages).values(
            kind="sales_notification", to_address="rep@taktwerk.example", subject=f"New MQL {n}",
            html="<p>Neu</p>", text="Neu", message_id=f"<notice{n}@taktwerk.example>", status="queued",
            attempts=0, next_attempt_at=at, created_at=at,
        ))  # fmt: skip


def sender(h: Harness, transport: MemoryTransport, warmup: Warmup) -> Outbox:
    outbox = build_outbox(h.store, h.engine().program, Workspace(h.root), transport)
    outbox.warmup = warmup
    return outbox


def status_by_address(h: Harness) -> dict[str, tuple[str, int]]:
    m = messages.c
    with h.store.connect() as conn:
        return {a: (s, n) for a, s, n in conn.execute(select(m.to_address, m.status, m.attempts))}


def deliver(outbox: Outbox, now: datetime) -> DeliveryReport:
    return asyncio.run(outbox.deliver_due(now))


def test_marketing_over_the_days_volume_waits_for_the_next_day_most_engaged_first(harness: Harness) -> None:
    queue(harness)
    queue_notice(harness, 1, MONDAY)
    transport = MemoryTransport()
    # Started yesterday: today is day 1, three marketing emails; tomorrow the schedule is over.
    outbox = sender(harness, transport, Warmup(MONDAY.date() - timedelta(days=1), (2, 3), BERLIN))

    first = deliver(outbox, MONDAY)
    rows = status_by_address(harness)
    assert first.outcomes["sent"] == 4 and outbox.warmup_today == (3, 3)  # as of the run's last claim
    assert rows["rep@taktwerk.example"] == ("sent", 1)
    sent = {a for a in ADDRESSES if rows[a][0] == "sent"}
    assert sent == {ADDRESSES[3], ADDRESSES[5], ADDRESSES[0]}  # by score, then the earliest due
    assert all(rows[a] == ("queued", 0) for a in ADDRESSES if a not in sent)  # waiting, not failed

    later = MONDAY + timedelta(hours=6)  # the same day: the volume is used up, a notice still goes
    queue_notice(harness, 2, later)
    second = deliver(outbox, later)
    assert second.outcomes["sent"] == 1 and outbox.warmup_today == (3, 3)
    assert [a for a in ADDRESSES if status_by_address(harness)[a][0] == "sent"] == sorted(sent)

    tuesday = MONDAY + timedelta(days=1)
    third = deliver(outbox, tuesday)
    assert third.outcomes["sent"] == 3
    assert all(status_by_address(harness)[a][0] == "sent" for a in ADDRESSES)
    assert len(transport.sent) == 8  # 6 leads and 2 notices, each once


def test_the_day_follows_the_workspace_time_zone() -> None:
    warmup = Warmup(date(2026, 3, 2), (10, 20, 40), BERLIN)
    assert warmup.allowance(datetime(2026, 3, 1, 22, 59, tzinfo=UTC)) == 10  # before the start: day 0
    assert warmup.allowance(datetime(2026, 3, 2, 23, 0, tzinfo=UTC)) == 20  # midnight in Berlin
    assert warmup.allowance(datetime(2026, 3, 4, 23, 0, tzinfo=UTC)) is None  # over: no limit
    assert warmup.day_began(datetime(2026, 3, 2, 12, 0, tzinfo=UTC)) == datetime(
        2026, 3, 1, 23, 0, tzinfo=UTC
    )


def test_the_default_schedule_doubles_every_second_day_and_only_marketing_is_held() -> None:
    assert DEFAULT_SCHEDULE[:6] == (50, 50, 100, 100, 200, 200) and DEFAULT_SCHEDULE[-1] == 102_400
    assert tuple(Settings().warmup_schedule) == DEFAULT_SCHEDULE
    assert not is_transactional("marketing")
    assert all(is_transactional(kind) for kind in ("sales_notification", "escalation", "operator_alert"))
