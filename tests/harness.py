"""A workspace, its database and an engine, driven by an explicit clock."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine

from nurture.definitions import load_program
from nurture.engine.tick import CampaignEngine, TickReport
from nurture.leads.importer import LeadImporter
from nurture.lifecycle import Lifecycle
from nurture.store.schema import enrollments, messages
from nurture.workspace import Workspace
from tests.program import write_program


class Harness:
    """A workspace, its database and an engine, driven by an explicit clock."""

    def __init__(self, root: Path, store: Engine) -> None:
        self.root = root
        self.store = store

    def engine(self) -> CampaignEngine:
        workspace = Workspace(self.root)
        program = load_program(workspace)
        lifecycle = Lifecycle.of(program, workspace.settings)
        return CampaignEngine(self.store, program, workspace.settings, then=lifecycle)

    def import_leads(self, csv_text: str, now: datetime) -> None:
        path = self.root / "leads.csv"
        path.write_text(csv_text, encoding="utf-8")
        report = LeadImporter(self.store, now).run(path)
        assert report.rejected == 0, report.problems

    def tick(self, now: datetime) -> TickReport:
        engine = self.engine()
        engine.record_program(now)
        return engine.tick(now)

    def messages(self) -> list[Any]:
        with self.store.connect() as conn:
            m = messages.c
            query = select(m.to_address, m.campaign_key, m.step_id, m.created_at, m.id, m.enrollment_id)
            return conn.execute(query.order_by(m.id)).all()

    def sent_steps(self, email: str) -> list[str]:
        return [m.step_id for m in self.messages() if m.to_address == email]

    def enrollment(self, email: str, campaign: str = "trial") -> Any:
        from nurture.store.schema import leads

        with self.store.connect() as conn:
            return conn.execute(
                select(enrollments)
                .join(leads, leads.c.id == enrollments.c.lead_id)
                .where(leads.c.email == email, enrollments.c.campaign_key == campaign)
                .order_by(enrollments.c.id.desc())
            ).first()


def make_harness(workspace: Path, store: Engine) -> Harness:
    write_program(workspace)
    (workspace / "nurture.toml").write_text(
        (workspace / "nurture.toml").read_text() + 'timezone = "Europe/Berlin"\nfrequency_cap = 3\n'
        'frequency_window = "7d"\nfrom_address = "Taktwerk <hallo@taktwerk.example>"\n',
        encoding="utf-8",
    )
    return Harness(workspace, store)
