"""Writing the opens and clicks of concurrent requests together (group commit).

A mailing makes thousands of readers open and click within minutes. Each request still waits
until its event is committed, but requests that arrive while a transaction is being written share
the next one: one lookup of their messages, one insert, one call to scoring and one commit for
all of them, from one writer thread (so SQLite's single writer is never fought over), and one
wake-up of the event loop per batch. A batch that fails is retried one sighting at a time, so one
bad event cannot take the others with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, NamedTuple

from nurture.engagement.tracked import Sighting, Tracked, record_sightings

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from nurture.facts import WhatFollows

log = logging.getLogger("nurture.http")

MAX_BATCH = 500  # a burst larger than this is written in several transactions
_STOP = object()

Transaction = Callable[[], AbstractContextManager["Connection"]]


class NotRecorded(Exception):
    """The sighting could not be stored (the cause is logged)."""


class _Waiting(NamedTuple):
    sighting: Sighting
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Tracked | None]


class SightingWriter:
    """Records sightings for request handlers; :meth:`record` returns once it is committed."""

    def __init__(self, transaction: Transaction, lifecycle: Callable[[], WhatFollows | None]) -> None:
        self._transaction = transaction
        self._lifecycle = lifecycle
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    async def record(self, sighting: Sighting) -> Tracked | None:
        """Store a sighting with whatever else is waiting; :class:`NotRecorded` if it failed."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Tracked | None] = loop.create_future()
        self._ensure_started()
        self._queue.put(_Waiting(sighting, loop, future))
        return await future

    def stop(self, timeout: float = 10.0) -> None:
        """Write what is queued, then stop the writer thread."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(_STOP)
            thread.join(timeout)

    def _ensure_started(self) -> None:
        if self._thread is not None:
            return
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="nurture-sightings", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is _STOP:
                return
            batch = [first]
            while len(batch) < MAX_BATCH:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stopping = True
                    break
                batch.append(item)
            outcomes = self._write(batch)
            by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], Any]]] = {}
            for waiting, outcome in zip(batch, outcomes, strict=True):
                by_loop.setdefault(waiting.loop, []).append((waiting.future, outcome))
            for loop, answers in by_loop.items():
                with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
                    loop.call_soon_threadsafe(_deliver, answers)

    def _write(self, batch: Sequence[_Waiting]) -> list[Tracked | NotRecorded | None]:
        sightings = [waiting.sighting for waiting in batch]
        try:
            with self._transaction() as conn:
                return list(record_sightings(conn, self._lifecycle(), sightings))
        except Exception:
            if len(batch) > 1:
                return [outcome for waiting in batch for outcome in self._write([waiting])]
            sighting = sightings[0]
            log.exception("could not record a %s of message %s", sighting.kind, sighting.message_id)
            return [NotRecorded()]


def _deliver(answers: list[tuple[asyncio.Future[Any], Any]]) -> None:
    for future, outcome in answers:
        if future.done():  # the request was cancelled (the reader went away)
            continue
        if isinstance(outcome, NotRecorded):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)
