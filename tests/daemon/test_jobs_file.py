"""scheduler/jobs.yaml: built-in defaults, overrides, and mistakes reported with their place."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from nurture.daemon import BUILT_IN, ScheduleError, load_schedule
from nurture.daemon.jobs import JOBS
from nurture.workspace import Workspace

REPOSITORY = Path(__file__).resolve().parents[2]


def schedule_of(tmp_path: Path, text: str | None):  # type: ignore[no-untyped-def]
    if text is not None:
        (tmp_path / "scheduler").mkdir(exist_ok=True)
        (tmp_path / "scheduler" / "jobs.yaml").write_text(text, encoding="utf-8")
    return load_schedule(Workspace(tmp_path))


def problems_of(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ScheduleError) as caught:
        schedule_of(tmp_path, text)
    return [str(p) for p in caught.value.problems]


def test_a_workspace_without_the_file_runs_the_built_in_jobs(tmp_path: Path) -> None:
    schedule = schedule_of(tmp_path, None)
    assert schedule.source is None
    assert schedule.jobs == BUILT_IN
    assert set(BUILT_IN) == set(JOBS)  # every job has a schedule, every schedule a job


def test_the_repository_file_spells_out_exactly_the_built_in_defaults() -> None:
    schedule = load_schedule(Workspace(REPOSITORY))
    assert schedule.source == "scheduler/jobs.yaml"
    assert schedule.jobs == BUILT_IN


def test_an_empty_file_means_the_defaults(tmp_path: Path) -> None:
    assert schedule_of(tmp_path, "# nothing changed yet\n").jobs == BUILT_IN


def test_overrides_change_only_what_they_name(tmp_path: Path) -> None:
    schedule = schedule_of(
        tmp_path,
        "jobs:\n"
        "  send: {every: 5s}\n"
        "  decay: {trigger: cron, hour: 3, minute: 30, timezone: Europe/Berlin}\n"
        "  webhooks: {enabled: false, coalesce: false}\n"
        "  sla: {misfire_grace_time: 2m}\n"
        "  segments: {hour: '*/6', minute: 0}\n",
    )
    send = schedule.jobs["send"]
    assert (send.trigger, send.every, send.misfire_grace_time) == (
        "interval",
        timedelta(seconds=5),
        timedelta(seconds=15),
    )
    trigger = send.build_trigger("UTC")
    assert isinstance(trigger, IntervalTrigger) and trigger.interval == timedelta(seconds=5)

    decay = schedule.jobs["decay"]
    assert decay.cron == {"hour": 3, "minute": 30} and decay.timezone == "Europe/Berlin"
    cron = decay.build_trigger("UTC")
    assert isinstance(cron, CronTrigger) and str(cron.timezone) == "Europe/Berlin"

    assert not schedule.jobs["webhooks"].enabled and not schedule.jobs["webhooks"].coalesce
    assert schedule.jobs["sla"].misfire_grace_time == timedelta(minutes=2)
    assert schedule.jobs["sla"].every == BUILT_IN["sla"].every
    # Cron fields alone make a cron trigger; the built-in interval is replaced, not mixed in.
    segments = schedule.jobs["segments"]
    assert (segments.trigger, segments.every, segments.cron) == ("cron", None, {"hour": "*/6", "minute": 0})
    assert segments.once_per_cluster
    assert schedule.jobs["advance"] == BUILT_IN["advance"]


def test_cron_jobs_default_to_the_workspace_time_zone(tmp_path: Path) -> None:
    trigger = schedule_of(tmp_path, None).jobs["decay"].build_trigger("Europe/Berlin")
    assert isinstance(trigger, CronTrigger) and str(trigger.timezone) == "Europe/Berlin"


def test_bad_yaml_is_reported_with_its_place(tmp_path: Path) -> None:
    assert problems_of(tmp_path, "jobs:\n  send: {every: 5s\n") == [
        "scheduler/jobs.yaml:3:1: invalid YAML: expected ',' or '}', but got '<stream end>' "
        "(while parsing a flow mapping)"
    ]


def test_an_unknown_job_is_named_with_the_nearest_one(tmp_path: Path) -> None:
    (problem,) = problems_of(tmp_path, "jobs:\n  sned: {every: 5s}\n")
    assert problem.startswith("scheduler/jobs.yaml:2:3: unknown job 'sned'; did you mean 'send'?")


def test_a_bad_duration_is_reported_at_the_value(tmp_path: Path) -> None:
    assert problems_of(tmp_path, "jobs:\n  send:\n    every: 15x\n") == [
        "scheduler/jobs.yaml:3:12: jobs.send.every: '15x' is not a duration; write a whole number and a "
        "unit: 30s, 15m, 4h, 2d or 1w"
    ]


def test_every_mistake_is_reported_at_once(tmp_path: Path) -> None:
    problems = problems_of(
        tmp_path,
        "jobs:\n"
        "  advance:\n"
        "    every: 0s\n"
        "    max_instances: 2\n"
        "    colaesce: true\n"
        "  decay: {trigger: cron, minute: 70}\n"
        "  webhooks: {trigger: interval}\n"
        "  sla: {trigger: cron, every: 1m, hour: 2}\n"
        "  send: {every: 5s, timezone: Europe/Berlin}\n"
        "  stats: {trigger: hourly}\n",
    )
    assert problems == [
        "scheduler/jobs.yaml:3:12: jobs.advance.every: must be longer than 0s",
        "scheduler/jobs.yaml:4:20: jobs.advance.max_instances: must be 1: a job never overlaps itself in "
        "one process; run more replicas to share the work",
        "scheduler/jobs.yaml:5:5: unknown key 'colaesce'; did you mean 'coalesce'?",
        "scheduler/jobs.yaml:6:34: jobs.decay.minute: error validating expression '70': the last value (70) "
        "is higher than the maximum value (59)",
        "scheduler/jobs.yaml:7:14: job 'webhooks': `trigger: interval` needs `every:` (e.g. every: 15s)",
        "scheduler/jobs.yaml:8:24: `every:` belongs to interval triggers; a cron trigger takes minute, "
        "hour, ...",
        "scheduler/jobs.yaml:9:21: an interval trigger has no time zone; only cron triggers do",
        "scheduler/jobs.yaml:10:20: jobs.stats.trigger: 'hourly' is not one of 'interval' or 'cron'",
    ]


def test_the_file_holds_jobs_and_nothing_else(tmp_path: Path) -> None:
    assert problems_of(tmp_path, "job:\n  send: {every: 5s}\n") == [
        "scheduler/jobs.yaml:1:1: unknown key 'job'; did you mean 'jobs'?; the file holds `jobs:`"
    ]
    assert problems_of(tmp_path, "jobs: [send]\n") == [
        "scheduler/jobs.yaml:1:7: `jobs:` is a mapping from job name to its settings, "
        "e.g. `send: {every: 15s}`"
    ]
    assert problems_of(tmp_path, "jobs:\n  send: {every: 5s}\n  send: {every: 6s}\n") == [
        "scheduler/jobs.yaml:3:3: duplicate key 'send' (first written at line 2)"
    ]


def test_nurture_run_refuses_to_start_with_a_bad_jobs_file(tmp_path: Path) -> None:
    (tmp_path / "campaigns").mkdir()
    (tmp_path / "scheduler").mkdir()
    (tmp_path / "scheduler" / "jobs.yaml").write_text("jobs:\n  send: {every: soon}\n", encoding="utf-8")
    env = {**os.environ, "NURTURE_WORKSPACE": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "nurture", "run"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    assert "scheduler/jobs.yaml:2:17: jobs.send.every: 'soon' is not a duration" in done.stderr
    shown = subprocess.run(
        [sys.executable, "-m", "nurture", "run", "--show-jobs"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 1
    assert "scheduler/jobs.yaml:2:17:" in shown.stderr


def test_show_jobs_prints_the_schedule_in_force(tmp_path: Path) -> None:
    (tmp_path / "campaigns").mkdir()
    (tmp_path / "scheduler").mkdir()
    (tmp_path / "scheduler" / "jobs.yaml").write_text("jobs:\n  send: {every: 5s}\n", encoding="utf-8")
    env = {**os.environ, "NURTURE_WORKSPACE": str(tmp_path)}
    shown = subprocess.run(
        [sys.executable, "-m", "nurture", "run", "--show-jobs"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0] == "jobs from scheduler/jobs.yaml"
    assert any(line.split()[:3] == ["send", "every", "5s"] for line in lines)
    assert any("once per cluster" in line and line.split()[0] == "sla" for line in lines)
