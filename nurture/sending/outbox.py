"""Sending what the outbox holds: claim, build, hand to the transport, record the verdict."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple, TypeVar

from sqlalchemy import Connection, select, update
from sqlalchemy.engine import Engine

from nurture.clock import SystemClock
from nurture.delivery.mail_hosts import MailHosts
from nurture.delivery.throttle import Throttle
from nurture.delivery.transports import GoAhead, OutgoingMessage, SendResult, SendStatus, Transport
from nurture.engagement.suppress import suppress
from nurture.engine.enrollments import load_leads, stops, suppressed
from nurture.errors import NurtureError
from nurture.guards import SendGuard, claim_exclusions
from nurture.guards.consent import ConsentScreen
from nurture.sending.compose import Composed, Composer
from nurture.sending.ledger import MAX_ATTEMPTS, GroupWriter, Ledger, Mark, Verdict
from nurture.sending.warmup import Warmup, held_back
from nurture.store.engine import reading
from nurture.store.schema import CAMPAIGN_MAIL, leads, messages

__all__ = ["HEARTBEAT", "LEASE", "MAX_ATTEMPTS", "DeliveryReport", "Outbox", "suppress_hard_bounce"]

# A claim lasts a minute from the clock at the claim and is extended every 15 s while its sender
# works on it, so a live sender never loses its rows, and a dead one's are back within a minute.
LEASE = timedelta(seconds=60)
HEARTBEAT = 15.0  # seconds
_TEND = 0.05  # seconds between looks at the stop flag
# An email whose mail host is at its limit for longer than this goes back to the queue until then,
# so the connections carry mail to the other hosts meanwhile; a shorter wait is waited out.
DEFER_AFTER = 1.0  # seconds
_BUILD_SLICE = 0.0005  # seconds of building between turns of the event loop
_BUILD_PAUSE = 0.002  # seconds a slice of building ahead waits at most for the database thread

_log = logging.getLogger(__name__)


@dataclass
class DeliveryReport:
    # sent, retry, failed, bounced, suppressed, and unknown (the relay's answer to the final dot lost)
    outcomes: Counter[str] = field(default_factory=Counter)
    unknown: int = 0  # on the wire when an earlier sender stopped: not sent again
    deferred: int = 0  # back in the queue for later: their mail host was at its limit
    problems: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        shown = sorted((name, count) for name, count in self.outcomes.items() if name != "unknown")
        out = [f"  {name:<9} {count}" for name, count in shown]
        if self.outcomes["unknown"]:
            out.append(
                f"  unknown   {self.outcomes['unknown']} (the relay's answer to the whole message was lost; "
                "not sent again: nurture outbox unknown)"
            )
        if self.unknown:
            out.append(
                f"  unknown   {self.unknown} (on the wire when an earlier sender stopped; not sent again: "
                "nurture outbox unknown)"
            )
        if self.deferred:
            out.append(f"  deferred  {self.deferred} (their mail host was at its limit; queued for later)")
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
    variant: str | None  # the send step's variant, chosen when it was queued
    attempts: int


# The leads of a batch's marketing messages by id, the batch's suppressed addresses, and its
# marketing messages refused for consent or a topic suppression (message id -> why).
_Recipients = tuple[dict[int, dict[str, Any]], dict[str, str], dict[int, str]]
_T = TypeVar("_T")

# A built batch: verdicts already settled (suppressed, unbuildable), and messages ready to send.
_Prepared = tuple[list[Verdict], list[tuple[Verdict, Composed]]]


@dataclass
class _Batch:
    """One claim: its token, verdicts settled while building, and the messages still to hand over."""

    token: str
    settled: list[Verdict]
    ready: deque[tuple[Verdict, Composed]]
    groups: dict[int, str] = field(default_factory=dict)  # message id -> recipient host group
    # Set once a connection found nothing more of the batch to take: the next batch may start.
    drained: asyncio.Event = field(default_factory=asyncio.Event)

    def take_unsent(self) -> list[int]:
        """Everything not handed over yet, taken out of the batch (to give back)."""
        ids = [v.row.id for v in self.settled] + [v.row.id for v, _ in self.ready]
        self.settled, self.ready = [], deque()
        return ids


@dataclass
class _Run:
    """One ``deliver_due``: its grouped writes and the batches in hand."""

    writer: GroupWriter
    now: datetime
    batches: list[_Batch] = field(default_factory=list)
    given_back: bool = False
    deferred: int = 0
    claim_size: int = 0  # of the next claim: the first ones small, so the connections start at once
    tokens: list[str] = field(default_factory=list)  # of every claim the run made
    # One per connection: held from the rate limit's turn to the verdict, whichever batch the
    # email is of, so two batches overlapping never have more emails marked than connections.
    slots: asyncio.Semaphore = field(default_factory=asyncio.Semaphore)


class _Handover:
    """The go-ahead for one message, asked by the transport once the relay waits for the message
    itself: given when its ``sending`` mark is committed, unless the sender is stopping or another
    sender took its claim over meanwhile. So whatever reaches the relay is marked first, and the
    mark's commit costs no time of its own: it is written during the envelope's round trip."""

    def __init__(self, marking: asyncio.Future[set[int]], message_id: int, stopping: threading.Event) -> None:
        self._marking = marking
        self._message_id = message_id
        self._stopping = stopping
        self._marked: bool | None = None
        self.held_back = False  # the go-ahead was refused for the stop: nothing of it was handed over

    async def marked(self) -> bool:
        """Whether the mark was committed (this sender still holds the claim)."""
        if self._marked is None:
            # Shielded: the future is shared by every mark of the group write, so a send
            # interrupted while waiting must not cancel it for the others.
            self._marked = self._message_id in await asyncio.shield(self._marking)
        return self._marked

    async def __call__(self) -> bool:
        if not await self.marked():
            return False
        self.held_back = self._stopping.is_set()
        return not self.held_back


class Outbox:
    guard: SendGuard | None = None  # circuit breakers, judged at each claim (pauses are obeyed anyway)
    consent: ConsentScreen | None = None  # consent and topic suppressions, looked at again per batch
    throttle: Throttle | None = None  # per recipient mail host: a rate and a connection limit
    mail_hosts: MailHosts | None = None  # recipient domain -> host group (for the throttle)
    warmup: Warmup | None = None  # a new sending domain's daily volume of marketing mail
    warmup_today: tuple[int, int] | None = None  # (allowance, used) at the last claim, for /metrics

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
        clock: Callable[[], datetime] | None = None,
        lease: timedelta = LEASE,
        heartbeat: float = HEARTBEAT,
    ) -> None:
        self.db = db
        self.composer = composer
        self.transport = transport
        self.batch_size = batch_size
        # Messages on the wire at once; each is marked `sending` just before it goes, so a crash
        # leaves at most this many `unknown`. With SMTP it is the pool size: one per connection.
        self.concurrency = concurrency
        # Lease times come from this clock at each claim and heartbeat (the run's ``now`` only
        # says what is due), so a long run never claims rows whose lease has already run out.
        self.clock: Callable[[], datetime] = clock or SystemClock().now
        self.heartbeat = heartbeat
        self.ledger = Ledger(db, lambda: self.clock(), lease, on_hard_bounce or suppress_hard_bounce)
        # Set by a daemon that is shutting down: nothing more is handed over, every claim not yet
        # handed over goes back to the queue at once, and the verdicts of what is on the wire are
        # recorded as they come (the daemon interrupts the transport when its time is up).
        self.stopping = stopping or threading.Event()
        self._database: ThreadPoolExecutor | None = None  # the sender's own thread while delivering

    # -- the loop ---------------------------------------------------------------------------------

    async def deliver_due(self, now: datetime, *, max_batches: int = 10_000) -> DeliveryReport:
        """Send every message due at ``now`` (batch after batch) and record each verdict.

        The next batch is claimed and built while the current one is on the wire, and starts as
        soon as the current one has nothing left to hand over (its connections take over one by
        one as the last emails before are answered), so the relay connections are kept busy.
        Marks and verdicts are written on one thread of the sender's own, in order; claims run on
        another, so a connection never waits for a claim to mark its next message.
        """
        report = DeliveryReport()
        database = ThreadPoolExecutor(1, "nurture-outbox-db")
        self._database = database
        run = _Run(GroupWriter(self.ledger, self._in_database, now), now)
        # The first batch gives each connection two emails, so the relay has mail within
        # milliseconds instead of once a whole batch is built; each claim then doubles up to
        # ``batch_size``, so the next one is built while the one before is on the wire.
        run.claim_size = min(self.batch_size, 2 * self.concurrency)
        run.slots = asyncio.Semaphore(self.concurrency)
        tending = asyncio.create_task(self._tend(run))
        upcoming: asyncio.Task[_Batch | None] | None = None
        sending: list[tuple[_Batch, asyncio.Task[list[Verdict]]]] = []
        try:
            report.unknown = await self._in_database(self.ledger.recover)
            upcoming = asyncio.create_task(self._next_batch(now, run))
            for _ in range(max_batches):
                batch = await upcoming
                upcoming = None
                if batch is None:
                    break
                if not self.stopping.is_set():
                    upcoming = asyncio.create_task(self._next_batch(now, run))
                handing_over = asyncio.create_task(self._send_batch(batch, run))
                sending.append((batch, handing_over))
                drained = asyncio.create_task(batch.drained.wait())
                try:
                    await asyncio.wait((handing_over, drained), return_when=asyncio.FIRST_COMPLETED)
                finally:
                    drained.cancel()
                failure = await self._settle(report, sending, run, wait=False)
                if failure is not None:
                    raise failure
                if upcoming is None:
                    break
            failure = await self._settle(report, sending, run, wait=True)
            if failure is not None:
                raise failure
        except asyncio.CancelledError:
            for _, handing_over in sending:  # cancelled from outside: so is what is under way
                handing_over.cancel()
            raise
        finally:
            # Each step runs whatever the one before raised: a run cancelled from outside still
            # gives back what it claimed, stops renewing its leases and closes its database thread.
            try:
                if sending:  # after a failure: the batches under way end, and what they left goes back
                    await self._settle(report, sending, run, wait=True)
            finally:
                try:
                    if upcoming is not None:
                        await self._give_back_upcoming(upcoming, run)
                    await self._release_leftovers(run)
                finally:
                    tending.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await tending
                    self._database = None
                    database.shutdown(wait=True)
        report.deferred = run.deferred
        return report

    async def _settle(
        self,
        report: DeliveryReport,
        sending: list[tuple[_Batch, asyncio.Task[list[Verdict]]]],
        run: _Run,
        *,
        wait: bool,
    ) -> BaseException | None:
        """Count the verdicts of every batch whose sending has ended (with ``wait``, of all of
        them, once they end), give back what they left unsent and forget them; returns the
        first failure among them."""
        failure: BaseException | None = None
        for batch, handing_over in list(sending):
            if not handing_over.done():
                if not wait:
                    continue
                await asyncio.wait((handing_over,))
            sending.remove((batch, handing_over))
            try:
                if not handing_over.cancelled():  # a cancelled batch has no verdicts to count
                    self._tally(report, handing_over.result())
            except Exception as exc:
                failure = failure or exc
            finally:
                # What a stop left unsent goes back now, whether or not the tending loop got to
                # it first (it looks every few milliseconds), never after the lease.
                with contextlib.suppress(Exception):
                    await self._give_back(batch)
                self._done_with(batch, run)
        return failure

    async def _in_database(self, work: Callable[..., _T], *args: Any) -> _T:
        """Run ``work`` on the sender's database thread (a thread of the default pool outside
        :meth:`deliver_due`)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._database, functools.partial(work, *args))

    @staticmethod
    def _tally(report: DeliveryReport, verdicts: list[Verdict]) -> None:
        for verdict in verdicts:
            report.outcomes[verdict.status] += 1
            if verdict.status in ("failed", "bounced", "unknown") and verdict.error:
                row = verdict.row
                report.problems.append(f"message {row.id} to {row.to_address}: {verdict.error}")

    async def _next_batch(self, now: datetime, run: _Run) -> _Batch | None:
        if self.stopping.is_set():
            return None
        token = uuid.uuid4().hex
        size, run.claim_size = run.claim_size, min(self.batch_size, 2 * run.claim_size)
        # On a thread of its own: the writes' thread stays free for the marks between messages.
        run.tokens.append(token)
        claimed, recipients = await asyncio.to_thread(self._claim_with_recipients, now, token, size)
        if not claimed:
            return None
        self.ledger.held[token] = [row.id for row in claimed]
        groups = await asyncio.to_thread(self._host_groups, claimed) if self.throttle is not None else {}
        settled, ready = await self._prepare_between_sends(claimed, recipients, now, token, run=run)
        batch = _Batch(token, settled, deque(ready), groups)
        run.batches.append(batch)
        if self.stopping.is_set() or run.given_back:
            await self._give_back(batch)
            self._done_with(batch, run)
            return None
        return batch

    async def _send_batch(self, batch: _Batch, run: _Run) -> list[Verdict]:
        """Hand the batch's messages over, ``concurrency`` at a time, each marked ``sending``
        before any byte of it reaches the relay; record every verdict as soon as it is known.

        Marks and verdicts asked for while the database is busy are written together in the next
        transaction (one commit serves every connection), and a mark is written while its
        envelope's round trip to the relay is under way, so a connection does not wait for the
        database between two messages.
        """
        settled, batch.settled = batch.settled, []
        settled_written = run.writer.submit(settled) if settled else None
        workers = [self._worker(batch, run) for _ in range(min(self.concurrency, len(batch.ready)))]
        finished = await asyncio.gather(*workers, return_exceptions=True)
        failure = next((r for r in finished if isinstance(r, BaseException)), None)
        if failure is not None:
            with contextlib.suppress(Exception):
                await self._give_back(batch)  # left unsent after the failure: back to the queue
            raise failure
        if settled_written is not None:
            await settled_written
        return settled + [verdict for result in finished if isinstance(result, list) for verdict in result]

    async def _worker(self, batch: _Batch, run: _Run) -> list[Verdict]:
        """One connection's share of a batch: mark while the envelope goes, send, record."""
        sent: list[Verdict] = []
        recorded: list[asyncio.Future[set[int]]] = []
        try:
            while batch.ready and not self.stopping.is_set():
                picked = self._pick(batch)
                if not isinstance(picked, tuple):
                    await self._wait_or_defer(batch, run, picked)
                    continue
                verdict, composed, group = picked
                result: SendResult | None = None
                try:
                    async with run.slots:
                        await self.transport.pace()  # an email waiting for the rate limit is not on the wire
                        if self.stopping.is_set():
                            batch.ready.appendleft((verdict, composed))  # given back with the rest
                            break
                        message = composed.message
                        mark = Mark(verdict.row.id, batch.token, message.sender, message.data)
                        handover = _Handover(run.writer.submit((), [mark]), verdict.row.id, self.stopping)
                        result = await self._send(verdict, message, handover)
                        if not await handover.marked():
                            result = None
                            _log.warning(
                                "message %s: its claim was taken over; left to the sender now holding it",
                                verdict.row.id,
                            )
                            continue
                        if handover.held_back:  # stopped while it was being marked: not handed over
                            result = None
                            give_back = functools.partial(self.ledger.release, status="sending")
                            await self._in_database(give_back, [verdict.row.id], batch.token)
                            break
                    sent.append(verdict)
                    recorded.append(run.writer.submit([verdict]))
                finally:
                    if self.throttle is not None:
                        self.throttle.end(group, result)
        finally:
            batch.drained.set()
            written = await asyncio.gather(*recorded, return_exceptions=True)
        failure = next((w for w in written if isinstance(w, BaseException)), None)
        if failure is not None:
            raise failure
        return sent

    def _pick(self, batch: _Batch) -> tuple[Verdict, Composed, str] | dict[str, float]:
        """The next message whose mail host may take one now, taken out of the batch; else how
        long each host group of the batch has to wait."""
        throttle = self.throttle
        if throttle is None:
            verdict, composed = batch.ready.popleft()
            return verdict, composed, ""
        waits: dict[str, float] = {}
        for index, (verdict, composed) in enumerate(batch.ready):
            group = batch.groups.get(verdict.row.id, "default")
            if group not in waits:
                waits[group] = throttle.wait(group)
            if waits[group] <= 0:
                del batch.ready[index]
                throttle.begin(group)
                return verdict, composed, group
        return waits

    async def _wait_or_defer(self, batch: _Batch, run: _Run, waits: dict[str, float]) -> None:
        """Every message left is for a host at its limit: wait a short while, or give the
        messages of hosts with a long wait back to the queue until their turn (never dropped)."""
        assert self.throttle is not None
        later = {group: wait for group, wait in waits.items() if wait > DEFER_AFTER}
        if not later:
            await asyncio.sleep(min(waits.values(), default=_TEND))
            return
        until: dict[int, datetime] = {}
        keep: deque[tuple[Verdict, Composed]] = deque()
        for verdict, composed in batch.ready:
            group = batch.groups.get(verdict.row.id, "default")
            if group in later:
                until[verdict.row.id] = run.now + timedelta(seconds=later[group])
                self.throttle.deferred(group, 1)
            else:
                keep.append((verdict, composed))
        batch.ready = keep
        run.deferred += len(until)
        await self._in_database(self.ledger.defer, until, batch.token)

    async def _tend(self, run: _Run) -> None:
        """While the run lasts: extend the leases of what it holds, and on a stop give back at once
        every claimed message not handed over (the ones on the wire get their verdicts)."""
        loop = asyncio.get_running_loop()
        beat = loop.time() + self.heartbeat
        while True:
            if self.stopping.is_set() and not run.given_back:
                run.given_back = True
                for batch in list(run.batches):
                    with contextlib.suppress(Exception):
                        await self._give_back(batch)
            if loop.time() >= beat:
                beat = loop.time() + self.heartbeat
                try:
                    await self._in_database(self.ledger.heartbeat)
                except Exception as exc:  # the next beat tries again; the lease has room for it
                    _log.warning("could not extend the outbox leases: %s", exc)
            await asyncio.sleep(_TEND)

    async def _release_leftovers(self, run: _Run) -> None:
        """The run's last word on its claims: whatever is still only claimed goes back now rather
        than after its lease (nothing of it was marked, so nothing of it reached the relay)."""
        try:
            left = await self._in_database(self.ledger.release_claims, run.tokens)
        except Exception as exc:  # the lease still returns them; a stop must not fail on it
            _log.warning("could not give back the run's last claims (their lease returns them): %s", exc)
            return
        if left:
            _log.warning("gave back %d claimed messages left at the end of a send run", left)

    async def _give_back(self, batch: _Batch) -> None:
        ids = batch.take_unsent()
        if ids:
            await self._in_database(self.ledger.release, ids, batch.token)

    async def _give_back_upcoming(self, upcoming: asyncio.Task[_Batch | None], run: _Run) -> None:
        """A batch claimed ahead but not sent (a stop, an error, the last batch) goes straight back."""
        with contextlib.suppress(Exception):
            batch = await upcoming
            if batch is not None:
                await self._give_back(batch)
                self._done_with(batch, run)

    def _done_with(self, batch: _Batch, run: _Run) -> None:
        self.ledger.held.pop(batch.token, None)
        with contextlib.suppress(ValueError):
            run.batches.remove(batch)

    async def _prepare_between_sends(
        self,
        claimed: list[_Claimed],
        recipients: _Recipients,
        now: datetime,
        token: str = "",
        *,
        run: _Run | None = None,
    ) -> _Prepared:
        """Build the batch's messages on the event loop, a slice of at most half a millisecond at
        a time, between the replies of the relay. A worker thread would compete with the loop for
        the interpreter, and a loop that waits milliseconds for its turn leaves the relay
        connections idle; handing the loop back after every slice keeps the connections and
        anything else on the loop (the HTTP server in ``nurture run``) responsive, without paying
        a turn of the loop for every message.

        While the messages of the ``run`` built before and still waiting for a connection
        outnumber the ones left to build here, building is ahead of the connections, and a slice
        of it that ends while the sender's database thread writes waits for that write (up to
        ``_BUILD_PAUSE``): a loop that is never idle hands the interpreter to another thread only
        when the interpreter's switch interval (5 ms) runs out, and the database thread asks for
        it again after every statement, so the marks that let the messages go would lag all
        through the build. The loop is left idle only for the sender's own writes, never
        otherwise, so on a busy machine no processor time is given away. Building an email takes
        a fraction of the time sending it does: once the messages waiting are no more than the
        ones left to build, building at full speed still has the batch ready before they are
        all handed over."""
        settled: list[Verdict] = []
        ready: list[tuple[Verdict, Composed]] = []
        clock = time.perf_counter
        handing_back = clock() + _BUILD_SLICE
        left = len(claimed)
        for row in claimed:
            self._build(row, token, recipients, now, settled, ready)
            left -= 1
            if clock() >= handing_back:
                write = None
                if run is not None and sum(len(batch.ready) for batch in run.batches) > left:
                    write = run.writer.committing()
                if write is None:
                    await asyncio.sleep(0)
                else:
                    await asyncio.wait((write,), timeout=_BUILD_PAUSE)
                handing_back = clock() + _BUILD_SLICE
        return settled, ready

    def _build(
        self,
        row: _Claimed,
        token: str,
        recipients: _Recipients,
        now: datetime,
        settled: list[Verdict],
        ready: list[tuple[Verdict, Composed]],
    ) -> None:
        """Build one message into ``ready``, or settle its verdict (suppressed, unbuildable)."""
        lead_rows, blocked, refused = recipients
        verdict = Verdict(row, token)
        address = row.to_address.lower()
        if address in blocked and stops(blocked[address], row.kind):
            verdict.status, verdict.error = "suppressed", f"address suppressed ({blocked[address]})"
        elif row.id in refused:
            verdict.status, verdict.error = "suppressed", refused[row.id]
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

    async def _send(self, verdict: Verdict, message: OutgoingMessage, go_ahead: GoAhead) -> SendResult:
        result = await self.transport.send(message, go_ahead)
        if result.accepted:
            verdict.status = "sent"
        elif result.hard_bounce:
            verdict.status, verdict.error = "bounced", f"{result.code} {result.reason}".strip()
        elif result.status is SendStatus.RETRY:
            verdict.status, verdict.error = "retry", f"{result.code or ''} {result.reason}".strip()
        elif result.status is SendStatus.UNKNOWN:
            # The relay has the whole message and may deliver it: kept, reported, never resent.
            verdict.status, verdict.error = "unknown", result.reason
            verdict.sender, verdict.data = message.sender, message.data
        else:
            verdict.status, verdict.error = "failed", f"{result.code} {result.reason} ({result.stage})"
        return result

    def _compose(self, row: _Claimed, lead_rows: dict[int, dict[str, Any]], now: datetime) -> Composed | None:
        if row.kind in CAMPAIGN_MAIL:
            lead = lead_rows.get(row.lead_id or -1)
            if lead is None or (lead["unsubscribed"] and row.kind == "marketing"):
                return None
            assert row.campaign_key and row.step_id
            return self.composer.marketing(
                row.id, row.header_id, lead, row.campaign_key, row.step_id, now, variant=row.variant,
                transactional=row.kind == "transactional",
                # The address checked against suppressions and consent is the one mailed.
                to=row.to_address,
            )  # fmt: skip
        if row.html is None and row.text is None:
            raise ValueError(f"a {row.kind} message has no rendered body")
        return self.composer.prebuilt(
            row.id, row.header_id, row.to_address, row.subject or "", row.html or "", row.text or "", now
        )

    # -- the database -----------------------------------------------------------------------------

    def recover(self) -> int:
        """Tidy up after a sender that stopped: its claimed messages go back to the queue, those it
        was sending are marked unknown and never resent. Returns how many are unknown."""
        return self.ledger.recover()

    def claim(self, now: datetime, token: str = "", size: int | None = None) -> list[_Claimed]:
        """Take the next messages due at ``now`` for this sender (``size`` at most, else
        ``batch_size``), with a lease from the clock and the claim ``token`` every later write of
        them checks."""
        size = min(size or self.batch_size, self.batch_size)
        m = messages.c
        with self.db.begin() as conn:
            columns = (m.id, m.message_id, m.kind, m.lead_id, m.campaign_key, m.step_id, m.to_address)
            paused = claim_exclusions(conn, now, self.guard)  # paused mail stays queued
            query = (
                select(*columns, m.subject, m.html, m.text, m.variant, m.attempts)
                .where(m.status == "queued", m.next_attempt_at <= now, *paused)
                .order_by(m.next_attempt_at, m.id)
                .limit(size)
            )
            queries = [query]
            remaining = self._warmup_remaining(conn, now)
            if remaining is not None:
                # Transactional mail first, whatever the day's volume; then marketing mail up to
                # what is left of it, the most engaged leads first (the rest waits in the queue).
                queries = [query.where(~held_back())]
                if remaining > 0:
                    engaged = (
                        query.where(held_back())
                        .join(leads, leads.c.id == m.lead_id)
                        .order_by(None)
                        .order_by(leads.c.score.desc(), m.next_attempt_at, m.id)
                        .limit(min(remaining, size))
                    )
                    queries.append(engaged)
            if conn.dialect.name == "postgresql":
                queries = [q.with_for_update(skip_locked=True, of=messages) for q in queries]
            # The query's columns are _Claimed's fields in order; attempts counts the one this claim starts.
            rows = [_Claimed._make((*r[:-1], r[-1] + 1)) for q in queries for r in conn.execute(q)]
            rows = rows[:size]
            if rows:
                conn.execute(
                    update(messages)
                    .where(m.id.in_([r.id for r in rows]))
                    .values(
                        status="claimed",
                        claimed_until=self.clock() + self.ledger.lease,
                        claim_token=token or None,
                        attempts=m.attempts + 1,
                    )
                )
        return rows

    def _warmup_remaining(self, conn: Connection, now: datetime) -> int | None:
        """Marketing emails the warm-up still allows today (None: no warm-up, or it is over)."""
        if self.warmup is None:
            return None
        allowance = self.warmup.allowance(now)
        if allowance is None:
            self.warmup_today = None
            return None
        used = self.warmup.used(conn, now)
        self.warmup_today = (allowance, used)
        return max(allowance - used, 0)

    def release(self, ids: Sequence[int], token: str, *, status: str = "claimed") -> None:
        """Messages of claim ``token`` never handed over go back to the queue."""
        self.ledger.release(ids, token, status=status)

    def _claim_with_recipients(
        self, now: datetime, token: str, size: int
    ) -> tuple[list[_Claimed], _Recipients]:
        claimed = self.claim(now, token, size)
        return claimed, (self._recipients(claimed) if claimed else ({}, {}, {}))

    def _host_groups(self, claimed: Sequence[_Claimed]) -> dict[int, str]:
        """Each claimed message's recipient host group (MX lookups, cached: on a thread)."""
        hosts = self.mail_hosts or MailHosts(None)
        domains = {row.id: row.to_address.rpartition("@")[2].lower() for row in claimed}
        by_domain = hosts.groups(domains.values())
        return {message_id: by_domain[domain] for message_id, domain in domains.items()}

    def _recipients(self, claimed: Sequence[_Claimed]) -> _Recipients:
        campaign_mail = [r for r in claimed if r.kind in CAMPAIGN_MAIL and r.lead_id]
        marketing = [r for r in campaign_mail if r.kind == "marketing"]
        # Only reads: the sender's marks and verdicts are written meanwhile, on another thread.
        with reading(self.db).begin() as conn:
            lead_rows = load_leads(conn, (r.lead_id for r in campaign_mail if r.lead_id))
            blocked = suppressed(conn, {r.to_address.lower() for r in claimed})
            refused: dict[int, str] = {}
            if self.consent is not None and marketing:
                screened = [
                    (r.id, r.lead_id or 0, r.to_address.lower(), r.campaign_key or "") for r in marketing
                ]
                refused = self.consent.refused(conn, screened)
        return lead_rows, blocked, refused


def suppress_hard_bounce(conn: Connection, address: str, detail: str, now: datetime) -> None:
    """A relay refused the address for good: never mail it again, and end its enrollments."""
    suppress(conn, address, "hard_bounce", now, detail[:500])
