"""A workspace with a newsletter form (double opt-in) and a demo form, served by the real app."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from nurture.clock import FixedClock
from nurture.http import HttpContext, create_app
from nurture.leads.consent import current_consents
from nurture.store.schema import consents, events, leads, messages
from nurture.workspace import Workspace
from tests.engagement.conftest import serving
from tests.program import write_program

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday morning
SITE = "https://www.taktwerk.example"
PAGE = f"{SITE}/newsletter?utm_source=x"

FORMS = """\
kind: Topic
key: newsletter
name: Newsletter
---
kind: Form
key: newsletter
name: Newsletter
fields:
  - {name: email, maps_to: email, type: email, required: true, label: E-Mail}
  - {name: first_name, maps_to: first_name, label: Vorname, max_length: 50}
  - {name: country, maps_to: country}
  - {name: interest, maps_to: attributes.interest, type: choice, choices: [planung, zeiterfassung]}
consent:
  text: "Ja, ich möchte den Taktwerk-Newsletter erhalten. Abmelden geht jederzeit."
  version: "2026-03"
  topics: [newsletter]
double_opt_in: true
thank_you: https://www.taktwerk.example/danke
---
kind: Form
key: demo
fields:
  - {name: email, maps_to: email, type: email, required: true}
  - {name: company, maps_to: company, required: true}
  - {name: job_title, maps_to: job_title}
consent: {text: "Taktwerk darf mich zur Demo kontaktieren.", version: "d1", topics: [marketing]}
thank_you: https://www.taktwerk.example/demo-danke
---
kind: Campaign
key: newsletter
topic: newsletter
entry: {on: event, type: opt_in_confirmed}
steps:
  - id: first-issue
    send: {template: t/newsletter, subject: "Ihr erster Newsletter"}
"""


def write_forms_workspace(
    root: Path, store_url: str, extra_settings: str = "", origins: tuple[str, ...] = (SITE,)
) -> Workspace:
    root.mkdir(parents=True, exist_ok=True)
    write_program(root, extra=FORMS)
    (root / "nurture.toml").write_text(
        f'database_url = "{store_url}"\nsecret_key = "test-secret-key-0123456789"\n'
        f'base_url = "https://nurture.taktwerk.example"\n'
        f"allowed_origins = {json.dumps(list(origins))}\nform_rate_limit = 5\n{extra_settings}",
        encoding="utf-8",
    )
    return Workspace(root)


@dataclass
class Site:
    """The app serving the forms, the clock it reads, and what the database holds."""

    client: httpx.Client
    context: HttpContext
    clock: FixedClock
    store: Engine
    root: Path | None = None

    def post(self, key: str, data: dict[str, str], **headers: str) -> httpx.Response:
        sent = {"origin": SITE, "referer": PAGE, **headers}
        return self.client.post(f"/forms/{key}", data=data, headers=sent)

    def lead(self, email: str) -> Any:
        with self.store.connect() as conn:
            return conn.execute(select(leads).where(leads.c.email == email)).first()

    def consent(self, email: str, topic: str) -> str | None:
        lead = self.lead(email)
        with self.store.connect() as conn:
            state = current_consents(conn, [lead.id]).get((lead.id, topic))
        return state.status if state else None

    def consent_rows(self) -> list[Any]:
        with self.store.connect() as conn:
            return list(conn.execute(select(consents).order_by(consents.c.id)))

    def events(self) -> list[Any]:
        with self.store.connect() as conn:
            return list(conn.execute(select(events).order_by(events.c.id)))

    def confirmations(self) -> list[Any]:
        with self.store.connect() as conn:
            query = select(messages).where(messages.c.kind == "opt_in_confirmation").order_by(messages.c.id)
            return list(conn.execute(query))

    def counts(self) -> tuple[int, int, int, int]:
        """Leads, events, consent rows and messages: what a refused post must leave untouched."""
        with self.store.connect() as conn:
            return tuple(  # type: ignore[return-value]
                len(conn.execute(select(t.c.id)).all()) for t in (leads, events, consents, messages)
            )


@pytest.fixture
def site(tmp_path: Path, store_url: str, store: Engine) -> Iterator[Site]:
    workspace = write_forms_workspace(tmp_path / "ws", store_url)
    clock = FixedClock(NOW)
    context = HttpContext.from_workspace(workspace, engine=store, clock=clock)
    with serving(create_app(context)) as url, httpx.Client(base_url=url, timeout=10) as client:
        yield Site(client, context, clock, store, workspace.root)
