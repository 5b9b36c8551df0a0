"""Reading and writing at once: pieces of checked rows go to a writer on a second thread."""

from __future__ import annotations

import queue
import threading
from typing import Protocol

from nurture.leads.staged import Piece

QUEUED_PIECES = 4  # bounded: memory holds a few pieces, however large the file


class LeadWriter(Protocol):
    batch_size: int  # rows per transaction
    piece_size: int  # rows per hand-over from the reading thread

    def open(self) -> None:
        """Prepare the connection (before the writing thread starts)."""

    def write(self, piece: Piece) -> None:
        """Write a piece; the last piece of a batch commits it."""

    def close(self) -> None:
        """Roll back what is not committed and tidy the connection (after the thread ended)."""


class Pipeline:
    """Writes pieces on a second thread while the next ones are read and checked.

    The database driver releases the GIL while it works, so on two cores reading and writing
    overlap. A failure on the writing side stops the reading side and is raised from ``put`` or
    on exit.
    """

    def __init__(self, writer: LeadWriter) -> None:
        self._writer = writer
        self._queue: queue.Queue[Piece | None] = queue.Queue(maxsize=QUEUED_PIECES)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._drain, name="lead-import-writer", daemon=True)

    def __enter__(self) -> Pipeline:
        self._thread.start()
        return self

    def _drain(self) -> None:
        while (item := self._queue.get()) is not None:
            if self._error is None:
                try:
                    self._writer.write(item)
                except BaseException as exc:
                    self._error = exc

    def put(self, piece: Piece) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(piece)

    def __exit__(self, *exc_info: object) -> None:
        self._queue.put(None)
        self._thread.join()
        if self._error is not None and exc_info[0] is None:
            raise self._error
