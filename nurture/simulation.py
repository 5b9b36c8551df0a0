"""Running a program on a simulated clock: days in seconds, in a scratch database.

The simulation uses the real engine, the real outbox sender, the real event recording (scoring,
MQL, routing) and the real SLA timers, so what it shows is what the daemon would do; only the clock
is moved by hand and messages go to the transport it is given (in memory for ``nurture simulate``,
a Maildir for ``nurture demo``). An optional engagement model opens and clicks some emails and
visits the website, so branches, waits and scoring have something to react to; an optional sales
model has reps accept, reject or miss the leads they are handed.
"""

from __future__ import annotations

import asyncio
import heapq
import random
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine

from nurture.delivery.transports import MemoryTransport, Transport
from nurture.engagement.record import record_events
from nurture.engine.tick import CampaignEngine
from nurture.guards.consent import ConsentScreen, consent_settings
from nurture.lifecycle import Lifecycle
from nurture.sales.actions import SalesActionError, accept, reject
from nurture.sales.sla import enforce_sla
from nurture.sending.compose import Composer
from nurture.sending.outbox import Outbox
from nurture.settings import Settings
from nurture.simulation_events import PlannedEvent
from nurture.store.engine import create_store_engine
from nurture.store.migrate import upgrade
from nurture.store.schema import (
    CAMPAIGN_MAIL,
    consents,
    handoffs,
    leads,
    messages,
    stage_changes,
    suppressions,
    topic_suppressions,
)
from nurture.tokens import TokenSigner


@dataclass(frozen=True)
class EngagementModel:
    """How simulated readers behave: the share who open, of those the share who click, and of the
    clickers the share who look at prices or ask for a demo."""

    open_rate: float = 0.45
    click_rate: float = 0.3
    pricing_rate: float = 0.35
    demo_rate: float = 0.12
    seed: int = 1

    def with_seed(self, seed: int) -> EngagementModel:
        return replace(self, seed=seed)


@dataclass(frozen=True)
class SalesModel:
    """How simulated reps answer: most accept, some reject, some let the SLA run out."""

    accept_rate: float = 0.7
    reject_rate: float = 0.15
    fastest: timedelta = timedelta(minutes=20)
    slowest: timedelta = timedelta(hours=9)


@dataclass(frozen=True)
class SimulatedSend:
    at: datetime
    email: str
    campaign: str
    step: str
    subject: str
    variant: str | None = None


@dataclass(frozen=True)
class SimulatedMoment:
    """Something other than a send on the timeline: a planned event, a stage change, a handoff."""

    at: datetime
    email: str
    what: str  # event | stage | handoff
    detail: str


@dataclass
class SimulationResult:
    sends: list[SimulatedSend] = field(default_factory=list)
    moments: list[SimulatedMoment] = field(default_factory=list)
    stages: Counter[str] = field(default_factory=Counter)  # leads reaching each stage
    handoffs: int = 0
    entered: Counter[str] = field(default_factory=Counter)
    ended: Counter[tuple[str, str]] = field(default_factory=Counter)
    deferred: Counter[str] = field(default_factory=Counter)
    engagement: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    sales_answers: Counter[str] = field(default_factory=Counter)
    breaches: int = 0
    ticks: int = 0


@contextmanager
def scratch_database() -> Iterator[Engine]:
    """A migrated SQLite database in a temporary folder, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="nurture-sim-") as folder:
        engine = create_store_engine(f"sqlite:///{Path(folder) / 'simulation.db'}")
        try:
            upgrade(engine)
            yield engine
        finally:
            engine.dispose()


class Simulation:
    def __init__(
        self,
        db: Engine,
        lifecycle: Lifecycle,
        settings: Settings,
        signer: TokenSigner,
        *,
        transport: Transport | None = None,
        engagement: EngagementModel | None = None,
        sales: SalesModel | None = None,
        variant: str | None = None,
        locale: str | None = None,
    ) -> None:
        program = lifecycle.program
        self.db = db
        self.program = program
        self.lifecycle = lifecycle
        self.settings = settings
        # ``variant``: every send step that has this variant sends it to everyone (simulate --variant).
        self.engine = CampaignEngine(db, program, settings, then=lifecycle, force_variant=variant)
        self.transport = transport or MemoryTransport()
        # Leases follow the simulated clock, as they follow a pinned `tick --now`.
        self._now = datetime.min.replace(tzinfo=UTC)  # the simulated moment, once a run starts
        self.outbox = Outbox(
            db, Composer(program, settings, signer, locale=locale), self.transport, clock=lambda: self._now
        )
        topics = {key: c.topic for key, c in program.campaigns.items()}
        self.outbox.consent = ConsentScreen(topics, consent_settings(settings, program))
        self.engagement = engagement
        self.sales = sales
        self.rng = random.Random(engagement.seed if engagement else 0)
        # Engagement yet to happen: (when, order, event, planned by the marketer rather than modelled)
        self._pending: list[tuple[datetime, int, dict[str, Any], bool]] = []
        self._order = 0
        self._seen_stage_change = 0
        self._seen_handoff = 0
        self._answers: dict[int, tuple[datetime, str]] = {}  # handoff -> when and how its rep answers

    def plan_events(self, planned: Iterable[PlannedEvent]) -> None:
        """Put events on the timeline (``nurture simulate --events``), each at its own moment."""
        for item in planned:
            self._schedule(item.at, item.event, planned=True)

    def run(self, start: datetime, until: datetime, step: timedelta) -> SimulationResult:
        return asyncio.run(self._run(start, until, step))

    async def _run(self, start: datetime, until: datetime, step: timedelta) -> SimulationResult:
        result = SimulationResult()
        self.engine.record_program(start)
        now = self._now = start
        try:
            while now <= until:
                self._engage_until(now, result)
                report = self.engine.tick(now)
                self._answer_handoffs(now, result)
                sla = enforce_sla(self.db, self.lifecycle.sales, now)
                result.breaches += sla.reassigned + sla.escalated
                result.problems.extend(sla.problems)
                result.entered.update(report.entered)
                result.ended.update(report.ended)
                result.deferred.update(report.deferred)
                result.problems.extend(report.problem_lines())
                delivery = await self.outbox.deliver_due(now)
                result.problems.extend(delivery.problems)
                self._collect_sends(now, result)
                self._collect_moments(result)
                result.ticks += 1
                now += step
                self._now = now
        finally:
            await self.transport.close()
        return result

    def _collect_sends(self, now: datetime, result: SimulationResult) -> None:
        m = messages.c
        with self.db.connect() as conn:
            rows = conn.execute(
                select(m.id, m.lead_id, m.to_address, m.campaign_key, m.step_id, m.subject, m.kind, m.variant)
                .where(m.status == "sent", m.sent_at == now)
                .order_by(m.id)
            ).all()
        for row in rows:
            if row.kind in CAMPAIGN_MAIL:
                result.sends.append(
                    SimulatedSend(
                        now, row.to_address, row.campaign_key, row.step_id, row.subject, row.variant
                    )
                )
            if row.kind == "marketing":  # transactional mail is not tracked: nothing to model
                self._model_engagement(row, now)

    def _collect_moments(self, result: SimulationResult) -> None:
        """Stage changes (MQLs, SALs, recycling) and handoffs since the last look, on the timeline."""
        c, h, lead = stage_changes.c, handoffs.c, leads.c
        with self.db.connect() as conn:
            changes = conn.execute(
                select(c.id, c.at, c.from_stage, c.to_stage, c.reason, lead.email)
                .join(leads, leads.c.id == c.lead_id)
                .where(c.id > self._seen_stage_change)
                .order_by(c.id)
            ).all()
            handed = conn.execute(
                select(h.id, h.assigned_at, h.team_key, h.rep_id, h.previous_handoff_id, lead.email)
                .join(leads, leads.c.id == h.lead_id)
                .where(h.id > self._seen_handoff)
                .order_by(h.id)
            ).all()
        for row in changes:
            self._seen_stage_change = row.id
            if row.from_stage is None:
                continue  # a lead's first stage, set when it was imported: not news on the timeline
            result.stages[row.to_stage] += 1
            detail = f"{row.from_stage} → {row.to_stage} ({row.reason})"
            result.moments.append(SimulatedMoment(row.at, row.email, "stage", detail))
        for row in handed:
            self._seen_handoff = row.id
            result.handoffs += 1
            whom = f"rep {row.rep_id}" if row.rep_id else "the manager"
            how = "reassigned after an SLA breach to" if row.previous_handoff_id else "handed to"
            detail = f"{how} {whom} ({row.team_key})"
            result.moments.append(SimulatedMoment(row.assigned_at, row.email, "handoff", detail))

    def _model_engagement(self, row: Any, sent_at: datetime) -> None:
        model = self.engagement
        if model is None or self.rng.random() >= model.open_rate:
            return
        opened = sent_at + timedelta(minutes=self.rng.randint(5, 36 * 60))
        self._schedule(opened, {"type": "email_open", "message_id": row.id})
        if self.rng.random() >= model.click_rate:
            return
        clicked = opened + timedelta(minutes=self.rng.randint(1, 30))
        self._schedule(
            clicked, {"type": "email_click", "message_id": row.id, "url": "https://taktwerk.example/"}
        )
        visit = {"email": row.to_address}
        if self.rng.random() < model.pricing_rate:
            pricing = clicked + timedelta(minutes=self.rng.randint(1, 20))
            self._schedule(pricing, {**visit, "type": "page_view", "url": "https://taktwerk.example/preise"})
        if self.rng.random() < model.demo_rate:
            asked = clicked + timedelta(minutes=self.rng.randint(5, 120))
            self._schedule(asked, {**visit, "type": "demo_requested", "url": "https://taktwerk.example/demo"})

    def _schedule(self, at: datetime, event: dict[str, Any], *, planned: bool = False) -> None:
        self._order += 1
        heapq.heappush(self._pending, (at, self._order, {**event, "occurred_at": at.isoformat()}, planned))

    def _engage_until(self, now: datetime, result: SimulationResult) -> None:
        due: list[dict[str, Any]] = []
        while self._pending and self._pending[0][0] <= now:
            at, _, event, planned = heapq.heappop(self._pending)
            due.append(event)
            if planned:
                result.moments.append(SimulatedMoment(at, str(event["email"]), "event", str(event["type"])))
        if not due:
            return
        with self.db.begin() as conn:
            recorded = record_events(conn, self.lifecycle, due, now)
        result.engagement.update(e["type"] for e in due)
        result.problems.extend(f"simulated event {e.index}: {e.field}: {e.message}" for e in recorded.errors)

    def _answer_handoffs(self, now: datetime, result: SimulationResult) -> None:
        """Reps answer the handoffs they were given, as the sales model says."""
        if self.sales is None:
            return
        h = handoffs.c
        with self.db.connect() as conn:
            pending = conn.execute(select(h.id, h.lead_id, h.rep_id).where(h.status == "pending")).all()
        for handoff_id, lead_id, rep_id in pending:
            if handoff_id not in self._answers:
                self._answers[handoff_id] = (now + self._delay(), self._choice())
            when, action = self._answers[handoff_id]
            if when > now or action == "ignore":
                continue
            actor = rep_id or "manager"
            try:
                with self.db.begin() as conn:
                    if action == "accept":
                        accept(conn, self.lifecycle, lead_id, actor=actor, now=now, handoff_id=handoff_id)
                    else:
                        reason = "kein Budget in diesem Jahr"
                        reject(
                            conn,
                            self.lifecycle,
                            lead_id,
                            reason=reason,
                            actor=actor,
                            now=now,
                            handoff_id=handoff_id,
                        )
                result.sales_answers[action] += 1
            except SalesActionError:
                pass  # the handoff moved on (reassigned) before the rep got to it
            self._answers[handoff_id] = (when, "ignore")

    def _delay(self) -> timedelta:
        assert self.sales is not None
        fastest, slowest = self.sales.fastest.total_seconds(), self.sales.slowest.total_seconds()
        return timedelta(seconds=self.rng.uniform(fastest, slowest))

    def _choice(self) -> str:
        assert self.sales is not None
        roll = self.rng.random()
        if roll < self.sales.accept_rate:
            return "accept"
        if roll < self.sales.accept_rate + self.sales.reject_rate:
            return "reject"
        return "ignore"


def copy_leads(source: Engine, target: Engine) -> int:
    """Copy every lead (profile fields) from the workspace database into a scratch one, with what
    decides whether a lead may be mailed at all: its consents and the suppression lists. Without
    them a simulation would mail the unsubscribed, or (with ``require_consent``) nobody."""
    with source.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(select(leads).order_by(leads.c.id))]
        extra = {
            table: [dict(r._mapping) for r in conn.execute(select(table))]
            for table in (consents, suppressions, topic_suppressions)
        }
    if rows:
        with target.begin() as conn:
            # Ids kept, as the consents refer to them (the scratch database is SQLite, which goes on
            # numbering after the largest id).
            conn.execute(leads.insert(), rows)
            for table, copied in extra.items():
                if copied:
                    conn.execute(table.insert(), copied)
    return len(rows)
