"""One tick: everything due at one moment, done once (``nurture tick``, and the daemon's jobs)."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, or_, select
from sqlalchemy.engine import Engine

from nurture.definitions import Campaign, Program, content_hash, place_after_edit, record_versions
from nurture.definitions.condition_failures import ConditionFailures
from nurture.durations import parse_duration
from nurture.engine import enrollments as store
from nurture.engine.engagement import BatchEngagement
from nurture.engine.entry import EntryResult, enter_from_events, enter_new_leads, enter_segment
from nurture.engine.pacing import SendPacing, recent_by_lead
from nurture.engine.plan import AddPoints, Finish, Park, Send, SetFields, advance
from nurture.engine.variants import VariantChoice
from nurture.facts import WhatFollows
from nurture.guards.audit import current_actor
from nurture.guards.consent import consent_settings, record_refused_sends, screen_sends
from nurture.guards.deploys import record_deployments
from nurture.leads.changes import change_lead
from nurture.scoring.ledger import add_points
from nurture.scoring.rules import take_scoring_failures
from nurture.settings import Settings
from nurture.store.schema import definition_versions, enrollments

BATCH_SIZE = 500
MAX_BATCHES_PER_TICK = 2_000  # a tick ends even if work keeps arriving; the next one continues
SEGMENT_INTERVAL = timedelta(hours=1)


@dataclass
class TickReport:
    now: datetime
    entered: Counter[str] = field(default_factory=Counter)
    queued: Counter[tuple[str, str]] = field(default_factory=Counter)
    deferred: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)  # sends not queued: no consent, topic
    ended: Counter[tuple[str, str]] = field(default_factory=Counter)  # (status, reason)
    steps_run: int = 0
    enrollments_advanced: int = 0
    problems: list[str] = field(default_factory=list)
    conditions: ConditionFailures = field(default_factory=ConditionFailures)
    extra: dict[str, Any] = field(default_factory=dict)

    def absorb(self, entry: EntryResult) -> None:
        self.entered.update(entry.entered)
        self.conditions.absorb(entry.failed)

    def problem_lines(self) -> list[str]:
        """Problems, a condition that failed counted once with how many leads it failed for."""
        return [*self.conditions.lines(), *self.problems]

    def lines(self) -> list[str]:
        """The summary ``nurture tick`` prints."""
        out = [f"tick at {self.now.isoformat()}"]
        for key, count in sorted(self.entered.items()):
            out.append(f"  entered   {key}: {count}")
        for (key, step), count in sorted(self.queued.items()):
            out.append(f"  queued    {key}/{step}: {count}")
        for reason, count in sorted(self.deferred.items()):
            out.append(f"  deferred  ({reason}): {count}")
        for reason, count in sorted(self.refused.items()):
            out.append(f"  suppressed: {reason}: {count}")
        for (status, reason), count in sorted(self.ended.items()):
            out.append(f"  {status:<9} {reason}: {count}")
        for name, value in self.extra.items():
            out.append(f"  {name}: {value}")
        problems = self.problem_lines()
        out.extend(f"  problem   {p}" for p in problems[:50])
        if len(problems) > 50:
            out.append(f"  ... and {len(problems) - 50} more problems")
        if len(out) == 1:
            out.append("  nothing was due")
        return out


class CampaignEngine:
    """Runs a program's campaigns against the database, at whatever time it is told."""

    def __init__(
        self,
        db: Engine,
        program: Program,
        settings: Settings,
        *,
        then: WhatFollows,
        batch_size: int = BATCH_SIZE,
        stopping: threading.Event | None = None,
        force_variant: str | None = None,
    ):
        self.db = db
        self.program = program
        self.settings = settings
        self.then = then  # what follows a ``set`` or ``score`` step: fit points, the MQL rule, routing
        self.batch_size = batch_size
        self.campaigns = program.campaigns
        self.versions = {key: content_hash(c) for key, c in self.campaigns.items()}
        self.topics = {key: c.topic for key, c in self.campaigns.items()}
        self.consent_settings = consent_settings(settings, program)  # double opt-in needs consent
        self.cap_window = parse_duration(settings.frequency_window)
        self.message_domain = _domain_of(settings.from_address)
        self._old_versions: dict[str, Campaign | None] = {}
        self.variants = VariantChoice(force=force_variant)
        # Set by a daemon that is shutting down: work stops between batches, never inside one.
        self.stopping = stopping or threading.Event()
        scoring = program.scoring_model
        self.half_life = scoring.decay.half_life if scoring is not None and scoring.decay else None

    def record_program(self, now: datetime, actor: str | None = None) -> None:
        """Keep every definition's version, and bring leads inside edited campaigns up to date.

        Enrollments made under another version of their campaign (or of a campaign that is gone)
        become due now: the next advance places them in the new version by step id. Each campaign
        version that goes live is audited as a deploy by ``actor`` (default: the OS user).
        """
        e = enrollments.c
        with self.db.begin() as conn:
            record_versions(conn, self.program, now)
            record_deployments(conn, self.versions, current_actor(actor), now)
            stale = or_(
                e.campaign_key.not_in(list(self.versions)),
                *[and_(e.campaign_key == key, e.campaign_version != v) for key, v in self.versions.items()],
            )
            conn.execute(
                enrollments.update().where(e.status == "active", e.due_at > now, stale).values(due_at=now)
            )

    def tick(self, now: datetime) -> TickReport:
        """Everything due at ``now``: new leads and events enter, segments are looked at (when
        their interval has passed), due enrollments advance."""
        report = TickReport(now)
        self.enter(now, report)
        self.enter_segments(now, report)
        self.advance_due(now, report)
        report.conditions.absorb(take_scoring_failures())
        return report

    # -- entry -------------------------------------------------------------------------------

    def enter(self, now: datetime, report: TickReport) -> None:
        """New leads and new events enter the campaigns that wait for them."""
        entry = EntryResult()
        for feed in (enter_new_leads, enter_from_events):
            while not self.stopping.is_set():
                with self.db.begin() as conn:
                    if not feed(conn, self.program, self.versions, now, self.batch_size, entry):
                        break
        report.absorb(entry)

    def enter_segments(
        self, now: datetime, report: TickReport, interval: timedelta = SEGMENT_INTERVAL
    ) -> None:
        """Segment campaigns look at the next stretch of leads, a pass every ``interval``."""
        entry = EntryResult()
        for campaign in self.campaigns.values():
            if campaign.entry.on == "segment":
                with self.db.begin() as conn:
                    enter_segment(
                        conn, campaign, self.versions[campaign.key], now, 5 * self.batch_size,
                        interval, entry,
                    )  # fmt: skip
        report.absorb(entry)

    # -- stepping ----------------------------------------------------------------------------

    def advance_due(self, now: datetime, report: TickReport) -> None:
        """Due enrollments advance, batch after batch, until none is due (or a stop is asked)."""
        for _ in range(MAX_BATCHES_PER_TICK):
            if self.stopping.is_set():
                return
            with self.db.begin() as conn:
                claimed = store.claim_due(conn, now, self.batch_size)
                if not claimed:
                    return
                self.variants.refresh(conn)
                self._advance_batch(conn, claimed, now, report)

    def _advance_batch(
        self, conn: Connection, claimed: list[store.DueEnrollment], now: datetime, report: TickReport
    ) -> None:
        lead_rows = store.load_leads(conn, (d.lead_id for d in claimed))
        blocked = store.suppressed(conn, (lead["email"] for lead in lead_rows.values()))
        since = now - self.cap_window
        pacing = SendPacing(
            now,
            self.settings.timezone,
            self.settings.frequency_cap,
            self.cap_window,
            recent_by_lead(store.recent_sends(conn, list(lead_rows), since)),
        )
        engagement = BatchEngagement(conn, [d.id for d in claimed])
        sends: list[store.QueuedSend] = []
        outcomes: list[tuple[store.DueEnrollment, Park | Finish]] = []
        touched: set[int] = set()  # leads whose fields or points a step changed
        for due in claimed:
            lead = lead_rows[due.lead_id]
            outcome: Park | Finish | None = self._precheck(due, lead, blocked)
            if outcome is None:
                campaign = self.campaigns[due.campaign_key]
                step_id, started = self._position(conn, due, campaign, now)
                if step_id is None:
                    outcome = Finish("completed", "campaign edited: no later step remains")
                else:
                    plan = advance(
                        campaign, step_id, started, lead, now,
                        engagement=engagement.for_enrollment(due.id, campaign), gate=pacing,
                    )  # fmt: skip
                    report.steps_run += plan.steps_run
                    self._apply_effects(conn, due, lead, plan.effects, now, sends, report)
                    if any(isinstance(e, AddPoints | SetFields) for e in plan.effects):
                        touched.add(due.lead_id)
                    outcome = plan.outcome
            assert outcome is not None
            outcomes.append((due, outcome))
            self._count(report, due.campaign_key, outcome, lead["email"])
        sends, left = _marketing_left(sends, lead_rows, blocked)
        sends, refused = screen_sends(conn, sends, self.topics, self.consent_settings)
        refused = [*left, *refused]
        if refused:
            record_refused_sends(conn, refused, now, self.message_domain)
            for _, why in refused:
                report.refused[why] += 1
        store.queue_sends(conn, sends, now, self.message_domain)
        store.record_outcomes(conn, outcomes, now, self.versions)
        if touched:
            # After the outcomes: an MQL decided here may end the very enrollments just parked.
            self.then.leads_changed(conn, sorted(touched), now)
        report.enrollments_advanced += len(claimed)

    def _precheck(
        self, due: store.DueEnrollment, lead: dict[str, Any], blocked: dict[str, str]
    ) -> Finish | None:
        campaign = self.campaigns.get(due.campaign_key)
        # A campaign with transactional emails goes on for a lead who left marketing mail: those
        # emails still go, its marketing ones are kept back one by one (``_marketing_left``).
        kind = "transactional" if campaign is not None and campaign.sends_transactional else "marketing"
        if lead["unsubscribed"] and kind == "marketing":
            return Finish("exited", "unsubscribed")
        reason = blocked.get(lead["email"])
        if reason is not None and store.stops(reason, kind):
            return Finish("exited", f"suppressed ({reason})")
        if campaign is None:
            return Finish("exited", "campaign removed from the program")
        return None

    def _position(
        self, conn: Connection, due: store.DueEnrollment, campaign: Campaign, now: datetime
    ) -> tuple[str | None, datetime]:
        """Where the lead stands in the campaign as it is now (live edits are matched by step id)."""
        if due.campaign_version == self.versions[campaign.key] and campaign.has_step(due.step_id):
            return due.step_id, due.step_started_at
        old = self._old_version(conn, due.campaign_version)
        if old is None:  # version unknown: keep the step if it still exists, else start over
            return (
                (due.step_id, due.step_started_at)
                if campaign.has_step(due.step_id)
                else (campaign.steps[0].step_id, now)
            )
        placement = place_after_edit(old, campaign, due.step_id, due.step_started_at, now)
        return placement.step_id, placement.started_at or now

    def _old_version(self, conn: Connection, version: str) -> Campaign | None:
        if version not in self._old_versions:
            body = conn.scalar(
                select(definition_versions.c.body).where(
                    definition_versions.c.kind == "Campaign",
                    definition_versions.c.content_hash == version,
                )
            )
            try:
                self._old_versions[version] = Campaign.model_validate(body) if body else None
            except ValueError:
                self._old_versions[version] = None
        return self._old_versions[version]

    def _apply_effects(
        self,
        conn: Connection,
        due: store.DueEnrollment,
        lead: dict[str, Any],
        effects: list[Any],
        now: datetime,
        sends: list[store.QueuedSend],
        report: TickReport,
    ) -> None:
        actor = f"campaign:{due.campaign_key}"
        for effect in effects:
            if isinstance(effect, Send):
                variant, source = self.variants.choose(due.campaign_key, effect.step, due.lead_id)
                kind = self.campaigns[due.campaign_key].mail_kind(effect.step)
                step_id = effect.step.step_id
                sends.append(
                    store.QueuedSend(
                        due.lead_id, due.id, due.campaign_key, step_id, lead["email"], kind, variant, source
                    )
                )
                report.queued[(due.campaign_key, effect.step.step_id)] += 1
            elif isinstance(effect, AddPoints):
                add_points(
                    conn, due.lead_id, effect.points, kind="campaign", rule=f"{actor}/{effect.step_id}",
                    reason=effect.reason, at=now, half_life=self.half_life,
                )  # fmt: skip
            elif isinstance(effect, SetFields):
                change_lead(
                    conn, due.lead_id, effect.values, at=now, actor=actor, reason=f"step {effect.step_id}"
                )

    @staticmethod
    def _count(report: TickReport, campaign_key: str, outcome: Park | Finish, email: str) -> None:
        if isinstance(outcome, Park):
            if outcome.reason != "waiting":
                report.deferred[outcome.reason] += 1
        elif outcome.condition_error is not None:
            report.ended[(outcome.status, f"{campaign_key}: a condition failed")] += 1
            report.conditions.add(outcome.condition_error, email)
        else:
            report.ended[(outcome.status, f"{campaign_key}: {outcome.reason}")] += 1


def _marketing_left(
    sends: list[store.QueuedSend], lead_rows: dict[int, dict[str, Any]], blocked: dict[str, str]
) -> tuple[list[store.QueuedSend], list[tuple[store.QueuedSend, str]]]:
    """The marketing emails of leads who left all marketing mail, kept back (they reach a send step
    only in a campaign that also sends transactional mail, which goes on for them)."""
    kept: list[store.QueuedSend] = []
    left: list[tuple[store.QueuedSend, str]] = []
    for send in sends:
        lead = lead_rows[send.lead_id]
        gone = lead["unsubscribed"] or send.to_address in blocked
        if send.kind == "marketing" and gone:
            left.append((send, "unsubscribed"))
        else:
            kept.append(send)
    return kept, left


def _domain_of(address: str) -> str:
    domain = address.rpartition("@")[2].strip(" >")
    return domain or "nurture.invalid"
