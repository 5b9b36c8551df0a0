"""The daemon's jobs: what each recurring run does, with ``now`` given by the runner.

Every job asks "what is due now?" and does it, so a skipped or failed run loses nothing: the
next run does its work. Database work runs in threads (``asyncio.to_thread``), never on the
event loop that also serves HTTP. Jobs that walk whole tables run once per cluster
(:mod:`nurture.daemon.locks`); due enrollments and messages are shared by every replica
through row claims.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import distinct, func, select
from sqlalchemy.engine import Engine

from nurture.clock import SystemClock
from nurture.daemon.bounce_inbox import read_bounce_inbox
from nurture.daemon.health import DaemonHealth
from nurture.daemon.locks import cluster_lock
from nurture.daemon.metrics import DaemonMetrics
from nurture.daemon.reload import LiveProgram, ProgramVersion
from nurture.delivery.mail_hosts import MailHosts
from nurture.delivery.throttle import Throttle
from nurture.delivery.transports import Transport
from nurture.durations import parse_duration
from nurture.engine.entry import EntryResult, enter_segment
from nurture.engine.tick import TickReport
from nurture.forms import expire_pending
from nurture.guards.audit import daemon_actor, record_audit
from nurture.guards.pauses import Pause, open_pauses
from nurture.predict.refresh import refresh_probabilities
from nurture.sales import deliver_webhooks, enforce_sla
from nurture.scoring.rescore import rescore as rescore_leads
from nurture.scoring.rules import take_scoring_failures
from nurture.scoring.version import model_version
from nurture.sending.factory import build_outbox, mail_hosts_from, throttle_from
from nurture.sending.outbox import Outbox
from nurture.store.cursors import move_cursor, read_cursor
from nurture.store.schema import messages, stage_changes
from nurture.workspace import Workspace

if TYPE_CHECKING:
    from nurture.delivery.bounce_mailbox import BounceMailbox
    from nurture.http import Metrics as HttpMetrics

SEGMENT_BATCH = 2_500
WEBHOOK_BATCH = 100
LOCKED = "another replica holds this job's lock"


@dataclass
class JobResult:
    """What one run did: ``fields`` for the log line; ``busy`` when it did anything worth an
    info-level line (quiet runs log at debug); ``skipped`` says why it did nothing."""

    fields: dict[str, Any] = field(default_factory=dict)
    busy: bool = False
    skipped: str | None = None


@dataclass
class Runtime:
    """Everything the jobs of one daemon share."""

    workspace: Workspace
    db: Engine
    live: LiveProgram
    transport: Transport
    metrics: DaemonMetrics
    http_metrics: HttpMetrics
    health: DaemonHealth
    stopping: threading.Event = field(default_factory=threading.Event)
    bounce_inbox: BounceMailbox | None = None  # when bounce_mailbox is set
    clock: Callable[[], datetime] = field(default=SystemClock().now)  # the outbox's leases
    _outbox: tuple[ProgramVersion, Outbox] | None = None
    # Kept across program reloads: a host slowed by a deferral stays slowed, MX answers stay cached.
    throttle: Throttle | None = None
    mail_hosts: MailHosts | None = None

    def warmup_today(self) -> tuple[int, int] | None:
        """The warm-up's (allowance, used) today as the sender last saw it; None without one."""
        return self._outbox[1].warmup_today if self._outbox is not None else None

    def outbox(self, version: ProgramVersion) -> Outbox:
        """The sender for a program version (templates and program are read when it is built)."""
        if self._outbox is None or self._outbox[0] is not version:
            settings = self.workspace.settings
            self.throttle = self.throttle or throttle_from(settings)
            self.mail_hosts = self.mail_hosts or mail_hosts_from(settings)
            outbox = build_outbox(
                self.db, version.program, self.workspace, self.transport, clock=self.clock,
                throttle=self.throttle, mail_hosts=self.mail_hosts,
            )  # fmt: skip
            outbox.stopping = self.stopping
            if outbox.guard is not None:
                trips = self.metrics.breaker_trips
                outbox.guard.on_trip.append(lambda key, trip: trips.labels(key, trip.reason).inc())
            self._outbox = (version, outbox)
        return self._outbox[1]


Job = Callable[[Runtime, datetime], Awaitable[JobResult]]


# -- campaigns ------------------------------------------------------------------------------------


async def advance(rt: Runtime, now: datetime) -> JobResult:
    """New leads and events enter campaigns (once per cluster), then due enrollments advance
    (shared by every replica: each claims its own batches)."""
    version = rt.live.current
    report = await asyncio.to_thread(_advance, rt, version, now)
    for campaign, count in report.entered.items():
        rt.metrics.entered.labels(campaign).inc(count)
    for (campaign, _step), count in report.queued.items():
        rt.metrics.queued.labels(campaign).inc(count)
    rt.metrics.steps.inc(report.steps_run)
    fields: dict[str, Any] = {
        "entered": sum(report.entered.values()),
        "advanced": report.enrollments_advanced,
        "queued": sum(report.queued.values()),
        "ended": sum(report.ended.values()),
        "deferred": sum(report.deferred.values()),
    }
    if report.problem_lines():
        fields["problems"] = report.problem_lines()[:20]
    return JobResult(fields, busy=any(fields.values()))


def _advance(rt: Runtime, version: ProgramVersion, now: datetime) -> TickReport:
    engine = version.engine
    engine.stopping = rt.stopping
    report = TickReport(now)
    with cluster_lock(rt.db, "entries") as held:
        if held:
            engine.enter(now, report)
    engine.advance_due(now, report)
    # Scoring rules that failed anywhere in this process since the last run (events, the API),
    # each once with its count.
    report.conditions.absorb(take_scoring_failures())
    return report


async def segments(rt: Runtime, now: datetime) -> JobResult:
    """Re-evaluate every segment campaign over all leads (one full pass per run)."""
    return await asyncio.to_thread(_segments, rt, rt.live.current, now)


def _segments(rt: Runtime, version: ProgramVersion, now: datetime) -> JobResult:
    chosen = [c for c in version.program.campaigns.values() if c.entry.on == "segment"]
    if not chosen:
        return JobResult()
    with cluster_lock(rt.db, "segments") as held:
        if not held:
            return JobResult(skipped=LOCKED)
        entry = EntryResult()
        for campaign in chosen:
            key = campaign.key
            # No rest between passes here: the job's trigger says how often a pass starts.
            while not rt.stopping.is_set():
                with rt.db.begin() as conn:
                    handled = enter_segment(
                        conn, campaign, version.engine.versions[key], now, SEGMENT_BATCH, timedelta(0), entry
                    )
                if handled < SEGMENT_BATCH:
                    break
    for campaign_key, count in entry.entered.items():
        rt.metrics.entered.labels(campaign_key).inc(count)
    fields: dict[str, Any] = {"campaigns": len(chosen), "entered": sum(entry.entered.values())}
    if entry.failed:
        fields["problems"] = entry.failed.lines()[:20]
    return JobResult(fields, busy=bool(fields["entered"] or entry.failed))


# -- sending --------------------------------------------------------------------------------------


async def send(rt: Runtime, now: datetime) -> JobResult:
    """Send every message due now, a window at a time, each verdict recorded as it is known."""
    report = await rt.outbox(rt.live.current).deliver_due(now)
    for status, count in report.outcomes.items():
        rt.metrics.verdicts.labels(status).inc(count)
    rt.metrics.unknown.inc(report.unknown)
    rt.health.sends_finished(report.outcomes["sent"], report.outcomes["retry"])
    fields: dict[str, Any] = dict(sorted(report.outcomes.items()))
    if report.unknown:
        fields["unknown_recovered"] = report.unknown
    if report.deferred:
        fields["deferred"] = report.deferred  # back in the queue: their mail host was at its limit
    if report.unknown or report.outcomes["unknown"]:
        fields["note"] = (
            "unknown: the relay may have these (on the wire when a sender stopped, or its answer to the "
            "whole message was lost); not sent again: nurture outbox unknown"
        )
    if report.problems:
        fields["problems"] = report.problems[:20]
    return JobResult(fields, busy=bool(fields))


# -- once per cluster -----------------------------------------------------------------------------


async def decay(rt: Runtime, now: datetime) -> JobResult:
    """Fade the stored behaviour scores of leads not rescored for a day."""
    return await asyncio.to_thread(_decay, rt, rt.live.current, now)


def _decay(rt: Runtime, version: ProgramVersion, now: datetime) -> JobResult:
    with cluster_lock(rt.db, "decay") as held:
        if not held:
            return JobResult(skipped=LOCKED)
        batches, after = 0, 0
        while not rt.stopping.is_set():
            with rt.db.begin() as conn:
                after = version.lifecycle.decay_scores(conn, now, after_id=after)
            if after == 0:
                break
            batches += 1
    return JobResult({"batches": batches}, busy=batches > 0)


async def rescore(rt: Runtime, now: datetime) -> JobResult:
    """After a reload brings a changed scoring model, rescore every lead under it, in batches."""
    return await asyncio.to_thread(_rescore, rt, rt.live.current, now)


RESCORE_BATCHES = 10  # per run: a pass over many leads spreads over runs, its place kept in a cursor


def _rescore(rt: Runtime, version: ProgramVersion, now: datetime) -> JobResult:
    model = version.program.scoring_model
    if model is None:
        return JobResult({"model": None})
    # One cursor per model version: where its pass stands, or DONE once every lead was reached.
    name = f"rescore:{model_version(model)}"
    with cluster_lock(rt.db, "rescore") as held:
        if not held:
            return JobResult(skipped=LOCKED)
        with rt.db.connect() as conn:
            after, _ = read_cursor(conn, name)
        if after == RESCORE_DONE:
            return JobResult({"model": name, "status": "done"})
        chain = version.lifecycle
        report = rescore_leads(
            rt.db, version.program, now, then=chain.scores_rose, default_zone=chain.sales.default_zone,
            after=after, max_batches=RESCORE_BATCHES,
        )  # fmt: skip
        with rt.db.begin() as conn:
            move_cursor(conn, name, RESCORE_DONE if report.complete else report.last_id, now)
            if report.complete:  # once per model, when its pass over every lead is done
                # A pass may span several runs: the figures are those of the run that finished it.
                last_run = {"leads": report.leads, "changed": report.changed, "new_mqls": report.new_mqls}
                detail = {"pass": "complete", "last_run": last_run}
                record_audit(conn, daemon_actor(), "rescore", f"model:{model_version(model)}", detail, now)
    fields = {"model": name, "leads": report.leads, "changed": report.changed, "new_mqls": report.new_mqls}
    return JobResult(fields, busy=report.changed > 0 or not report.complete)


RESCORE_DONE = 2**62


async def predict(rt: Runtime, now: datetime) -> JobResult:
    """Refresh every lead's conversion probability from the latest predictive model."""
    return await asyncio.to_thread(_predict, rt, rt.live.current, now)


def _predict(rt: Runtime, version: ProgramVersion, now: datetime) -> JobResult:
    with cluster_lock(rt.db, "predict") as held:
        if not held:
            return JobResult(skipped=LOCKED)
        refreshed = refresh_probabilities(rt.db, version.program, now)
    return JobResult({"leads": refreshed}, busy=refreshed > 0)


async def sla(rt: Runtime, now: datetime) -> JobResult:
    """Reassign or escalate every handoff whose acceptance deadline has passed; remind; digest."""
    return await asyncio.to_thread(_sla, rt, rt.live.current, now)


def _sla(rt: Runtime, version: ProgramVersion, now: datetime) -> JobResult:
    with cluster_lock(rt.db, "sla") as held:
        if not held:
            return JobResult(skipped=LOCKED)
        report = enforce_sla(rt.db, version.lifecycle.sales, now)
    rt.metrics.sla_breaches.labels("reassigned").inc(report.reassigned)
    rt.metrics.sla_breaches.labels("escalated").inc(report.escalated)
    fields: dict[str, Any] = {
        "reassigned": report.reassigned, "escalated": report.escalated, "reminded": report.reminded,
        "digests": report.digests,
    }  # fmt: skip
    if report.problems:
        fields["problems"] = report.problems[:20]
    return JobResult(
        fields, busy=bool(report.breaches or report.problems or report.reminded or report.digests)
    )


async def webhooks(rt: Runtime, now: datetime) -> JobResult:
    """POST the sales webhooks due now (retries are rescheduled by the webhook sender)."""
    return await asyncio.to_thread(_webhooks, rt, now)


def _webhooks(rt: Runtime, now: datetime) -> JobResult:
    totals: Counter[str] = Counter()
    errors: list[str] = []
    with cluster_lock(rt.db, "webhooks") as held:
        if not held:
            return JobResult(skipped=LOCKED)
        while not rt.stopping.is_set():
            report = deliver_webhooks(rt.db, now, limit=WEBHOOK_BATCH)
            handled = {"delivered": report.delivered, "retrying": report.retrying, "failed": report.failed}
            totals.update(handled)
            errors.extend(report.errors)
            if sum(handled.values()) < WEBHOOK_BATCH:
                break  # only a full batch means more may be due
    for outcome in ("delivered", "retrying", "failed"):
        rt.metrics.webhooks.labels(outcome).inc(totals[outcome])
    fields: dict[str, Any] = {name: totals[name] for name in ("delivered", "retrying", "failed")}
    if errors:
        fields["problems"] = errors[:20]
    return JobResult(fields, busy=any(totals.values()))


async def bounces(rt: Runtime, now: datetime) -> JobResult:
    """Read the bounce mailbox (Maildir or IMAP): hard bounces, complaints and repeated soft bounces
    suppress the address."""
    if rt.bounce_inbox is None:
        return JobResult(skipped="bounce_mailbox is not set")
    return await asyncio.to_thread(_bounces, rt, rt.live.current, now)


def _bounces(rt: Runtime, version: ProgramVersion, now: datetime) -> JobResult:
    assert rt.bounce_inbox is not None
    with cluster_lock(rt.db, "bounces") as held:
        if not held:
            return JobResult(skipped=LOCKED)
        limit = rt.workspace.settings.soft_bounce_limit
        tally = read_bounce_inbox(
            rt.db, rt.bounce_inbox, version.lifecycle, now, soft_bounce_limit=limit, stopping=rt.stopping
        )
    for kind, count in tally.items():
        rt.metrics.bounces.labels(kind).inc(count)
    rt.http_metrics.count_events(
        {("bounce", "human"): tally["hard"] + tally["soft"], ("complaint", "human"): tally["complaint"]}
    )
    return JobResult(dict(sorted(tally.items())), busy=bool(tally))


# -- this replica ---------------------------------------------------------------------------------


async def opt_ins(rt: Runtime, now: datetime) -> JobResult:
    """Record double opt-ins not confirmed within ``opt_in_expiry`` as expired."""
    return await asyncio.to_thread(_opt_ins, rt, now)


def _opt_ins(rt: Runtime, now: datetime) -> JobResult:
    with cluster_lock(rt.db, "opt_ins") as held:
        if not held:
            return JobResult(skipped=LOCKED)
        with rt.db.begin() as conn:
            expired = expire_pending(conn, now, parse_duration(rt.workspace.settings.opt_in_expiry))
    return JobResult({"expired": expired}, busy=expired > 0)


async def reload(rt: Runtime, now: datetime) -> JobResult:
    """Reload definitions and templates changed on disk (SIGHUP does the same at once)."""
    return await reload_program(rt, now, force=False)


async def reload_program(rt: Runtime, now: datetime, *, force: bool) -> JobResult:
    """Look at the files (``force``: reload whatever they say) and report what happened."""
    outcome = await asyncio.to_thread(rt.live.refresh, now, force=force)
    rt.metrics.definitions_stale.set(1 if rt.live.stale else 0)
    rt.metrics.definitions_held.set(len(rt.live.held))
    fields: dict[str, Any] = {"status": outcome.status, "program": rt.live.current.label}
    if outcome.status != "unchanged":
        rt.metrics.reloads.labels(outcome.status).inc()
    if outcome.changed:
        fields["campaigns_changed"] = list(outcome.changed)
    if outcome.problems:
        fields["problems"] = list(outcome.problems)
    if outcome.held:
        fields["held"] = list(outcome.held)
    if outcome.recorded:
        fields["recorded"] = True
    return JobResult(fields, busy=outcome.status != "unchanged" or outcome.recorded)


async def stats(rt: Runtime, now: datetime) -> JobResult:
    """Read the cluster's figures that ``/metrics`` shows as gauges."""
    mqls, due = await asyncio.to_thread(cluster_figures, rt.db, now)
    pauses = await asyncio.to_thread(_pauses, rt.db)
    rt.metrics.mqls.set(mqls)
    rt.metrics.outbox_due.set(due)
    rt.metrics.sending_paused.clear()
    for pause in pauses:
        rt.metrics.sending_paused.labels(pause.campaign_key, pause.reason).set(1)
    return JobResult({"mqls": mqls, "outbox_due": due, "paused": len(pauses)})


def _pauses(db: Engine) -> list[Pause]:
    with db.connect() as conn:
        pauses = open_pauses(conn)
        conn.rollback()
    return pauses


def cluster_figures(db: Engine, now: datetime) -> tuple[int, int]:
    """Leads ever moved to MQL (a lead recycled and qualified again counts once) and messages due."""
    with db.connect() as conn:
        mqls = (
            conn.scalar(
                select(func.count(distinct(stage_changes.c.lead_id))).where(stage_changes.c.to_stage == "mql")
            )
            or 0
        )
        due = (
            conn.scalar(
                select(func.count()).where(messages.c.status == "queued", messages.c.next_attempt_at <= now)
            )
            or 0
        )
        conn.rollback()
    return int(mqls), int(due)


JOBS: dict[str, Job] = {
    "advance": advance,
    "send": send,
    "segments": segments,
    "decay": decay,
    "rescore": rescore,
    "predict": predict,
    "sla": sla,
    "bounces": bounces,
    "webhooks": webhooks,
    "opt_ins": opt_ins,
    "reload": reload,
    "stats": stats,
}
