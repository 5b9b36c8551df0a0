"""The daemon's recurring jobs and their triggers: built-in defaults, overridden by
``scheduler/jobs.yaml``.

Every job has a built-in schedule, so a workspace without the file runs them all. The file only
needs the jobs it changes, and of those only the keys it changes::

    jobs:
      send: {every: 5s}                       # interval trigger
      decay: {trigger: cron, hour: 3, minute: 30, timezone: Europe/Berlin}
      webhooks: {enabled: false}

Mistakes are reported as ``scheduler/jobs.yaml:line:col: message``, all at once, like ``nurture
check`` does for definitions. The file is read with the definitions' own strict YAML reader.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, timedelta
from typing import Any, Literal

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from pydantic import ValidationError, ValidationInfo, field_validator

from nurture.definitions.fields import DefinitionModel
from nurture.definitions.problems import DefinitionError, Problem, did_you_mean, one_of
from nurture.definitions.source import Document, read_documents
from nurture.definitions.validation import explain
from nurture.durations import format_duration, parse_duration
from nurture.errors import NurtureError
from nurture.workspace import Workspace
from nurture.zones import zone

JOBS_FILE = "scheduler/jobs.yaml"
CRON_FIELDS = ("second", "minute", "hour", "day", "month", "day_of_week")
TriggerKind = Literal["interval", "cron"]


@dataclass(frozen=True)
class ScheduledJob:
    """One recurring job as the scheduler will run it."""

    name: str
    summary: str
    trigger: TriggerKind
    every: timedelta | None = None
    cron: dict[str, str | int] = field(default_factory=dict)
    timezone: str | None = None  # cron only; default: the workspace's `timezone` setting
    misfire_grace_time: timedelta = timedelta(seconds=30)
    coalesce: bool = True
    enabled: bool = True
    once_per_cluster: bool = False

    def build_trigger(self, default_timezone: str) -> BaseTrigger:
        """The APScheduler trigger for this job."""
        if self.trigger == "interval":
            assert self.every is not None
            return IntervalTrigger(seconds=self.every.total_seconds(), timezone=UTC)
        return CronTrigger(timezone=zone(self.timezone or default_timezone), **self.cron)

    def describe(self) -> str:
        """``every 15s`` or ``cron minute=20 (Europe/Berlin)``, for logs and ``--show-jobs``."""
        if self.trigger == "interval":
            assert self.every is not None
            when = f"every {format_duration(self.every)}"
        else:
            fields = " ".join(f"{k}={v}" for k, v in self.cron.items())
            when = f"cron {fields}" + (f" ({self.timezone})" if self.timezone else "")
        return when


def _every(name: str, every: str, grace: str, summary: str, *, once: bool = False) -> ScheduledJob:
    return ScheduledJob(
        name, summary, "interval", every=parse_duration(every),
        misfire_grace_time=parse_duration(grace), once_per_cluster=once,
    )  # fmt: skip


# The built-in schedule; scheduler/jobs.yaml in the repository spells out the same values.
BUILT_IN: dict[str, ScheduledJob] = {
    job.name: job
    for job in (
        _every("advance", "15s", "15s", "enter new leads and events, then run every due campaign step"),
        _every("send", "15s", "15s", "send the emails the outbox holds"),
        _every("segments", "15m", "5m", "re-evaluate segment campaigns over all leads", once=True),
        ScheduledJob(
            "decay",
            "fade behaviour scores of quiet leads",
            "cron",
            cron={"minute": 20},
            misfire_grace_time=timedelta(minutes=30),
            once_per_cluster=True,
        ),
        _every("rescore", "1m", "1m", "rescore every lead after the scoring model changed", once=True),
        ScheduledJob(
            "predict",
            "refresh each lead's conversion probability (after `nurture score train`)",
            "cron",
            cron={"minute": 40},
            misfire_grace_time=timedelta(minutes=30),
            once_per_cluster=True,
        ),
        _every(
            "sla",
            "1m",
            "1m",
            "reassign or escalate handoffs not accepted in time; reminders; the daily digest",
            once=True,
        ),
        _every("bounces", "1m", "1m", "read the bounce mailbox (when bounce_mailbox is set)", once=True),
        _every("webhooks", "30s", "30s", "deliver queued sales webhooks", once=True),
        _every("opt_ins", "1h", "1h", "record double opt-ins not confirmed in time as expired", once=True),
        _every("reload", "10s", "10s", "reload definitions and templates changed on disk"),
        _every("stats", "1m", "1m", "refresh the figures /metrics reads from the database"),
    )
}


class ScheduleError(NurtureError):
    """``scheduler/jobs.yaml`` has mistakes; every one is listed as ``file:line:col: message``."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = tuple(sorted(problems, key=lambda p: p.sort_key))
        count = f"{len(self.problems)} error{'s' if len(self.problems) != 1 else ''}"
        super().__init__(f"{JOBS_FILE} has {count}:\n" + "\n".join(str(p) for p in self.problems))


class JobSettings(DefinitionModel):
    """What ``scheduler/jobs.yaml`` may say about one job (every key optional)."""

    trigger: TriggerKind | None = None
    every: timedelta | None = None
    second: str | int | None = None
    minute: str | int | None = None
    hour: str | int | None = None
    day: str | int | None = None
    month: str | int | None = None
    day_of_week: str | int | None = None
    timezone: str | None = None
    misfire_grace_time: timedelta | None = None
    coalesce: bool | None = None
    max_instances: int | None = None
    enabled: bool | None = None

    @field_validator("every", "misfire_grace_time", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> timedelta | None:
        if value is None:
            return None
        duration = parse_duration(value)
        if duration <= timedelta(0):
            raise ValueError("must be longer than 0s")
        return duration

    @field_validator(*CRON_FIELDS, mode="after")
    @classmethod
    def _cron_field(cls, value: str | int | None, info: ValidationInfo) -> str | int | None:
        if value is not None and info.field_name:
            CronTrigger(timezone=UTC, **{info.field_name: value})  # raises ValueError with the reason
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is not None:
            zone(value)
        return value

    @field_validator("max_instances")
    @classmethod
    def _one_instance(cls, value: int | None) -> int | None:
        if value is not None and value != 1:
            raise ValueError(
                "must be 1: a job never overlaps itself in one process; run more replicas to share the work"
            )
        return value


@dataclass(frozen=True)
class Schedule:
    """Every job with its trigger and policies, and the file it was read from (None: defaults)."""

    jobs: dict[str, ScheduledJob]
    source: str | None = None

    def lines(self) -> list[str]:
        """A table of the schedule, for ``nurture run --show-jobs``."""
        out = [f"jobs from {self.source or 'the built-in defaults'}"]
        for job in self.jobs.values():
            state = "" if job.enabled else "  (disabled)"
            scope = "once per cluster" if job.once_per_cluster else "every replica"
            out.append(
                f"  {job.name:<9} {job.describe():<22} misfire {format_duration(job.misfire_grace_time):<4} "
                f"coalesce {'yes' if job.coalesce else 'no ':<3}  {scope:<16} {job.summary}{state}"
            )
        return out


def load_schedule(workspace: Workspace) -> Schedule:
    """The workspace's schedule: the built-in one, changed by ``scheduler/jobs.yaml`` if present."""
    path = workspace.jobs_file
    if not path.exists():
        return Schedule(dict(BUILT_IN))
    try:
        documents = read_documents(path, display=JOBS_FILE)
    except DefinitionError as exc:
        raise ScheduleError([exc.as_problem()]) from None
    return Schedule(parse_schedule(documents), source=JOBS_FILE)


def parse_schedule(documents: list[Document]) -> dict[str, ScheduledJob]:
    """The schedule ``documents`` (one YAML document) describe; ScheduleError lists every mistake."""
    problems = [
        Problem("error", extra.location, "the jobs file holds one document; remove the `---`")
        for extra in documents[1:]
    ]
    document = documents[0] if documents else None
    jobs = dict(BUILT_IN)
    if document is not None and document.data is not None:
        for name, given in _job_settings(document, problems).items():
            jobs[name] = _apply(BUILT_IN[name], given, document, problems)
    if problems:
        raise ScheduleError(problems)
    return jobs


def _job_settings(document: Document, problems: list[Problem]) -> dict[str, JobSettings]:
    """Each job's settings as written, validated job by job so one mistake hides no other."""
    data = document.data
    if not isinstance(data, dict):
        problems.append(Problem("error", document.location, "expected a mapping that starts with `jobs:`"))
        return {}
    for key in data:
        if key != "jobs":
            message = f"unknown key {key!r}{did_you_mean(str(key), ['jobs'])}; the file holds `jobs:`"
            problems.append(Problem("error", document.locate_key((key,)), message))
    written = data.get("jobs")
    if written is None:
        return {}
    if not isinstance(written, dict):
        message = "`jobs:` is a mapping from job name to its settings, e.g. `send: {every: 15s}`"
        problems.append(Problem("error", document.locate(("jobs",)), message))
        return {}
    found: dict[str, JobSettings] = {}
    for name, value in written.items():
        if name not in BUILT_IN:
            message = f"unknown job {name!r}{did_you_mean(str(name), BUILT_IN)} (jobs: {one_of(BUILT_IN)})"
            problems.append(Problem("error", document.locate_key(("jobs", name)), message))
            continue
        settings = _validate_job(name, value if value is not None else {}, document, problems)
        if settings is not None:
            found[name] = settings
    return found


def _validate_job(name: str, value: Any, document: Document, problems: list[Problem]) -> JobSettings | None:
    try:
        return JobSettings.model_validate(value)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
    for error in errors:
        located = explain({**error, "loc": ("jobs", name, *error["loc"])}, document)
        if located not in problems:
            problems.append(located)
    unknown = {(e.get("ctx") or {}).get("key") for e in errors if e["type"] == "unknown_key"}
    if isinstance(value, dict) and unknown:
        # Unknown keys stop validation early; look again without them for the other mistakes.
        _validate_job(name, {k: v for k, v in value.items() if k not in unknown}, document, problems)
    return None


def _apply(
    base: ScheduledJob, given: JobSettings, document: Document, problems: list[Problem]
) -> ScheduledJob:
    """The built-in job with the file's changes; a trigger given in the file replaces the built-in
    one whole (cron fields are never mixed with the built-in ones)."""

    def problem(key: str, message: str) -> None:
        problems.append(Problem("error", document.locate_key(("jobs", base.name, key)), message))

    job = _with_trigger(base, given, problem)
    if given.misfire_grace_time is not None:
        job = replace(job, misfire_grace_time=given.misfire_grace_time)
    if given.coalesce is not None:
        job = replace(job, coalesce=given.coalesce)
    if given.enabled is not None:
        job = replace(job, enabled=given.enabled)
    return job


def _with_trigger(
    base: ScheduledJob, given: JobSettings, problem: Callable[[str, str], None]
) -> ScheduledJob:
    cron = {name: getattr(given, name) for name in CRON_FIELDS if getattr(given, name) is not None}
    trigger = given.trigger or ("cron" if cron else "interval" if given.every else None)
    if trigger == "interval":
        for name in cron:
            problem(name, f"{name!r} belongs to cron triggers; an interval trigger takes `every:`")
        if given.timezone is not None:
            problem("timezone", "an interval trigger has no time zone; only cron triggers do")
        if given.every is None:
            problem("trigger", f"job {base.name!r}: `trigger: interval` needs `every:` (e.g. every: 15s)")
        return replace(base, trigger="interval", every=given.every, cron={}, timezone=None)
    if trigger == "cron":
        if given.every is not None:
            problem("every", "`every:` belongs to interval triggers; a cron trigger takes minute, hour, ...")
        if not cron:
            needs = f"job {base.name!r}: `trigger: cron` needs at least one of {one_of(CRON_FIELDS)}"
            problem("trigger", needs)
        return replace(base, trigger="cron", every=None, cron=cron, timezone=given.timezone)
    if given.timezone is not None:
        if base.trigger != "cron":
            problem("timezone", "an interval trigger has no time zone; only cron triggers do")
        return replace(base, timezone=given.timezone)
    return base
