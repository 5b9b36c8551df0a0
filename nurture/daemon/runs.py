"""Running one job: the clock read for the run, timing, metrics, one log line, back-off after errors.

A job that fails is logged (a database that is restarting or unreachable as a warning, anything
else as an error with its traceback) and skipped for 5 s, 10 s, 20 s, ... at most a minute, so a
database outage neither floods the log nor hammers the server; the first success clears it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from apscheduler.events import EVENT_JOB_MISSED
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from nurture.clock import Clock
from nurture.daemon.jobs import JOBS, JobResult, Runtime
from nurture.daemon.logs import error_text, log_event
from nurture.delivery.bounce_mailbox import BounceMailboxError

_log = logging.getLogger("nurture.daemon")


class JobRunner:
    """Runs the daemon's jobs for the scheduler (and for SIGHUP), and knows which are running."""

    def __init__(self, runtime: Runtime, clock: Callable[[], Clock]) -> None:
        self.runtime = runtime
        self.clock = clock  # asked at every run, so NURTURE_NOW (or a test's clock) is honoured
        self.running: set[asyncio.Task[Any]] = set()

    async def scheduled(self, name: str) -> None:
        """One scheduled run of job ``name`` (what the scheduler calls)."""
        runtime = self.runtime
        await self.execute(name, lambda now: JOBS[name](runtime, now))

    async def execute(self, name: str, work: Callable[[datetime], Awaitable[JobResult]]) -> None:
        """Run ``work`` as job ``name``; never raises (a failure is logged and backed off)."""
        metrics, record = self.runtime.metrics, self.runtime.health.record(name)
        if self.runtime.stopping.is_set():
            return
        if record.backing_off():
            metrics.job_runs.labels(name, "skipped").inc()
            return
        task = asyncio.current_task()
        if task is not None:
            task.set_name(f"job:{name}")
            self.running.add(task)
        started = time.perf_counter()
        try:
            result = await work(self.clock().now())
        except Exception as exc:
            self._failed(name, exc, time.perf_counter() - started)
        else:
            elapsed = time.perf_counter() - started
            metrics.job_seconds.labels(name).observe(elapsed)
            metrics.job_runs.labels(name, "skipped" if result.skipped else "ok").inc()
            record.succeeded()
            metrics.job_last_success.labels(name).set(record.last_success or 0)
            _log_result(name, result, elapsed)
        finally:
            if task is not None:
                self.running.discard(task)

    def _failed(self, name: str, exc: Exception, elapsed: float) -> None:
        self.runtime.metrics.job_runs.labels(name, "failed").inc()
        pause = self.runtime.health.record(name).failed(error_text(exc), back_off=True)
        fields: dict[str, Any] = {"job": name, "ms": round(elapsed * 1000), "error": error_text(exc)}
        fields["retry_in_s"] = pause
        if is_connection_problem(exc):
            log_event(_log, logging.WARNING, "job.database_unavailable", **fields)
        elif isinstance(exc, BounceMailboxError):
            # The mailbox server is down or refuses the login: said once, without a traceback.
            log_event(_log, logging.WARNING, "job.mailbox_unavailable", **fields)
        else:
            _log.error("job.failed", exc_info=exc, extra={"fields": fields})

    def on_scheduler_event(self, event: Any) -> None:
        """APScheduler's word that a run was missed (too late) or skipped (the last still runs)."""
        missed = event.code == EVENT_JOB_MISSED
        self.runtime.metrics.job_runs.labels(event.job_id, "missed" if missed else "overlapping").inc()
        if missed:
            log_event(
                _log, logging.WARNING, "job.missed", job=event.job_id,
                scheduled=str(event.scheduled_run_time), note="started too late; the next run does its work",
            )  # fmt: skip
        else:
            note = "the last run is still going"
            log_event(_log, logging.INFO, "job.overlapping", job=event.job_id, note=note)


def _log_result(name: str, result: JobResult, elapsed: float) -> None:
    fields = {"job": name, "ms": round(elapsed * 1000), **result.fields}
    status = result.fields.get("status") if name == "reload" else None
    if result.skipped:
        log_event(_log, logging.DEBUG, "job.skipped", reason=result.skipped, **fields)
    elif status == "refused":
        # Loud on purpose: an operator must see why the edit is not live.
        note = "the running program keeps going"
        log_event(_log, logging.ERROR, "definitions.refused", note=note, **fields)
    elif status == "applied":
        log_event(_log, logging.INFO, "definitions.reloaded", **fields)
    else:
        log_event(_log, logging.INFO if result.busy else logging.DEBUG, "job.done", **fields)


def is_connection_problem(exc: BaseException) -> bool:
    """The database is restarting, unreachable or busy: wait and try again."""
    if isinstance(exc, (OperationalError, InterfaceError, PoolTimeout)):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)
