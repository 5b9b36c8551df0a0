"""Writing what concurrent requests bring together (group commit).

A mailing makes thousands of readers open and click within minutes; a campaign's landing page
makes hundreds of visitors post its form. Each request still waits until what it brought is
committed, but requests that arrive while a transaction is being written share the next one:
one lookup, one insert, one call to scoring and one commit for all of them, from one writer
thread (so SQLite's single writer is never fought over), and one wake-up of the event loop per
group. Nobody waits to fill a group: when the writer is idle, a lone request is written at once.

A group that fails is retried one item at a time, each in its own transaction, so one bad item
cannot take the others with it; an item whose own transaction fails is answered with
:class:`NotRecorded` and nothing of it is stored. A request is answered only after its
transaction committed: an answer of success always means stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Generic, NamedTuple, TypeVar

from nurture.engagement.tracked import Sighting, Tracked, record_sightings

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from nurture.facts import WhatFollows

log = logging.getLogger("nurture.http")

MAX_BATCH = 500  # a burst larger than this is written in several transactions
_STOP = object()

Transaction = Callable[[], AbstractContextManager["Connection"]]
Item = TypeVar("Item")
Outcome = TypeVar("Outcome")


class NotRecorded(Exception):
    """The item could not be stored (the cause is logged)."""


class _Waiting(NamedTuple):
    item: Any
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]


class GroupWriter(Generic[Item, Outcome]):
    """Stores items for request handlers with ``write(conn, items)`` (one outcome per item, in
    order), a group per transaction; :meth:`store` returns once its item is committed."""

    def __init__(
        self,
        transaction: Transaction,
        write: Callable[[Connection, Sequence[Item]], Sequence[Outcome]],
        *,
        name: str,
        describe: Callable[[Item], str] = lambda item: "an item",
    ) -> None:
        self._transaction = transaction
        self._write_group = write
        self._name = name
        self._describe = describe
        # One queue per writer thread: an item stored after a stop goes to the next writer's
        # queue, never behind the stop mark of a thread that is ending.
        self._queue: queue.SimpleQueue[Any] | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    async def store(self, item: Item) -> Outcome:
        """Store an item with whatever else is waiting; :class:`NotRecorded` if it failed."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Outcome] = loop.create_future()
        with self._lock:
            if self._queue is None or self._thread is None:
                self._queue = queue.SimpleQueue()
                self._thread = self._start(self._queue)
            self._queue.put(_Waiting(item, loop, future))
        return await future

    def stop(self, timeout: float = 10.0) -> None:
        """Write what is queued, then stop the writer thread."""
        with self._lock:
            thread, self._thread = self._thread, None
            waiting, self._queue = self._queue, None
            if waiting is not None:
                waiting.put(_STOP)
        if thread is not None:
            thread.join(timeout)

    def _start(self, waiting: queue.SimpleQueue[Any]) -> threading.Thread:
        thread = threading.Thread(target=self._run, args=(waiting,), name=self._name, daemon=True)
        thread.start()
        return thread

    def _run(self, waiting: queue.SimpleQueue[Any]) -> None:
        stopping = False
        while not stopping:
            first = waiting.get()
            if first is _STOP:
                return
            batch = [first]
            while len(batch) < MAX_BATCH:
                try:
                    item = waiting.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stopping = True
                    break
                batch.append(item)
            try:
                outcomes = self._write(batch)
            except BaseException:
                # The thread is going down (an error that is no Exception): the group's requests
                # are answered that nothing was stored rather than left waiting, and a new
                # writer takes over the queue.
                self._answer(batch, [NotRecorded()] * len(batch))
                self._replace_writer(waiting, stopping)
                raise
            self._answer(batch, outcomes)

    def _replace_writer(self, waiting: queue.SimpleQueue[Any], stopping: bool) -> None:
        """A new thread takes over the dying one's queue, up to its stop mark if a stop came."""
        with self._lock:
            ours = self._thread is threading.current_thread()
            if stopping:
                if ours:
                    self._thread = None
                return
            replacement = self._start(waiting)
            if ours:
                self._thread = replacement

    def _answer(self, batch: Sequence[_Waiting], outcomes: Sequence[Any]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], Any]]] = {}
        for waiting, outcome in zip(batch, outcomes, strict=True):
            by_loop.setdefault(waiting.loop, []).append((waiting.future, outcome))
        for loop, answers in by_loop.items():
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
                loop.call_soon_threadsafe(_deliver, answers)

    def _write(self, batch: Sequence[_Waiting]) -> list[Any]:
        items = [waiting.item for waiting in batch]
        try:
            with self._transaction() as conn:
                outcomes = list(self._write_group(conn, items))
                if len(outcomes) != len(items):
                    # A writer that lost count: nothing of the group is kept (the transaction
                    # rolls back), so no request is answered an error for what was stored.
                    raise _LostCount(f"{self._name}: {len(outcomes)} outcomes for {len(items)} items")
        except Exception:
            if len(batch) > 1:
                return [outcome for waiting in batch for outcome in self._write([waiting])]
            log.exception("could not record %s", self._describe(items[0]))
            return [NotRecorded()]
        return outcomes


class _LostCount(Exception):
    """The group's writer answered for more or fewer items than it was given."""


def _deliver(answers: list[tuple[asyncio.Future[Any], Any]]) -> None:
    for future, outcome in answers:
        if future.done():  # the request was cancelled (the reader went away)
            continue
        if isinstance(outcome, NotRecorded):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)


class SightingWriter(GroupWriter[Sighting, "Tracked | None"]):
    """Records the opens and clicks of tracking requests; :meth:`record` returns once committed."""

    def __init__(self, transaction: Transaction, lifecycle: Callable[[], WhatFollows | None]) -> None:
        super().__init__(
            transaction,
            lambda conn, sightings: record_sightings(conn, lifecycle(), sightings),
            name="nurture-sightings",
            describe=lambda s: f"a {s.kind} of message {s.message_id}",
        )

    async def record(self, sighting: Sighting) -> Tracked | None:
        """Store a sighting with whatever else is waiting; :class:`NotRecorded` if it failed."""
        return await self.store(sighting)
