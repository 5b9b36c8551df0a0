"""The daemon behind ``nurture run``: recurring jobs on an asyncio scheduler, next to the HTTP server.

* :func:`load_schedule` reads the jobs and their triggers (built-in defaults, changed by
  ``scheduler/jobs.yaml``); :class:`ScheduleError` lists every mistake as ``file:line:col``.
* :func:`run_daemon` runs the service until SIGTERM (SIGHUP reloads definitions).
* :func:`cluster_lock` keeps a job to one replica at a time on PostgreSQL.
* :func:`configure_logging` sets up one-line structured logs with secrets redacted.
"""

from nurture.daemon.locks import cluster_lock, lock_key
from nurture.daemon.logs import Redactor, configure_logging, settings_secrets
from nurture.daemon.runner import Daemon, DaemonOptions, run_daemon
from nurture.daemon.schedule import BUILT_IN, JOBS_FILE, Schedule, ScheduledJob, ScheduleError, load_schedule

__all__ = [
    "BUILT_IN",
    "JOBS_FILE",
    "Daemon",
    "DaemonOptions",
    "Redactor",
    "Schedule",
    "ScheduleError",
    "ScheduledJob",
    "cluster_lock",
    "configure_logging",
    "load_schedule",
    "lock_key",
    "run_daemon",
    "settings_secrets",
]
