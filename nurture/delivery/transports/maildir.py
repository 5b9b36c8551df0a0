"""The default transport: every message becomes a file in a Maildir that anyone can open.

Nothing leaves the machine. Each message is written to ``tmp/`` and renamed into ``new/`` (the
rename is atomic, so a reader never sees half a message), with the envelope sender recorded as
``Return-Path`` the way a delivering mail server would.

Files are written by a small pool of threads: creating a file costs from tens of microseconds to
milliseconds depending on the disk, and the event loop (which also answers tracking requests)
must not wait for it.

Durability: by default files are not fsynced; a crash of the *process* loses nothing, a power
failure may lose the last messages written. ``maildir:PATH?fsync=true`` syncs every file before
it is renamed, as a mail server does, at the cost of a disk flush per message.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import secrets
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from nurture.delivery.transports.base import HELD_BACK, GoAhead, OutgoingMessage, SendResult


class MaildirTransport:
    """Writes messages into the Maildir at ``path`` (created when missing)."""

    def __init__(self, path: Path, *, fsync: bool = False, writers: int = 4) -> None:
        self.path = path
        self.fsync = fsync
        for sub in ("tmp", "new", "cur"):
            (path / sub).mkdir(parents=True, exist_ok=True, mode=0o700)
        self._host = socket.gethostname().replace("/", r"\057").replace(":", r"\072") or "localhost"
        self._counter = itertools.count(1)
        self._executor = ThreadPoolExecutor(max_workers=writers, thread_name_prefix="maildir")
        self._closed = False

    def __repr__(self) -> str:
        return f"MaildirTransport({str(self.path)!r}, fsync={self.fsync})"

    async def send(self, message: OutgoingMessage, go_ahead: GoAhead | None = None) -> SendResult:
        """Write ``message`` to ``new/``; a disk error is a retry, not a lost message."""
        problem = message.envelope_problem()
        if problem is not None:
            return SendResult.rejected(553, problem, "mail")
        if self._closed:
            return SendResult.retry("transport is closed")
        if go_ahead is not None and not await go_ahead():
            return SendResult.retry(HELD_BACK, stage="data")
        try:
            name = await asyncio.get_running_loop().run_in_executor(self._executor, self._deliver, message)
        except OSError as exc:
            return SendResult.retry(f"cannot write to {self.path}: {exc.strerror or exc}")
        return SendResult.ok(f"written to {name}")

    def deliver(self, message: OutgoingMessage) -> Path:
        """Write ``message`` synchronously; the path of the new file."""
        return self.path / "new" / self._deliver(message)

    async def close(self) -> None:
        """Wait for pending writes and stop the writer threads."""
        self._closed = True
        await asyncio.get_running_loop().run_in_executor(None, self._executor.shutdown, True)

    async def pace(self) -> None:
        """No rate limit."""

    def interrupt(self) -> None:
        """A file write is not interrupted: it finishes in milliseconds."""

    def _unique_name(self, size: int) -> str:
        now = time.time()
        seconds = int(now)
        micros = int((now - seconds) * 1_000_000)
        return (
            f"{seconds}.M{micros}P{os.getpid()}Q{next(self._counter)}R{secrets.token_hex(4)}"
            f".{self._host},S={size}"
        )

    def _deliver(self, message: OutgoingMessage) -> str:
        data = b"Return-Path: <" + message.sender.encode("ascii") + b">\r\n" + message.data
        name = self._unique_name(len(data))
        temporary = self.path / "tmp" / name
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            view = memoryview(data)
            while view:
                written = os.write(descriptor, view)
                view = view[written:]
            if self.fsync:
                os.fsync(descriptor)
        except BaseException:
            os.close(descriptor)
            temporary.unlink(missing_ok=True)
            raise
        os.close(descriptor)
        os.rename(temporary, self.path / "new" / name)
        return name
