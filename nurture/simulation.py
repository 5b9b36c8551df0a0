"""Running a program on a simulated clock: days in seconds, in a scratch database.

The simulation uses the real engine and the real outbox sender, so what it shows is what the
daemon would do; only the clock is moved by hand and messages go to the transport it is given (in
memory for ``nurture simulate``, a Maildir for ``nurture demo``). An optional engagement model
opens and clicks some of the emails, so branches, waits and scoring have something to react to.
"""

from __future__ import annotations

import asyncio
import heapq
import random
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine

from nurture.definitions import Program
from nurture.delivery.transports import MemoryTransport, Transport
from nurture.engine.tick import CampaignEngine
from nurture.sending.compose import Composer
from nurture.sending.outbox import Outbox
from nurture.settings import Settings
from nurture.store.engine import create_store_engine
from nurture.store.migrate import upgrade
from nurture.store.schema import events, leads, messages
from nurture.tokens import TokenSigner


@dataclass(frozen=True)
class EngagementModel:
    """How simulated readers behave: the share who open, and of those the share who click."""

    open_rate: float = 0.45
    click_rate: float = 0.3
    seed: int = 1


@dataclass(frozen=True)
class SimulatedSend:
    at: datetime
    email: str
    campaign: str
    step: str
    subject: str


@dataclass
class SimulationResult:
    sends: list[SimulatedSend] = field(default_factory=list)
    entered: Counter[str] = field(default_factory=Counter)
    ended: Counter[tuple[str, str]] = field(default_factory=Counter)
    deferred: Counter[str] = field(default_factory=Counter)
    engagement: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
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


# Called with the engine after simulated engagement was written, e.g. to score it.
EventsHook = Callable[[Engine, list[int], datetime], None]


class Simulation:
    def __init__(
        self,
        db: Engine,
        program: Program,
        settings: Settings,
        signer: TokenSigner,
        *,
        transport: Transport | None = None,
        engagement: EngagementModel | None = None,
        on_events: EventsHook | None = None,
    ) -> None:
        self.db = db
        self.engine = CampaignEngine(db, program, settings)
        self.transport = transport or MemoryTransport()
        self.outbox = Outbox(db, Composer(program, settings, signer), self.transport)
        self.engagement = engagement
        self.rng = random.Random(engagement.seed if engagement else 0)
        self.on_events = on_events
        self._pending: list[tuple[datetime, int, dict[str, Any]]] = []  # engagement yet to happen
        self._order = 0

    def run(self, start: datetime, until: datetime, step: timedelta) -> SimulationResult:
        return asyncio.run(self._run(start, until, step))

    async def _run(self, start: datetime, until: datetime, step: timedelta) -> SimulationResult:
        result = SimulationResult()
        self.engine.record_program(start)
        now = start
        try:
            while now <= until:
                self._engage_until(now, result)
                report = self.engine.tick(now)
                result.entered.update(report.entered)
                result.ended.update(report.ended)
                result.deferred.update(report.deferred)
                result.problems.extend(report.problems)
                delivery = await self.outbox.deliver_due(now)
                result.problems.extend(delivery.problems)
                self._collect_sends(now, result)
                result.ticks += 1
                now += step
        finally:
            await self.transport.close()
        return result

    def _collect_sends(self, now: datetime, result: SimulationResult) -> None:
        m = messages.c
        with self.db.connect() as conn:
            rows = conn.execute(
                select(m.id, m.lead_id, m.to_address, m.campaign_key, m.step_id, m.subject, m.kind)
                .where(m.status == "sent", m.sent_at == now)
                .order_by(m.id)
            ).all()
        for row in rows:
            if row.kind == "marketing":
                result.sends.append(
                    SimulatedSend(now, row.to_address, row.campaign_key, row.step_id, row.subject)
                )
                self._model_engagement(row, now)

    def _model_engagement(self, row: Any, sent_at: datetime) -> None:
        model = self.engagement
        if model is None or self.rng.random() >= model.open_rate:
            return
        opened = sent_at + timedelta(minutes=self.rng.randint(5, 36 * 60))
        base = {"lead_id": row.lead_id, "message_id": row.id, "campaign_key": row.campaign_key, "url": None,
                "step_id": row.step_id}  # fmt: skip
        self._schedule(opened, {**base, "type": "email_open"})
        if self.rng.random() < model.click_rate:
            clicked = opened + timedelta(minutes=self.rng.randint(1, 30))
            self._schedule(clicked, {**base, "type": "email_click", "url": "https://example.com/"})

    def _schedule(self, at: datetime, event: dict[str, Any]) -> None:
        self._order += 1
        heapq.heappush(self._pending, (at, self._order, event))

    def _engage_until(self, now: datetime, result: SimulationResult) -> None:
        due: list[dict[str, Any]] = []
        while self._pending and self._pending[0][0] <= now:
            at, _, event = heapq.heappop(self._pending)
            due.append({**event, "occurred_at": at, "received_at": at, "properties": {}})
        if not due:
            return
        with self.db.begin() as conn:
            conn.execute(events.insert(), due)
            ids = [
                int(i)
                for (i,) in conn.execute(select(events.c.id).order_by(events.c.id.desc()).limit(len(due)))
            ]
        result.engagement.update(e["type"] for e in due)
        if self.on_events:
            self.on_events(self.db, sorted(ids), now)


def copy_leads(source: Engine, target: Engine) -> int:
    """Copy every lead (profile fields only) from the workspace database into a scratch one."""
    columns = [c for c in leads.c if c.name != "id"]
    with source.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(select(*columns).order_by(leads.c.id))]
    if rows:
        with target.begin() as conn:
            conn.execute(leads.insert(), rows)
    return len(rows)
