"""``nurture run``: one asyncio process running the scheduler's jobs and the HTTP server.

Start: the jobs file, the database (its schema checked), the program, the transport and the HTTP
server; a mistake in any of them stops the start with one clear log line and exit code 1. Then the
scheduler runs the jobs until a signal:

* SIGTERM / SIGINT: stop scheduling; the sender hands nothing more to the relay and gives every
  claim not on the wire back to the queue at once; the relay gets :data:`ON_THE_WIRE_SECONDS` to
  answer for the emails on the wire, then the transport is interrupted and their verdicts are
  recorded; the HTTP server stops; exit 0 — all within :data:`STOP_SECONDS`. A job still busy
  then is abandoned: its transaction rolls back, and what it held is recovered by the next
  sender once its lease runs out.
* SIGHUP: reload definitions and templates now (see :mod:`nurture.daemon.reload`).

A job that fails (the database restarting, a bug) is logged and backs off (5 s doubling up to a
minute); the scheduler and the other jobs keep going, and work resumes by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from nurture.clock import Clock, clock_from_env
from nurture.daemon import systemd
from nurture.daemon.bounce_inbox import workspace_bounce_mailbox
from nurture.daemon.health import DaemonHealth
from nurture.daemon.jobs import Runtime, reload_program
from nurture.daemon.logs import adopt_library_loggers, error_text, log_event
from nurture.daemon.metrics import DaemonMetrics, ThrottleCollector
from nurture.daemon.reload import LiveProgram
from nurture.daemon.runs import JobRunner
from nurture.daemon.schedule import Schedule, ScheduledJob, load_schedule
from nurture.definitions import InvalidProgram
from nurture.delivery.transports import parse_transport
from nurture.errors import NurtureError
from nurture.guards.authentication import DnsPythonResolver, check_deliverability, start_warnings
from nurture.http import HttpContext, Metrics, TrackingServer, build_server, create_app
from nurture.settings import base_url_not_https
from nurture.store.engine import create_store_engine
from nurture.store.readiness import ensure_current
from nurture.workspace import Workspace

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

# The stop budget. From SIGTERM to exit: STOP_SECONDS, well inside the unit's TimeoutStopSec=15
# (scheduler/nurture.service), after which systemd kills. Of those, the relay gets
# ON_THE_WIRE_SECONDS to answer for the emails already on the wire; then the transport is
# interrupted (an email whose whole message was sent is `unknown`, one cut off before its final
# dot goes back to the queue) and the verdicts are recorded; the HTTP server gets the last
# SERVER_STOP_SECONDS.
STOP_SECONDS = 8.0
ON_THE_WIRE_SECONDS = 5.0
SERVER_STOP_SECONDS = 1.5
POOL_SIZE = 8  # per replica on PostgreSQL: jobs, their cluster locks and HTTP requests at once

_log = logging.getLogger("nurture.daemon")


@dataclass
class DaemonOptions:
    """How ``nurture run`` was started."""

    host: str | None = None
    port: int | None = None
    clock: Callable[[], Clock] = clock_from_env  # read at every job run: NURTURE_NOW pins it


class Daemon:
    """The running service: build it with a workspace, then ``await daemon.run()`` for the exit code."""

    def __init__(self, workspace: Workspace, options: DaemonOptions | None = None) -> None:
        self.workspace = workspace
        self.options = options or DaemonOptions()
        self._stop_requested = asyncio.Event()
        self._stop_reason = ""
        self._signal_tasks: set[asyncio.Task[Any]] = set()
        self.runtime: Runtime | None = None
        self.jobs: JobRunner | None = None
        self.scheduler: AsyncIOScheduler | None = None
        self.server: TrackingServer | None = None
        self._scheduled: dict[str, ScheduledJob] = {}

    # -- the whole life ---------------------------------------------------------------------------

    async def run(self) -> int:
        """Start, run until a stop signal, stop; 0 after a requested stop, 1 when it cannot start."""
        try:
            schedule = load_schedule(self.workspace)
            db = await asyncio.to_thread(self._open_database)
        except NurtureError as exc:
            log_event(_log, logging.ERROR, "daemon.cannot_start", error=str(exc))
            return 1
        try:
            return await self._run_with(db, schedule)
        finally:
            db.dispose()

    async def _run_with(self, db: Engine, schedule: Schedule) -> int:
        try:
            runtime = await asyncio.to_thread(self._build_runtime, db)
        except InvalidProgram as exc:
            problems = [str(p) for p in exc.problems if p.severity == "error"]
            log_event(
                _log,
                logging.ERROR,
                "daemon.cannot_start",
                error="the definitions have errors",
                problems=problems,
            )
            return 1
        except NurtureError as exc:
            log_event(_log, logging.ERROR, "daemon.cannot_start", error=str(exc))
            return 1
        self.runtime = runtime
        self.jobs = JobRunner(runtime, self.options.clock)
        try:
            return await self._serve(runtime, schedule, self.jobs)
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(runtime.transport.close(), timeout=2)

    def _open_database(self) -> Engine:

        url = self.workspace.database_url
        options = {"pool_size": POOL_SIZE, "max_overflow": POOL_SIZE} if url.startswith("postgres") else {}
        db = create_store_engine(url, **options)
        try:
            ensure_current(db)
        except BaseException:
            db.dispose()
            raise
        return db

    def _build_runtime(self, db: Engine) -> Runtime:

        settings = self.workspace.settings
        live = LiveProgram.load(self.workspace, db, self.options.clock().now())
        transport = parse_transport(settings.transport, self.workspace.root, settings)
        http_metrics = Metrics()
        health = DaemonHealth(transport, self._scheduler_running)
        runtime = Runtime(
            self.workspace, db, live, transport, DaemonMetrics(http_metrics.registry), http_metrics, health
        )

        runtime.bounce_inbox = workspace_bounce_mailbox(self.workspace)
        http_metrics.registry.register(ThrottleCollector(lambda: runtime.throttle, runtime.warmup_today))
        runtime.clock = lambda: self.options.clock().now()
        return runtime

    async def _serve(self, runtime: Runtime, schedule: Schedule, jobs: JobRunner) -> int:
        server = self.server = self._build_server(runtime)
        server_task = asyncio.create_task(_serve_http(server), name="http")
        if not await _started(server, server_task):
            log_event(
                _log, logging.ERROR, "daemon.cannot_start", error="the HTTP server did not start (see above)"
            )
            return 1
        self.scheduler = self._build_scheduler(schedule, jobs)
        self._install_signals()
        self.scheduler.start()
        settings = self.workspace.settings
        log_event(
            _log, logging.INFO, "daemon.started",
            pid=os.getpid(), workspace=str(self.workspace.root), program=runtime.live.current.label,
            http=f"{self.options.host or settings.http_host}:{self.options.port or settings.http_port}",
            jobs={job.name: job.describe() for job in schedule.jobs.values() if job.name in self._scheduled},
            jobs_from=schedule.source or "built-in defaults",
        )  # fmt: skip
        self._warn_about_authentication(runtime)
        insecure = base_url_not_https(settings.base_url)
        if insecure is not None:
            log_event(_log, logging.WARNING, "daemon.base_url_not_https", problem=insecure)
        systemd.notify("READY=1", f"STATUS=running {len(self._scheduled)} jobs")
        stop_wait = asyncio.create_task(self._stop_requested.wait())
        await asyncio.wait({stop_wait, server_task}, return_when=asyncio.FIRST_COMPLETED)
        # The server ending on its own is a failure: exit non-zero so systemd restarts the service.
        exit_code = 0 if self._stop_requested.is_set() else 1
        if exit_code:
            self._stop_reason = "the HTTP server stopped unexpectedly"
        return await self._stop(runtime, jobs, server, server_task, exit_code)

    def _warn_about_authentication(self, runtime: Runtime) -> None:
        """Warnings, never a refusal: test relays must stay usable. DNS is asked only for a relay
        on the network, in the background, so a slow resolver never delays the start."""
        settings = self.workspace.settings
        for warning in start_warnings(settings):
            log_event(_log, logging.WARNING, "deliverability.warning", detail=warning)
        host = urlsplit(settings.transport).hostname or ""
        if settings.transport.startswith("smtp") and host not in ("", "localhost", "127.0.0.1", "::1"):
            task = asyncio.create_task(asyncio.to_thread(self._dns_findings, runtime))
            self._signal_tasks.add(task)
            task.add_done_callback(self._signal_tasks.discard)

    def _dns_findings(self, runtime: Runtime) -> None:
        settings = self.workspace.settings
        try:
            findings = check_deliverability(
                settings, runtime.live.current.program, DnsPythonResolver(lifetime=3), self.workspace.root
            )
        except Exception as exc:  # a check must never take the daemon down
            log_event(_log, logging.WARNING, "deliverability.unchecked", error=error_text(exc))
            return
        for finding in findings:
            if finding.severity != "ok" and finding.check != "RFC 8058":  # that one is logged above
                log_event(
                    _log,
                    logging.WARNING,
                    "deliverability.warning",
                    detail=f"{finding.check}: {finding.message}",
                )

    # -- building -------------------------------------------------------------------------------

    def _build_server(self, runtime: Runtime) -> TrackingServer:

        settings = self.workspace.settings
        context = HttpContext.from_workspace(
            self.workspace,
            engine=runtime.db,
            clock=self.options.clock(),
            lifecycle=runtime.live.current.lifecycle,
            checks=runtime.health.checks(),
        )
        context.metrics = runtime.http_metrics
        context.details["held"] = lambda: [p.as_dict() for p in runtime.live.held]
        runtime.live.on_change.append(lambda version: setattr(context, "lifecycle", version.lifecycle))
        server = build_server(
            create_app(context),
            self.options.host or settings.http_host,
            self.options.port or settings.http_port,
            handle_signals=False,
            admin_bind=settings.metrics_bind,
        )
        adopt_library_loggers()  # uvicorn installed its own handlers: send its lines through ours
        return server

    def _build_scheduler(self, schedule: Schedule, jobs: JobRunner) -> AsyncIOScheduler:

        scheduler = AsyncIOScheduler(timezone=UTC)
        for job in schedule.jobs.values():
            if not job.enabled or (job.name == "bounces" and not self.workspace.settings.bounce_mailbox):
                continue
            scheduler.add_job(
                jobs.scheduled,
                job.build_trigger(self.workspace.settings.timezone),
                args=[job.name],
                id=job.name,
                name=job.name,
                misfire_grace_time=max(int(job.misfire_grace_time.total_seconds()), 1),
                coalesce=job.coalesce,
                max_instances=1,
                # Interval jobs run at once on start: after a restart, catch up without waiting.
                **({"next_run_time": datetime.now(UTC)} if job.trigger == "interval" else {}),
            )
            self._scheduled[job.name] = job
        scheduler.add_listener(jobs.on_scheduler_event, EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES)
        return scheduler

    def _scheduler_running(self) -> bool:
        return self.scheduler is not None and self.scheduler.running

    # -- signals and stopping -------------------------------------------------------------------

    def _install_signals(self) -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self.request_stop, "SIGTERM")
        loop.add_signal_handler(signal.SIGINT, self.request_stop, "SIGINT")
        loop.add_signal_handler(signal.SIGHUP, self.request_reload)

    def request_stop(self, reason: str = "requested") -> None:
        """Begin a graceful stop (a second request while stopping exits at once)."""
        if self._stop_requested.is_set():
            log_event(_log, logging.WARNING, "daemon.stop_now", reason=reason)
            _exit_now(1)
        self._stop_reason = reason
        self._stop_requested.set()

    def request_reload(self) -> None:
        """Reload definitions and templates now, whatever their modification times say."""
        runtime, jobs = self.runtime, self.jobs
        if runtime is None or jobs is None or self._stop_requested.is_set():
            return
        log_event(_log, logging.INFO, "definitions.reload_requested", signal="SIGHUP")
        systemd.reloading()

        async def reload_now() -> None:
            await jobs.execute("reload", lambda now: reload_program(runtime, now, force=True))
            systemd.notify("READY=1")

        task = asyncio.create_task(reload_now())
        self._signal_tasks.add(task)
        task.add_done_callback(self._signal_tasks.discard)

    async def _stop(
        self,
        runtime: Runtime,
        jobs: JobRunner,
        server: TrackingServer,
        server_task: asyncio.Task[Any],
        exit_code: int,
    ) -> int:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STOP_SECONDS
        busy = sorted(t.get_name() for t in jobs.running)
        log_event(_log, logging.INFO, "daemon.stopping", reason=self._stop_reason, jobs_running=len(busy))
        systemd.notify("STOPPING=1")
        runtime.health.stopping = True
        # The send job hands nothing more over and gives back at once every claim not on the wire.
        runtime.stopping.set()
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.pause()
        server.should_exit = True
        pending: set[asyncio.Task[Any]] = set(jobs.running) | set(self._signal_tasks)
        if pending:
            on_the_wire = min(ON_THE_WIRE_SECONDS, deadline - SERVER_STOP_SECONDS - loop.time())
            _, pending = await asyncio.wait(pending, timeout=max(on_the_wire, 0.1))
        if pending:
            # The relay's time is up: every send under way returns its verdict now, to be recorded.
            runtime.transport.interrupt()
            _, pending = await asyncio.wait(
                pending, timeout=max(deadline - SERVER_STOP_SECONDS - loop.time(), 0.1)
            )
        try:
            await asyncio.wait_for(asyncio.shield(server_task), timeout=max(deadline - loop.time(), 0.1))
        except Exception:
            server.force_exit = True
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        if pending:
            # Threads cannot be interrupted; their transactions roll back when the process ends.
            abandoned = sorted(t.get_name() for t in pending)
            log_event(_log, logging.WARNING, "daemon.stopped", abandoned=abandoned, exit_code=exit_code)
            _exit_now(exit_code)
        log_event(_log, logging.INFO, "daemon.stopped", exit_code=exit_code)
        return exit_code


class HttpServerFailed(NurtureError):
    """The HTTP server could not start (the port is taken, the app failed to start)."""


async def _serve_http(server: TrackingServer) -> None:
    try:
        await server.serve()
    except SystemExit:
        # uvicorn exits the process when it cannot listen; here the daemon decides what happens.
        raise HttpServerFailed("the HTTP server could not start") from None


async def _started(server: TrackingServer, task: asyncio.Task[Any]) -> bool:
    """Wait until the HTTP server listens (True) or gave up (False: port taken, startup failed)."""
    while not server.started:
        if task.done():
            with contextlib.suppress(Exception):
                task.result()
            return False
        await asyncio.sleep(0.02)
    return True


def _exit_now(code: int) -> None:
    for handler in logging.getLogger().handlers:
        with contextlib.suppress(Exception):
            handler.flush()
    os._exit(code)


def run_daemon(workspace: Workspace, options: DaemonOptions | None = None) -> int:
    """Run ``nurture run`` for ``workspace`` until stopped; the process's exit code."""
    return asyncio.run(Daemon(workspace, options).run())
