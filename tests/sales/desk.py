"""A workspace with a scoring model, an SLA and a sales team, driven by an explicit clock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine

from nurture.definitions import Program, load_program
from nurture.leads.importer import LeadImporter
from nurture.lifecycle import Lifecycle
from nurture.sales.sla import SlaReport, enforce_sla
from nurture.scoring import StoredEvent
from nurture.settings import Settings
from nurture.store.schema import events, handoffs, leads, messages, score_ledger, stage_changes
from nurture.workspace import Workspace

# Monday 2 March 2026, 09:30 in Berlin.
MONDAY = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)

SCORING = """\
kind: ScoringModel
name: default
behavior:
  - {event: email_open, points: 1, max_per_day: 3}
  - {event: email_click, points: 5}
  - {event: download, where: "event.asset_type == 'whitepaper'", points: 10, reason: Whitepaper}
  - {event: page_view, where: "'/pricing' in (event.url or '')", points: 15, reason: Pricing page}
  - {event: webinar_attended, points: 20}
  - {event: demo_requested, points: 60, reason: Demo requested}
  - {event: unsubscribe, points: -20}
fit:
  - when: "lead.job_title is matching('(?i)head|vp|director|chief|leiter')"
    points: 15
    reason: Decision maker
  - {when: "50 <= (lead.company_size or 0) <= 1000", points: 10, reason: Mid-sized company}
  - {when: "lead.email_domain in free_mail_domains", points: -10, reason: Free-mail address}
decay: {half_life: 30d}
"""

SLA = """\
kind: SLA
name: marketing-sales
mql: {when: "lead.score >= 100"}
route_to: dach-sales
accept_within: 4h
on_breach: reassign
max_reassignments: 2
recycle: {campaign: recycle, score: halve}
"""

REP_HOURS = {
    "anna": ("Europe/Berlin", "mon-fri", "08:00-18:00"),
    "ben": ("Europe/Zurich", "mon-fri", "08:00-17:00"),
    "clara": ("Europe/Vienna", "mon-thu", "08:30-17:30"),
}


def team(
    routing: str = "round_robin",
    reps: str = "anna:DE:30,ben:AT|CH|DE:20",
    extra: str = "",
) -> str:
    """A SalesTeam; ``reps`` is ``id:territories:capacity[:weight]`` separated by commas."""
    lines = [
        "kind: SalesTeam",
        "key: dach-sales",
        "name: Vertrieb DACH",
        "manager: {name: Petra Vogel, email: petra.vogel@example.com}",
        f"routing: {routing}",
        "reps:",
    ]
    for spec in reps.split(","):
        rep_id, territories, capacity, *weight = spec.split(":")
        zone, days, hours = REP_HOURS.get(rep_id, ("Europe/Berlin", "mon-fri", "08:00-18:00"))
        where = ", ".join(t for t in territories.split("|") if t)
        lines.append(
            f"  - {{id: {rep_id}, name: {rep_id.title()} Rep, email: {rep_id}@sales.example, "
            f"territories: [{where}], capacity: {capacity}, weight: {weight[0] if weight else 1}, "
            f'working_hours: {{timezone: {zone}, days: {days}, hours: "{hours}"}}{extra}}}'
        )
    return "\n".join(lines) + "\n"


CAMPAIGNS = """\
kind: Campaign
key: trial
entry: {on: lead_created, where: "lead.country in ['DE', 'AT', 'CH']"}
exit_when:
  - "lead.lifecycle_stage in ['mql', 'sal', 'sql', 'opportunity', 'customer', 'disqualified']"
steps:
  - id: welcome
    send: {template: t/mail, subject: "Willkommen"}
  - wait: 2d
  - id: case-study
    send: {template: t/mail, subject: "Fallstudie"}
  - wait: 3d
  - id: last-call
    send: {template: t/mail, subject: "Noch Fragen?"}
---
kind: Campaign
key: newsletter
entry: {on: lead_created}
steps:
  - id: issue
    send: {template: t/mail, subject: "Newsletter"}
  - wait: 30d
  - id: issue-2
    send: {template: t/mail, subject: "Newsletter"}
---
kind: Campaign
key: recycle
entry: {on: manual}
exit_when: ["lead.lifecycle_stage in ['mql', 'sal']"]
steps:
  - wait: 14d
  - id: checkin
    send: {template: t/mail, subject: "Wieder da"}
"""

LEADS = (
    "email,first_name,last_name,company,job_title,company_size,country,timezone\n"
    "lena@alpenblick.de,Lena,Wolf,Alpenblick GmbH,Head of Operations,120,DE,Europe/Berlin\n"
    "max@bergwerk.at,Max,Huber,Bergwerk AG,Engineer,30,AT,Europe/Vienna\n"
    "sara@gmail.com,Sara,Keller,,Student,,CH,Europe/Zurich\n"
    "tom@example.us,Tom,Smith,Example Inc,Director,500,US,America/New_York\n"
)


def write_workspace(
    root: Path, *, sla: str = SLA, sales_team: str | None = None, scoring: str = SCORING
) -> None:
    (root / "campaigns").mkdir(exist_ok=True)
    (root / "campaigns" / "scoring.yaml").write_text(scoring, encoding="utf-8")
    (root / "campaigns" / "sales.yaml").write_text(sla + "---\n" + (sales_team or team()), encoding="utf-8")
    (root / "campaigns" / "campaigns.yaml").write_text(CAMPAIGNS, encoding="utf-8")
    folder = root / "templates" / "t"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "mail.html").write_text("<p>Hallo {{ lead.first_name }}</p>\n", encoding="utf-8")


class Desk:
    """Drives scoring and sales against one test database."""

    def __init__(self, root: Path, store: Engine) -> None:
        self.root = root
        self.store = store

    @cached_property
    def workspace(self) -> Workspace:
        return Workspace(self.root)

    @cached_property
    def program(self) -> Program:
        return load_program(self.workspace)

    @cached_property
    def lifecycle(self) -> Lifecycle:
        return Lifecycle.of(self.program, self.settings)

    @property
    def settings(self) -> Settings:
        return self.workspace.settings

    def reload(self) -> None:
        """Read the definitions again (after a test rewrote them)."""
        self.__dict__.pop("program", None)
        self.__dict__.pop("lifecycle", None)
        self.__dict__.pop("workspace", None)

    # -- acting ----------------------------------------------------------------------------------

    def import_leads(self, csv_text: str, now: datetime = MONDAY) -> None:
        path = self.root / "leads.csv"
        path.write_text(csv_text, encoding="utf-8")
        lifecycle = self.lifecycle

        def hook(conn: Any, created: Any, changed: Any, at: datetime) -> None:
            lifecycle.leads_changed(conn, [*created, *changed], at)

        report = LeadImporter(self.store, now, on_batch=hook).run(path)
        assert report.rejected == 0, report.problems

    def record(
        self,
        email: str,
        type_: str,
        at: datetime,
        *,
        now: datetime | None = None,
        machine: str | None = None,
        url: str | None = None,
        **properties: Any,
    ) -> int:
        """Record one event and score it, as an events recorder does; returns the event id."""
        with self.store.begin() as conn:
            lead_id = self.lead_id(email, conn)
            event_id = conn.execute(
                events.insert().values(
                    lead_id=lead_id,
                    type=type_,
                    occurred_at=at,
                    received_at=now or at,
                    url=url,
                    machine_reason=machine,
                    properties=properties,
                )
            ).inserted_primary_key[0]
            stored = StoredEvent(event_id, lead_id, type_, at, properties, url, machine, None, None)
            self.lifecycle.events_recorded(conn, [stored], now or at)
        return int(event_id)

    def act(self, action: Callable[..., None], email: str, now: datetime, **options: Any) -> None:
        with self.store.begin() as conn:
            action(conn, self.lifecycle, self.lead_id(email, conn), now=now, **options)

    def enforce(self, now: datetime) -> SlaReport:
        return enforce_sla(self.store, self.lifecycle.sales, now)

    # -- looking ---------------------------------------------------------------------------------

    def lead_id(self, email: str, conn: Any = None) -> int:
        if conn is None:
            with self.store.connect() as c:
                return self.lead_id(email, c)
        return int(conn.scalar(select(leads.c.id).where(leads.c.email == email)))

    def lead(self, email: str) -> Any:
        with self.store.connect() as conn:
            return conn.execute(select(leads).where(leads.c.email == email)).one()

    def stage(self, email: str) -> str:
        return str(self.lead(email).lifecycle_stage)

    def ledger(self, email: str) -> list[Any]:
        with self.store.connect() as conn:
            s = score_ledger.c
            return conn.execute(
                select(s.points, s.kind, s.rule, s.reason, s.event_id, s.at)
                .where(s.lead_id == self.lead_id(email, conn))
                .order_by(s.id)
            ).all()

    def stage_changes(self, email: str) -> list[Any]:
        with self.store.connect() as conn:
            c = stage_changes.c
            return conn.execute(
                select(c.from_stage, c.to_stage, c.actor, c.reason, c.at)
                .where(c.lead_id == self.lead_id(email, conn))
                .order_by(c.id)
            ).all()

    def handoffs(self, email: str) -> list[Any]:
        with self.store.connect() as conn:
            return conn.execute(
                select(handoffs)
                .where(handoffs.c.lead_id == self.lead_id(email, conn))
                .order_by(handoffs.c.id)
            ).all()

    def sales_messages(self, email: str | None = None) -> list[Any]:
        with self.store.connect() as conn:
            query = select(messages).where(messages.c.kind != "marketing").order_by(messages.c.id)
            if email is not None:
                query = query.where(messages.c.lead_id == self.lead_id(email, conn))
            return conn.execute(query).all()

    def make_mql(self, email: str, at: datetime) -> None:
        """Push a lead over the MQL line with demo requests."""
        for _ in range(3):
            self.record(email, "demo_requested", at)
            if self.stage(email) == "mql":
                return
        raise AssertionError(f"{email} did not become an MQL: {self.ledger(email)}")
