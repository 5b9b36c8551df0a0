"""The outbox rows a sender holds: leases, claim tokens, marks and verdicts.

Every write checks the row's claim token, so only the sender holding a row's current claim
marks it ``sending``, records its verdict or gives it back; a sender whose claim was taken over
(its lease ran out while it was stopped or cut off) writes nothing. Writes are retried while
the database is briefly unreachable (a restart, a failover), so a batch is not left to wait out
its lease, and verdicts of mail the relay has are not lost.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

from sqlalchemy import Connection, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from nurture.delivery import next_retry_delay
from nurture.guards import tally_handed_over
from nurture.store import bulk
from nurture.store.schema import messages

MAX_ATTEMPTS = 8  # with backoff capped at 6 h this spans more than a day of relay trouble
RETRY_FOR = 30.0  # seconds a write keeps retrying while the database is unreachable (half a lease)

_log = logging.getLogger(__name__)
_T = TypeVar("_T")


class Held(Protocol):
    """An outbox row in a sender's hand, as the ledger needs it."""

    @property
    def id(self) -> int: ...

    @property
    def attempts(self) -> int: ...

    @property
    def to_address(self) -> str: ...

    @property
    def campaign_key(self) -> str | None: ...


# A row given back without having been handed over: queued again, its attempt not counted.
_BACK_TO_THE_QUEUE = {
    "status": "queued",
    "claimed_until": None,
    "claim_token": None,
    "attempted_sender": None,
    "attempted_data": None,
    "attempts": messages.c.attempts - 1,
}


@dataclass
class Verdict:
    """What became of one held row: sent | retry | failed | bounced | suppressed | unknown."""

    row: Held
    token: str
    status: str = "failed"
    subject: str | None = None
    error: str | None = None
    sender: str = ""  # the envelope sender and bytes attempted, kept for an ``unknown`` verdict
    data: bytes | None = None


@dataclass
class Mark:
    """A row about to be handed to a connection, with the bytes that will go."""

    id: int
    token: str
    sender: str
    data: bytes


def unreachable(exc: BaseException) -> bool:
    """The database is restarting, unreachable or busy: worth another try."""
    if isinstance(exc, (OperationalError, InterfaceError, PoolTimeout)):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


def with_retry(work: Callable[[], _T], *, retry_for: float = RETRY_FOR, what: str = "outbox write") -> _T:
    """Run ``work`` (one transaction); while the database is unreachable, try again with back-off
    for up to ``retry_for`` seconds. Runs on the sender's database thread: sleeping blocks nothing."""
    deadline = time.monotonic() + retry_for
    pause = 0.2
    while True:
        try:
            return work()
        except Exception as exc:
            if not unreachable(exc) or time.monotonic() + pause > deadline:
                raise
            _log.warning("%s: database unreachable, trying again in %.1fs: %s", what, pause, exc)
            time.sleep(pause)
            pause = min(pause * 2, 1.0)  # back within a second of the database, well inside a lease


@dataclass
class Ledger:
    """The writes of one sender, in the database, each with its claim token checked."""

    db: Engine
    clock: Callable[[], datetime]
    lease: timedelta
    on_hard_bounce: Callable[[Connection, str, str, datetime], None]
    retry_for: float = RETRY_FOR
    held: dict[str, list[int]] = field(default_factory=dict)  # claim token -> ids, for the heartbeat

    def recover(self) -> int:
        """Tidy up after a sender that stopped (its lease ran out): claimed messages go back to the
        queue; those it was sending are marked unknown and never resent. Returns how many are unknown."""
        now = self.clock()

        def work() -> int:
            m = messages.c
            with self.db.begin() as conn:
                conn.execute(
                    update(messages)
                    .where(m.status == "claimed", m.claimed_until < now)
                    .values(status="queued", claimed_until=None, claim_token=None)
                )
                result = conn.execute(
                    update(messages)
                    .where(m.status == "sending", m.claimed_until < now)
                    .values(
                        status="unknown",
                        claimed_until=None,
                        claim_token=None,
                        last_error="on the wire when its sender stopped; the relay may have it: not resent",
                    )
                )
                return int(result.rowcount or 0)

        return with_retry(work, retry_for=self.retry_for, what="recovering claims")

    def heartbeat(self) -> int:
        """Extend the lease of every row still held; returns how many rows it reached."""
        until = self.clock() + self.lease
        extended = 0

        def work() -> int:
            m = messages.c
            reached = 0
            with self.db.begin() as conn:
                for token, ids in list(self.held.items()):
                    result = conn.execute(
                        update(messages)
                        .where(m.id.in_(ids), m.claim_token == token, m.status.in_(("claimed", "sending")))
                        .values(claimed_until=until)
                    )
                    reached += int(result.rowcount or 0)
            return reached

        if self.held:
            extended = with_retry(work, retry_for=self.retry_for, what="extending leases")
        return extended

    def release(self, ids: Sequence[int], token: str, *, status: str = "claimed") -> None:
        """Rows never handed over go back to the queue at once (their attempt did not count)."""
        if not ids:
            return
        m = messages.c

        def work() -> None:
            with self.db.begin() as conn:
                conn.execute(
                    update(messages)
                    .where(m.id.in_(list(ids)), m.claim_token == token, m.status == status)
                    .values(**_BACK_TO_THE_QUEUE)
                )

        with_retry(work, retry_for=self.retry_for, what="releasing claims")

    def release_claims(self, tokens: Sequence[str]) -> int:
        """Every row still only claimed under these tokens goes back to the queue (a run's last
        step: a claimed row was never marked ``sending``, so it never reached the relay)."""
        if not tokens:
            return 0
        m = messages.c

        def work() -> int:
            with self.db.begin() as conn:
                result = conn.execute(
                    update(messages)
                    .where(m.claim_token.in_(list(tokens)), m.status == "claimed")
                    .values(**_BACK_TO_THE_QUEUE)
                )
                return int(result.rowcount or 0)

        return with_retry(work, retry_for=self.retry_for, what="releasing claims")

    def defer(self, until: dict[int, datetime], token: str) -> None:
        """Rows never handed over go back to the queue until the given time (their mail host was
        at its limit); their attempt does not count."""
        if not until:
            return

        def work() -> None:
            with self.db.begin() as conn:
                bulk.executemany_rows(
                    conn,
                    "UPDATE messages SET status = 'queued', claimed_until = NULL, claim_token = NULL, "
                    "attempts = attempts - 1, next_attempt_at = :until "
                    "WHERE id = :id AND claim_token = :token AND status = 'claimed'",
                    [(bulk.instant(conn, at), message_id, token) for message_id, at in until.items()],
                )

        with_retry(work, retry_for=self.retry_for, what="deferring claims")

    def write(self, verdicts: Sequence[Verdict], marks: Sequence[Mark], now: datetime) -> set[int]:
        """Record ``verdicts`` and mark ``marks`` ``sending`` (with the bytes about to go), in one
        transaction; returns the ids marked (a row whose claim this sender lost is not)."""
        if not verdicts and not marks:
            return set()
        return with_retry(lambda: self._write(verdicts, marks, now), retry_for=self.retry_for)

    def _write(self, verdicts: Sequence[Verdict], marks: Sequence[Mark], now: datetime) -> set[int]:
        marked: set[int] = set()
        with self.db.begin() as conn:
            self._record(conn, verdicts, now)
            if marks:
                marked = self._mark(conn, marks)
        return marked

    def _mark(self, conn: Connection, marks: Sequence[Mark]) -> set[int]:
        # One driver-level statement for the whole group: this write sits between two messages of
        # every connection, so it is kept to what the database itself costs.
        until = bulk.instant(conn, self.clock() + self.lease)
        changed = bulk.executemany_rows(
            conn,
            "UPDATE messages SET status = 'sending', claimed_until = :until, attempted_sender = :sender, "
            "attempted_data = :data WHERE id = :id AND claim_token = :token AND status = 'claimed'",
            [(until, mark.sender, mark.data, mark.id, mark.token) for mark in marks],
        )
        if changed == len(marks):
            return {mark.id for mark in marks}
        # Some claim was taken over meanwhile (or the driver does not count): ask which are ours.
        ids = [mark.id for mark in marks]
        tokens = {mark.id: mark.token for mark in marks}
        query = f"SELECT id, claim_token FROM messages WHERE status = 'sending' AND id IN {bulk.markers(len(ids))}"  # noqa: S608, E501
        found = bulk.fetch_positional(conn, query, ids)
        return {row[0] for row in found if tokens.get(row[0]) == row[1]}

    def _record(self, conn: Connection, verdicts: Sequence[Verdict], now: datetime) -> None:
        if not verdicts:
            return
        at = bulk.instant(conn, now)
        done: list[tuple[Any, ...]] = []
        unknown: list[tuple[Any, ...]] = []
        retries: list[tuple[Any, ...]] = []
        for verdict in verdicts:
            row, status, error = verdict.row, verdict.status, verdict.error
            if status == "retry":
                if row.attempts < MAX_ATTEMPTS:
                    next_attempt = bulk.instant(conn, now + next_retry_delay(row.attempts))
                    retries.append((error, next_attempt, row.id, verdict.token))
                    continue
                status, error = "failed", f"gave up after {MAX_ATTEMPTS} attempts: {error}"
            if status == "unknown":
                unknown.append((error, verdict.sender, verdict.data, row.id, verdict.token))
                continue
            sent_at = at if status == "sent" else None
            done.append((status, verdict.subject, error, sent_at, row.id, verdict.token))
        # Only the holder of the current claim writes (``claim_token``): a sender whose lease was
        # taken over must not overwrite what the recovering sender decided.
        bulk.executemany_rows(
            conn,
            "UPDATE messages SET status = :status, subject = COALESCE(:subject, subject), "
            "last_error = :error, claimed_until = NULL, claim_token = NULL, attempted_sender = NULL, "
            "attempted_data = NULL, sent_at = COALESCE(:sent_at, sent_at) "
            "WHERE id = :id AND claim_token = :token",
            done,
        )
        bulk.executemany_rows(
            conn,
            "UPDATE messages SET status = 'unknown', last_error = :error, claimed_until = NULL, "
            "claim_token = NULL, attempted_sender = :sender, attempted_data = :data "
            "WHERE id = :id AND claim_token = :token",
            unknown,
        )
        bulk.executemany_rows(
            conn,
            "UPDATE messages SET status = 'queued', last_error = :error, claimed_until = NULL, "
            "claim_token = NULL, attempted_sender = NULL, attempted_data = NULL, next_attempt_at = :next "
            "WHERE id = :id AND claim_token = :token",
            retries,
        )
        tally_handed_over(conn, ((v.row.campaign_key, v.status) for v in verdicts), now)
        for verdict in verdicts:
            if verdict.status == "bounced":
                self.on_hard_bounce(conn, verdict.row.to_address, verdict.error or "hard bounce", now)


class GroupWriter:
    """Writes asked for while one is under way go together into the next transaction, so the
    connections never wait for a database round trip each: one commit serves them all."""

    def __init__(self, ledger: Ledger, run: Callable[..., Any], now: datetime) -> None:
        self._ledger = ledger
        self._run = run  # runs a function on the sender's database thread, awaitably
        self._now = now
        self._verdicts: list[Verdict] = []
        self._marks: list[Mark] = []
        self._result: asyncio.Future[set[int]] | None = None
        self._writing: asyncio.Task[None] | None = None
        self._committing: asyncio.Future[set[int]] | None = None  # of the transaction under way

    def submit(
        self, verdicts: Sequence[Verdict] = (), marks: Sequence[Mark] = ()
    ) -> asyncio.Future[set[int]]:
        """Queue writes; the future gives the ids marked once they are committed."""
        self._verdicts.extend(verdicts)
        self._marks.extend(marks)
        if self._result is None:
            self._result = asyncio.get_running_loop().create_future()
        result = self._result
        if self._writing is None or self._writing.done():
            self._writing = asyncio.create_task(self._write_all())
        return result

    def committing(self) -> asyncio.Future[set[int]] | None:
        """Done once the transaction under way is committed; None while nothing is written."""
        committing = self._committing
        return committing if committing is not None and not committing.done() else None

    async def _write_all(self) -> None:
        while self._result is not None:
            verdicts, marks, result = self._verdicts, self._marks, self._result
            self._verdicts, self._marks, self._result = [], [], None
            self._committing = result
            try:
                marked = await self._run(self._ledger.write, verdicts, marks, self._now)
            except BaseException as exc:  # handed to every waiter
                if not result.done():
                    result.set_exception(exc)
                    result.exception()  # a waiter that was cancelled must not warn about it
                if isinstance(exc, asyncio.CancelledError):
                    raise
            else:
                if not result.done():
                    result.set_result(marked)
