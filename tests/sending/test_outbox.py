"""The outbox sender: what the relay accepted is recorded once, retries back off, bounces suppress."""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import threading
from collections import Counter, deque
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select, update

from nurture.delivery.transports import HELD_BACK, GoAhead, MemoryTransport, OutgoingMessage, SendResult
from nurture.sending import outbox as outbox_module
from nurture.sending.factory import build_outbox
from nurture.sending.ledger import GroupWriter, Mark
from nurture.sending.outbox import _Batch, _Run
from nurture.store.schema import enrollments, leads, messages, suppressions
from nurture.workspace import Workspace
from tests.harness import Harness

MONDAY = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)
LEADS = (
    "email,first_name,last_name,country,timezone\n"
    "anna@alpenblick.de,Anna,Müller,DE,Europe/Berlin\n"
    "jens@rheinwerk.de,Jens,Krüger,DE,Europe/Berlin\n"
)


def deliver(h: Harness, now: datetime, transport=None):  # type: ignore[no-untyped-def]
    workspace = Workspace(h.root)
    outbox = build_outbox(h.store, h.engine().program, workspace, transport)

    async def run():  # type: ignore[no-untyped-def]
        try:
            return await outbox.deliver_due(now)
        finally:
            await outbox.transport.close()

    return asyncio.run(run())


def statuses(h: Harness) -> dict[str, str]:
    with h.store.connect() as conn:
        return dict(conn.execute(select(messages.c.to_address, messages.c.status)).all())


def test_sent_mail_lands_in_the_maildir_personalised_tracked_and_unsubscribable(harness: Harness) -> None:
    h = harness
    h.import_leads(LEADS, MONDAY)
    h.tick(MONDAY)
    report = deliver(h, MONDAY)
    assert report.outcomes == {"sent": 2}
    assert set(statuses(h).values()) == {"sent"}
    files = sorted((h.root / "outbox" / "new").iterdir())
    assert len(files) == 2
    parsed = [email.message_from_bytes(f.read_bytes(), policy=email.policy.strict) for f in files]
    anna = next(m for m in parsed if "anna@" in str(m["To"]))
    assert str(anna["Subject"]) == "Willkommen, Anna!"
    assert "Anna Müller" in str(anna["To"])
    assert anna["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert str(anna["List-Unsubscribe"]).startswith("<http://127.0.0.1:8025/u/")
    html = anna.get_body(("html",)).get_content()
    assert "/c/" in html and "/o/" in html and "https://taktwerk.example/" not in html
    with h.store.connect() as conn:
        sent_at = conn.scalar(select(messages.c.sent_at).where(messages.c.to_address == "anna@alpenblick.de"))
    assert sent_at == MONDAY
    assert deliver(h, MONDAY + timedelta(minutes=1)).outcomes == {}  # nothing is sent twice


def test_a_temporary_refusal_is_retried_later_with_backoff(harness: Harness) -> None:
    h = harness
    h.import_leads(LEADS, MONDAY)
    h.tick(MONDAY)
    refusing = MemoryTransport(lambda m: SendResult.retry("try again later", 451, "data"))
    assert deliver(h, MONDAY, refusing).outcomes == {"retry": 2}
    with h.store.connect() as conn:
        row = conn.execute(select(messages.c.status, messages.c.attempts, messages.c.next_attempt_at)).first()
    assert row.status == "queued" and row.attempts == 1 and row.next_attempt_at > MONDAY
    assert deliver(h, MONDAY + timedelta(seconds=1), MemoryTransport()).outcomes == {}  # not due yet
    later = MemoryTransport()
    assert deliver(h, MONDAY + timedelta(hours=1), later).outcomes == {"sent": 2}
    assert len(later.sent) == 2


def test_a_hard_bounce_suppresses_the_address_and_ends_its_enrollments(harness: Harness) -> None:
    h = harness
    h.import_leads(LEADS, MONDAY)
    h.tick(MONDAY)

    def verdict(message: OutgoingMessage) -> SendResult:
        if "jens@" in message.recipients[0]:
            return SendResult.rejected(550, "5.1.1 user unknown", "rcpt")
        return SendResult.ok()

    report = deliver(h, MONDAY, MemoryTransport(verdict))
    assert report.outcomes == {"sent": 1, "bounced": 1}
    assert statuses(h)["jens@rheinwerk.de"] == "bounced"
    with h.store.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(suppressions)) == 1
        status = conn.scalar(
            select(enrollments.c.status)
            .join(leads, leads.c.id == enrollments.c.lead_id)
            .where(leads.c.email == "jens@rheinwerk.de")
        )
    assert status == "exited"


def test_a_lead_who_unsubscribed_after_queueing_is_not_mailed(harness: Harness) -> None:
    h = harness
    h.import_leads(LEADS, MONDAY)
    h.tick(MONDAY)
    with h.store.begin() as conn:
        conn.execute(
            update(leads).where(leads.c.email == "anna@alpenblick.de").values(unsubscribed_at=MONDAY)
        )
    transport = MemoryTransport()
    assert deliver(h, MONDAY, transport).outcomes == {"sent": 1, "suppressed": 1}
    assert [m.recipients for m in transport.sent] == [("jens@rheinwerk.de",)]


def test_a_template_that_fails_for_one_lead_fails_only_that_message(harness: Harness) -> None:
    h = harness
    (h.root / "templates" / "t" / "welcome.html").write_text(
        "<p>{{ lead.company }}</p>", encoding="utf-8"
    )  # company is unknown for Anna, known for Jens
    h.import_leads(LEADS + "", MONDAY)
    with h.store.begin() as conn:
        conn.execute(update(leads).where(leads.c.email == "jens@rheinwerk.de").values(company="Rheinwerk"))
    h.tick(MONDAY)
    report = deliver(h, MONDAY, MemoryTransport())
    assert report.outcomes == {"sent": 1, "failed": 1}
    assert "t/welcome" in report.problems[0] and "company" in report.problems[0]


def test_after_a_crash_claimed_mail_is_requeued_and_mail_in_flight_is_never_resent(harness: Harness) -> None:
    h = harness
    h.import_leads(LEADS, MONDAY)
    h.tick(MONDAY)
    with h.store.begin() as conn:
        conn.execute(
            update(messages)
            .where(messages.c.to_address == "anna@alpenblick.de")
            .values(status="sending", claimed_until=MONDAY + timedelta(minutes=10))
        )
        conn.execute(
            update(messages)
            .where(messages.c.to_address == "jens@rheinwerk.de")
            .values(status="claimed", claimed_until=MONDAY + timedelta(minutes=10))
        )
    transport = MemoryTransport()
    report = deliver(h, MONDAY + timedelta(minutes=11), transport)
    assert report.unknown == 1
    assert report.outcomes == {"sent": 1}
    assert [m.recipients for m in transport.sent] == [("jens@rheinwerk.de",)]
    assert statuses(h) == {"anna@alpenblick.de": "unknown", "jens@rheinwerk.de": "sent"}


def test_tick_sends_what_it_queued(harness: Harness, cli) -> None:  # type: ignore[no-untyped-def]
    harness.import_leads(LEADS, MONDAY)
    result = cli("tick", "--now", "2026-03-02T08:30:00Z")
    assert result.exit_code == 0, result.output
    assert "sent      2" in result.output
    assert len(list(Path(harness.root / "outbox" / "new").iterdir())) == 2


def test_preview_renders_one_email_without_sending(harness: Harness, cli) -> None:  # type: ignore[no-untyped-def]
    harness.import_leads(LEADS, MONDAY)
    result = cli("preview", "trial", "welcome", "--lead", "anna@alpenblick.de")
    assert result.exit_code == 0, result.output
    assert "Subject: Willkommen, Anna!" in result.output
    assert "Hallo Anna" in result.output
    html = cli("preview", "trial", "welcome", "--lead", "anna@alpenblick.de", "--part", "html")
    assert "<p>Hallo Anna,</p>" in html.output
    assert not (harness.root / "outbox").exists()
    wrong = cli("preview", "trial", "welcom", "--lead", "anna@alpenblick.de")
    assert wrong.exit_code == 1 and "did you mean 'welcome'" in wrong.output
    not_send = cli("preview", "trial", "opened-welcome", "--lead", "anna@alpenblick.de")
    assert not_send.exit_code == 1 and "sends no email" in not_send.output


class WatchingTransport(MemoryTransport):
    """Looks at each email's row when the go-ahead is given, and can stop the sender first."""

    def __init__(self, h: Harness, stop_before: threading.Event | None = None) -> None:
        super().__init__()
        self.h = h
        self.stop_before = stop_before
        self.rows_at_go_ahead: list[tuple[str, bytes | None]] = []

    async def send(self, message: OutgoingMessage, go_ahead: GoAhead | None = None) -> SendResult:
        assert go_ahead is not None  # the outbox always asks
        if self.stop_before is not None:
            self.stop_before.set()
        going = await go_ahead()
        with self.h.store.connect() as conn:
            row = conn.execute(
                select(messages.c.status, messages.c.attempted_data).where(
                    messages.c.id == message.message_ref
                )
            ).one()
        self.rows_at_go_ahead.append((row.status, row.attempted_data))
        if not going:
            return SendResult.retry(HELD_BACK, stage="data")
        self.sent.append(message)
        return SendResult.ok("kept")


def test_an_email_goes_only_once_its_sending_mark_with_its_bytes_is_committed(harness: Harness) -> None:
    h = harness
    h.import_leads(LEADS, MONDAY)
    h.tick(MONDAY)
    transport = WatchingTransport(h)
    assert deliver(h, MONDAY, transport).outcomes == {"sent": 2}
    assert [status for status, _ in transport.rows_at_go_ahead] == ["sending", "sending"]
    assert sorted(data or b"" for _, data in transport.rows_at_go_ahead) == sorted(
        m.data for m in transport.sent
    )


def test_a_stop_while_the_mark_is_written_hands_nothing_over_and_queues_the_email_again(
    harness: Harness,
) -> None:
    h = harness
    h.import_leads(LEADS.splitlines()[0] + "\n" + LEADS.splitlines()[1] + "\n", MONDAY)
    h.tick(MONDAY)
    stopping = threading.Event()
    workspace = Workspace(h.root)
    transport = WatchingTransport(h, stop_before=stopping)
    outbox = build_outbox(h.store, h.engine().program, workspace, transport)
    outbox.stopping = stopping

    report = asyncio.run(outbox.deliver_due(MONDAY))
    assert report.outcomes == {}
    assert transport.sent == [] and [s for s, _ in transport.rows_at_go_ahead] == ["sending"]
    with h.store.connect() as conn:
        row = conn.execute(select(messages.c.status, messages.c.attempts, messages.c.attempted_data)).one()
    assert (row.status, row.attempts, row.attempted_data) == ("queued", 0, None)


def eight_emails_queued(h: Harness) -> Harness:
    rows = "".join(f"lead{i}@firma{i}.de,Lead{i},Muster,DE,Europe/Berlin\n" for i in range(8))
    h.import_leads(LEADS.splitlines()[0] + "\n" + rows, MONDAY)
    h.tick(MONDAY)
    return h


def test_building_ahead_of_the_connections_waits_for_the_database_thread_and_only_for_it(
    harness: Harness, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    h = eight_emails_queued(harness)
    outbox = build_outbox(h.store, h.engine().program, Workspace(h.root), MemoryTransport())
    claimed = outbox.claim(MONDAY)
    recipients = outbox._recipients(claimed)
    monkeypatch.setattr(outbox_module, "_BUILD_SLICE", 0.0)  # the loop handed back after every email
    turns: list[str] = []
    real_sleep = asyncio.sleep

    async def sleep(delay: float) -> None:
        turns.append(f"turn {delay}")
        await real_sleep(0)

    async def wait(futures, timeout):  # type: ignore[no-untyped-def]
        turns.append(f"wait {timeout}")
        return set(), set(futures)

    monkeypatch.setattr(asyncio, "sleep", sleep)
    monkeypatch.setattr(asyncio, "wait", wait)

    async def build(waiting: int, writing: bool) -> int:
        writer = GroupWriter(outbox.ledger, lambda *_: asyncio.Event().wait(), MONDAY)
        if writing:
            writer.submit(marks=[Mark(1, "t", "", b"")])  # a write that never ends
            await real_sleep(0)
        run = _Run(writer, MONDAY)
        run.batches.append(_Batch("before", [], deque([None] * waiting)))  # type: ignore[list-item]
        settled, ready = await outbox._prepare_between_sends(claimed, recipients, MONDAY, "t", run=run)
        assert not settled
        if writer._writing is not None:
            writer._writing.cancel()
        return len(ready)

    # Five messages built before still wait for a connection while the database thread writes:
    # building waits for the write once it has fewer than five left to build, from the fourth
    # email of eight on.
    assert asyncio.run(build(5, writing=True)) == 8
    assert turns == ["turn 0"] * 3 + [f"wait {outbox_module._BUILD_PAUSE}"] * 5
    turns.clear()
    # Nothing written meanwhile: no wait, the loop is never left idle.
    assert asyncio.run(build(5, writing=False)) == 8
    assert turns == ["turn 0"] * 8
    turns.clear()
    # Nothing built before waits: building goes full speed whatever is written.
    assert asyncio.run(build(0, writing=True)) == 8
    assert turns == ["turn 0"] * 8


class TimedTransport(MemoryTransport):
    """The second email of every four takes its time; keeps when each went."""

    def __init__(self) -> None:
        super().__init__()
        self.on_wire = 0
        self.most_on_wire = 0
        self.started = 0
        self.spans: dict[int, tuple[float, float]] = {}

    async def send(self, message: OutgoingMessage, go_ahead: GoAhead | None = None) -> SendResult:
        loop = asyncio.get_running_loop()
        started = loop.time()
        self.started += 1
        slow = self.started % 4 == 2
        self.on_wire += 1
        self.most_on_wire = max(self.most_on_wire, self.on_wire)
        try:
            result = await super().send(message, go_ahead)
            await asyncio.sleep(1.0 if slow else 0.005)
        finally:
            self.on_wire -= 1
        self.spans[message.message_ref] = (started, loop.time())
        return result


def test_the_next_batch_starts_while_the_last_emails_of_one_are_answered_never_beyond_the_connections(
    harness: Harness,
) -> None:
    h = eight_emails_queued(harness)
    transport = TimedTransport()
    outbox = build_outbox(h.store, h.engine().program, Workspace(h.root), transport)
    outbox.concurrency, outbox.batch_size = 2, 4

    report = asyncio.run(outbox.deliver_due(MONDAY))
    assert report.outcomes == {"sent": 8}
    assert transport.most_on_wire == 2
    first, second = sorted(transport.spans)[:4], sorted(transport.spans)[4:]
    # The second email of the first batch is still on the wire when the second batch begins.
    assert min(transport.spans[i][0] for i in second) < max(transport.spans[i][1] for i in first)


class StuckTransport(MemoryTransport):
    """A relay that takes each email and never answers."""

    async def send(self, message: OutgoingMessage, go_ahead: GoAhead | None = None) -> SendResult:
        await asyncio.Event().wait()
        raise AssertionError("never answered")


def test_a_send_run_cancelled_from_outside_gives_back_its_claims_and_stops_renewing_them(
    harness: Harness,
) -> None:
    h = eight_emails_queued(harness)
    outbox = build_outbox(h.store, h.engine().program, Workspace(h.root), StuckTransport())
    outbox.concurrency, outbox.batch_size = 2, 4

    async def cancelled_run() -> set[str]:
        running = asyncio.create_task(outbox.deliver_due(MONDAY))
        await asyncio.sleep(0.5)  # a batch is on the wire and the next one is claimed ahead
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
        await asyncio.sleep(0)
        return {t.get_coro().__qualname__ for t in asyncio.all_tasks() if t is not asyncio.current_task()}

    left_running = asyncio.run(cancelled_run())
    assert not any("_tend" in name for name in left_running), left_running
    assert not any(outbox.ledger.held.values()), outbox.ledger.held
    with h.store.connect() as conn:
        left = Counter(conn.scalars(select(messages.c.status)))
    assert "claimed" not in left, left  # nothing waits for a lease to run out
