"""Sending what the outbox holds: claim, build, hand to the transport, record the verdict."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple, TypeVar

from sqlalchemy import Connection, select, update
from sqlalchemy.engine import Engine

from nurture.delivery import next_retry_delay
from nurture.delivery.transports import OutgoingMessage, SendResult, Transport
from nurture.engagement.suppress import suppress
from nurture.engine.enrollments import load_leads, suppressed
from nurture.errors import NurtureError
from nurture.guards import SendGuard, claim_exclusions, tally_handed_over
from nurture.sending.compose import Composed, Composer
from nurture.store import bulk
from nurture.store.schema import messages

LEASE = timedelta(minutes=10)  # far longer than a batch takes; only a dead sender lets it lapse
MAX_ATTEMPTS = 8  # with backoff capped at 6 h this spans more than a day of relay trouble
_BUILD_SLICE = 0.0005  # seconds of building between turns of the event loop


@dataclass
class DeliveryReport:
    outcomes: Counter[str] = field(default_factory=Counter)  # sent, retry, failed, bounced, suppressed
    unknown: int = 0  # in flight when an earlier sender stopped: not sent again
    problems: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"  {name:<9} {count}" for name, count in sorted(self.outcomes.items())]
        if self.unknown:
            out.append(f"  unknown   {self.unknown} (in flight when the sender stopped; not sent again)")
        out.extend(f"  problem   {p}" for p in self.problems[:20])
        return out


class _Claimed(NamedTuple):
    """An outbox row in this sender's hand (a tuple: a batch makes hundreds of them)."""

    id: int
    header_id: str
    kind: str
    lead_id: int | None
    campaign_key: str | None
    step_id: str | None
    to_address: str
    subject: str | None
    html: str | None
    text: str | None
    attempts: int


@dataclass
class _Verdict:
    row: _Claimed
    status: str  # sent | retry | failed | bounced | suppressed
    subject: str | None = None
    error: str | None = None
    result: SendResult | None = None


# The leads of a batch's marketing messages by id, and the batch's suppressed addresses.
_Recipients = tuple[dict[int, dict[str, Any]], dict[str, str]]
_T = TypeVar("_T")

# A built batch: verdicts already settled (suppressed, unbuildable), and messages ready to send.
_Prepared = tuple[list[_Verdict], list[tuple[_Verdict, Composed]]]


class Outbox:
    guard: SendGuard | None = None  # circuit breakers, judged at each claim (pauses are obeyed anyway)

    def __init__(
        self,
        db: Engine,
        composer: Composer,
        transport: Transport,
        *,
        batch_size: int = 200,
        concurrency: int = 8,
        on_hard_bounce: Callable[[Connection, str, str, datetime], None] | None = None,
        stopping: threading.Event | None = None,
        handover: int | None = None,
    ) -> None:
        self.db = db
        self.composer = composer
        self.transport = transport
        self.batch_size = batch_size
        self.concurrency = concurrency
        # Messages marked `sending` together; two windows are in hand at most, so a crash leaves
        # at most twice this many `unknown`.
        self.handover = handover or concurrency
        self.on_hard_bounce = on_hard_bounce or suppress_hard_bounce
        # Set by a daemon that is shutting down: no new batch is claimed; the batch in hand is
        # finished, so every message handed to the relay gets its verdict recorded.
        self.stopping = stopping or threading.Event()
        self._database: ThreadPoolExecutor | None = None  # the sender's own thread while delivering

    # -- the loop ---------------------------------------------------------------------------------

    async def deliver_due(self, now: datetime, *, max_batches: int = 10_000) -> DeliveryReport:
        """Send every message due at ``now`` (batch after batch) and record each verdict.

        The next batch is claimed and built while the current one is on the wire, so the relay
        connections are kept busy. The database work runs on one thread of its own, in order:
        the sender's writes never wait for each other's locks.
        """
        report = DeliveryReport()
        database = ThreadPoolExecutor(1, "nurture-outbox-db")
        self._database = database
        try:
            report.unknown = await self._in_database(self.recover, now)
            upcoming: asyncio.Task[_Prepared | None] | None = asyncio.create_task(self._next_batch(now))
            for _ in range(max_batches):
                assert upcoming is not None
                prepared = await upcoming
                upcoming = None
                if prepared is None:
                    break
                if not self.stopping.is_set():
                    upcoming = asyncio.create_task(self._next_batch(now))
                try:
                    for verdicts in await self._send_batch(prepared, now):
                        self._tally(report, verdicts)
                except BaseException:
                    await self._release(upcoming)
                    raise
                if upcoming is None:
                    break
            else:
                await self._release(upcoming)
        finally:
            self._database = None
            database.shutdown(wait=True)
        return report

    async def _in_database(self, work: Callable[..., _T], *args: Any) -> _T:
        """Run ``work`` on the sender's database thread (a thread of the default pool outside
        :meth:`deliver_due`)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._database, functools.partial(work, *args))

    @staticmethod
    def _tally(report: DeliveryReport, verdicts: list[_Verdict]) -> None:
        for verdict in verdicts:
            report.outcomes[verdict.status] += 1
            if verdict.status in ("failed", "bounced") and verdict.error:
                row = verdict.row
                report.problems.append(f"message {row.id} to {row.to_address}: {verdict.error}")

    async def _next_batch(self, now: datetime) -> _Prepared | None:
        if self.stopping.is_set():
            return None
        claimed, recipients = await self._in_database(self._claim_with_recipients, now)
        if not claimed:
            return None
        return await self._prepare_between_sends(claimed, recipients, now)

    async def _release(self, upcoming: asyncio.Task[_Prepared | None] | None) -> None:
        """A batch claimed ahead but not sent (a stop, an error) goes straight back to the queue."""
        if upcoming is None:
            return
        prepared = await upcoming
        if prepared is not None:
            ids = [v.row.id for v in prepared[0]] + [v.row.id for v, _ in prepared[1]]
            await self._in_database(self.release, ids)

    async def _send_batch(self, prepared: _Prepared, now: datetime) -> list[list[_Verdict]]:
        """Send a built batch a handover window at a time, recording every verdict.

        Windows overlap: while one is on the wire the next is already marked ``sending``. Each
        write to the database does two things in one transaction: it records the verdicts of the
        window before the one on the wire and marks the window after it. So at most two windows
        are ever ``sending``, and the database is visited once per window.
        """
        settled, ready = prepared
        windows = [ready[start : start + self.handover] for start in range(0, len(ready), self.handover)]
        slots = asyncio.Semaphore(self.concurrency)
        on_the_wire: list[asyncio.Task[list[_Verdict]]] = []
        written = writing = 0  # windows whose verdicts are in the database, and being written
        marking: asyncio.Future[None] | None = self._write(settled, windows[0] if windows else [], now)
        try:
            for index, window in enumerate(windows):
                assert marking is not None
                await marking
                marking, written = None, writing
                on_the_wire.append(asyncio.create_task(self._send_window(window, slots)))
                if index + 1 < len(windows):
                    done = await on_the_wire[index - 1] if index >= 1 else []
                    marking, writing = self._write(done, windows[index + 1], now), index
            if marking is not None:
                await marking  # no windows: the settled verdicts alone
            rest = [verdict for task in on_the_wire[written:] for verdict in await task]
            written = len(on_the_wire)
            await self._in_database(self.record, rest, now)
        except BaseException:
            await self._wind_down(windows, on_the_wire, written, marking, now)
            raise
        return [settled] + [[v for v, _ in window] for window in windows]

    async def _send_window(
        self, window: list[tuple[_Verdict, Composed]], slots: asyncio.Semaphore
    ) -> list[_Verdict]:
        async def send(verdict: _Verdict, message: OutgoingMessage) -> None:
            try:
                await self._send(verdict, message)
            finally:
                slots.release()

        sends: list[asyncio.Task[None]] = []
        try:
            for verdict, composed in window:
                await slots.acquire()
                sends.append(asyncio.create_task(send(verdict, composed.message)))
        finally:
            await asyncio.gather(*sends)  # whatever was handed over gets its verdict
        return [v for v, _ in window]

    def _write(
        self, verdicts: list[_Verdict], to_mark: list[tuple[_Verdict, Composed]], now: datetime
    ) -> asyncio.Future[None]:
        ids = [v.row.id for v, _ in to_mark]
        return asyncio.ensure_future(self._in_database(self.record, verdicts, now, ids))

    async def _wind_down(
        self,
        windows: list[list[tuple[_Verdict, Composed]]],
        on_the_wire: list[asyncio.Task[list[_Verdict]]],
        written: int,
        marking: asyncio.Future[None] | None,
        now: datetime,
    ) -> None:
        """After an error or a cancellation: what was handed over gets its verdict recorded if the
        database lets us, and a window marked but never handed over goes back to the queue."""
        with contextlib.suppress(Exception):
            if marking is not None:
                await marking
                if len(on_the_wire) < len(windows):
                    ids = [v.row.id for v, _ in windows[len(on_the_wire)]]
                    await self._in_database(functools.partial(self.release, status="sending"), ids)
        finished = await asyncio.gather(*on_the_wire[written:], return_exceptions=True)
        verdicts = [v for result in finished if isinstance(result, list) for v in result]
        with contextlib.suppress(Exception):
            await self._in_database(self.record, verdicts, now)

    async def _prepare_between_sends(
        self, claimed: list[_Claimed], recipients: _Recipients, now: datetime
    ) -> _Prepared:
        """Build the batch's messages on the event loop, a slice of at most half a millisecond at
        a time, between the replies of the relay. A worker thread would compete with the loop for
        the interpreter, and a loop that waits milliseconds for its turn leaves the relay
        connections idle; handing the loop back after every slice keeps the connections and
        anything else on the loop (the HTTP server in ``nurture run``) responsive, without paying
        a turn of the loop for every message."""
        settled: list[_Verdict] = []
        ready: list[tuple[_Verdict, Composed]] = []
        clock = time.perf_counter
        handing_back = clock() + _BUILD_SLICE
        for row in claimed:
            self._build(row, recipients, now, settled, ready)
            if clock() >= handing_back:
                await asyncio.sleep(0)
                handing_back = clock() + _BUILD_SLICE
        return settled, ready

    def _build(
        self,
        row: _Claimed,
        recipients: _Recipients,
        now: datetime,
        settled: list[_Verdict],
        ready: list[tuple[_Verdict, Composed]],
    ) -> None:
        """Build one message into ``ready``, or settle its verdict (suppressed, unbuildable)."""
        lead_rows, blocked = recipients
        verdict = _Verdict(row, "failed")
        address = row.to_address.lower()
        if address in blocked:
            verdict.status, verdict.error = "suppressed", f"address suppressed ({blocked[address]})"
        else:
            try:
                composed = self._compose(row, lead_rows, now)
            except (NurtureError, ValueError, KeyError) as exc:
                verdict.error = f"cannot build the email: {exc}"
            else:
                if composed is None:
                    verdict.status, verdict.error = "suppressed", "lead unsubscribed or erased"
                else:
                    verdict.subject = composed.subject
                    ready.append((verdict, composed))
                    return
        settled.append(verdict)

    async def _send(self, verdict: _Verdict, message: OutgoingMessage) -> None:
        result = await self.transport.send(message)
        verdict.result = result
        if result.accepted:
            verdict.status = "sent"
        elif result.hard_bounce:
            verdict.status, verdict.error = "bounced", f"{result.code} {result.reason}".strip()
        elif result.status == "retry":
            verdict.status, verdict.error = "retry", f"{result.code or ''} {result.reason}".strip()
        else:
            verdict.status, verdict.error = "failed", f"{result.code} {result.reason} ({result.stage})"

    def _compose(self, row: _Claimed, lead_rows: dict[int, dict[str, Any]], now: datetime) -> Composed | None:
        if row.kind == "marketing":
            lead = lead_rows.get(row.lead_id or -1)
            if lead is None or lead["unsubscribed"]:
                return None
            assert row.campaign_key and row.step_id
            return self.composer.marketing(row.id, row.header_id, lead, row.campaign_key, row.step_id, now)
        if row.html is None and row.text is None:
            raise ValueError(f"a {row.kind} message has no rendered body")
        return self.composer.prebuilt(
            row.id, row.header_id, row.to_address, row.subject or "", row.html or "", row.text or "", now
        )

    # -- the database -----------------------------------------------------------------------------

    def recover(self, now: datetime) -> int:
        """Tidy up after a sender that stopped: claimed-only messages go back to the queue; those it
        was sending are marked unknown and never resent. Returns how many are unknown."""
        with self.db.begin() as conn:
            conn.execute(
                update(messages)
                .where(messages.c.status == "claimed", messages.c.claimed_until < now)
                .values(status="queued", claimed_until=None)
            )
            result = conn.execute(
                update(messages)
                .where(messages.c.status == "sending", messages.c.claimed_until < now)
                .values(
                    status="unknown",
                    claimed_until=None,
                    last_error="in flight when the sender stopped; the relay may have it: not resent",
                )
            )
            return int(result.rowcount or 0)

    def claim(self, now: datetime) -> list[_Claimed]:
        """Take the next due messages for this sender, with a lease."""
        m = messages.c
        with self.db.begin() as conn:
            columns = (m.id, m.message_id, m.kind, m.lead_id, m.campaign_key, m.step_id, m.to_address)
            paused = claim_exclusions(conn, now, self.guard)  # paused mail stays queued
            query = (
                select(*columns, m.subject, m.html, m.text, m.attempts)
                .where(m.status == "queued", m.next_attempt_at <= now, *paused)
                .order_by(m.next_attempt_at, m.id)
                .limit(self.batch_size)
            )
            if conn.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            # The query's columns are _Claimed's fields in order; attempts counts the one this claim starts.
            rows = [_Claimed._make((*r[:-1], r[-1] + 1)) for r in conn.execute(query)]
            if rows:
                conn.execute(
                    update(messages)
                    .where(m.id.in_([r.id for r in rows]))
                    .values(status="claimed", claimed_until=now + LEASE, attempts=m.attempts + 1)
                )
        return rows

    def release(self, ids: Sequence[int], *, status: str = "claimed") -> None:
        """Messages that were never handed over (claimed, or marked ``sending`` just before an
        error) go back to the queue."""
        with self.db.begin() as conn:
            conn.execute(
                update(messages)
                .where(messages.c.id.in_(list(ids)), messages.c.status == status)
                .values(status="queued", claimed_until=None, attempts=messages.c.attempts - 1)
            )

    def _claim_with_recipients(self, now: datetime) -> tuple[list[_Claimed], _Recipients]:
        claimed = self.claim(now)
        return claimed, (self._recipients(claimed) if claimed else ({}, {}))

    def _recipients(self, claimed: Sequence[_Claimed]) -> _Recipients:
        with self.db.begin() as conn:
            lead_rows = load_leads(conn, (r.lead_id for r in claimed if r.kind == "marketing" and r.lead_id))
            blocked = suppressed(conn, {r.to_address.lower() for r in claimed})
        return lead_rows, blocked

    def record(self, verdicts: Sequence[_Verdict], now: datetime, mark_sending: Sequence[int] = ()) -> None:
        """Write verdicts in one transaction, and mark the next messages ``sending`` in it."""
        if not verdicts and not mark_sending:
            return
        with self.db.begin() as conn:
            bulk.executemany_rows(
                conn, "UPDATE messages SET status = 'sending' WHERE id = :id", [(i,) for i in mark_sending]
            )
            at = bulk.instant(conn, now)
            done: list[tuple[Any, ...]] = []
            retries: list[tuple[Any, ...]] = []
            for verdict in verdicts:
                row, status, error = verdict.row, verdict.status, verdict.error
                if status == "retry":
                    if row.attempts < MAX_ATTEMPTS:
                        next_attempt = bulk.instant(conn, now + next_retry_delay(row.attempts))
                        retries.append((error, next_attempt, row.id))
                        continue
                    status, error = "failed", f"gave up after {MAX_ATTEMPTS} attempts: {error}"
                done.append((status, verdict.subject, error, at if status == "sent" else None, row.id))
            bulk.executemany_rows(
                conn,
                "UPDATE messages SET status = :status, subject = COALESCE(:subject, subject), "
                "last_error = :error, claimed_until = NULL, "
                "sent_at = COALESCE(:sent_at, sent_at) WHERE id = :id",
                done,
            )
            bulk.executemany_rows(
                conn,
                "UPDATE messages SET status = 'queued', last_error = :error, claimed_until = NULL, "
                "next_attempt_at = :next WHERE id = :id",
                retries,
            )
            tally_handed_over(conn, ((v.row.campaign_key, v.status) for v in verdicts), now)
            for verdict in verdicts:
                if verdict.status == "bounced":
                    self.on_hard_bounce(conn, verdict.row.to_address, verdict.error or "hard bounce", now)


def suppress_hard_bounce(conn: Connection, address: str, detail: str, now: datetime) -> None:
    """A relay refused the address for good: never mail it again, and end its enrollments."""
    suppress(conn, address, "hard_bounce", now, detail[:500])
