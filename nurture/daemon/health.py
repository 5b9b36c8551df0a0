"""What ``/healthz`` says about the daemon: the scheduler, the transport, and each job's record.

The HTTP app runs the checks in its thread pool; each returns None when healthy or a short reason.
The database check is the HTTP app's own.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from nurture.delivery.transports import MaildirTransport, SmtpTransport, Transport

# Consecutive failures of a job that mails leads before the replica reports itself unhealthy.
FAILURES_BEFORE_UNHEALTHY = 3
CORE_JOBS = ("advance", "send")
# Backing off after database errors: 5 s, 10 s, 20 s, ... at most a minute between attempts.
FIRST_BACKOFF_S = 5.0
LONGEST_BACKOFF_S = 60.0
PROBE_TIMEOUT_S = 2.0
PROBE_CACHE_S = 15.0


@dataclass
class JobRecord:
    """How one job has been doing in this process."""

    runs: int = 0
    failures_in_a_row: int = 0
    last_error: str | None = None
    last_success: float | None = None  # time.time()
    backoff_until: float = 0.0  # time.monotonic()

    def succeeded(self) -> None:
        self.runs += 1
        self.failures_in_a_row = 0
        self.last_error = None
        self.last_success = time.time()
        self.backoff_until = 0.0

    def failed(self, error: str, *, back_off: bool) -> float:
        """Count a failure; with ``back_off``, skip runs for a while. Returns the pause in seconds."""
        self.runs += 1
        self.failures_in_a_row += 1
        self.last_error = error
        if not back_off:
            return 0.0
        pause = min(FIRST_BACKOFF_S * float(2 ** (self.failures_in_a_row - 1)), LONGEST_BACKOFF_S)
        self.backoff_until = time.monotonic() + pause
        return pause

    def backing_off(self) -> bool:
        return time.monotonic() < self.backoff_until


@dataclass
class DaemonHealth:
    """The daemon's state as health checks read it (written by the event loop, read by threads;
    every field is replaced whole, never mutated in place)."""

    transport: Transport
    scheduler_running: Callable[[], bool]
    stopping: bool = False
    jobs: dict[str, JobRecord] = field(default_factory=dict)
    last_send_problem: str | None = None
    _probe: tuple[float, str | None] = (0.0, None)

    def record(self, job: str) -> JobRecord:
        return self.jobs.setdefault(job, JobRecord())

    def checks(self) -> dict[str, Callable[[], str | None]]:
        """The checks to add to ``/healthz`` (next to the HTTP app's database check)."""
        return {"scheduler": self.scheduler_check, "transport": self.transport_check}

    def scheduler_check(self) -> str | None:
        if self.stopping:
            return "stopping"
        if not self.scheduler_running():
            return "the scheduler is not running"
        for name in CORE_JOBS:
            record = self.jobs.get(name)
            if record is not None and record.failures_in_a_row >= FAILURES_BEFORE_UNHEALTHY:
                return f"job {name!r} failed {record.failures_in_a_row} times in a row: {record.last_error}"
        return None

    def transport_check(self) -> str | None:
        if self.last_send_problem is not None:
            return self.last_send_problem
        checked_at, problem = self._probe
        if time.monotonic() - checked_at < PROBE_CACHE_S:
            return problem
        started = time.monotonic()
        problem = probe_transport(self.transport)
        if self._probe[0] > started:  # mail went through while it probed: that is the newer word
            return self._probe[1]
        self._probe = (time.monotonic(), problem)
        return problem

    def sends_finished(self, sent: int, retried: int) -> None:
        """After a send run: a run in which every message had to be retried means the relay (or
        the Maildir's disk) is refusing; one message through clears it, and a failed probe of the
        relay from before it too (mail just went through: /healthz must not say otherwise for
        the rest of the probe's cache time)."""
        if sent:
            self.last_send_problem = None
            self._probe = (time.monotonic(), None)
        elif retried:
            self.last_send_problem = f"all {retried} sends of the last run failed for now and will be retried"


def probe_transport(transport: Transport) -> str | None:
    """Can mail be handed over right now? The Maildir is writable; the relay answers on its port."""
    if isinstance(transport, MaildirTransport):
        folder = transport.path / "new"
        return None if os.access(folder, os.W_OK) else f"the Maildir {folder} is not writable"
    if isinstance(transport, SmtpTransport):
        host, port = transport.settings.host, transport.settings.port
        try:
            with socket.create_connection((host, port), timeout=PROBE_TIMEOUT_S):
                return None
        except OSError as exc:
            return f"the SMTP relay {host}:{port} does not answer: {exc.strerror or exc}"
    return None
