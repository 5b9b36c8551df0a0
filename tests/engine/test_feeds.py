"""The engine follows new leads and new events by id: on PostgreSQL a row that commits after a
later one must still be seen (ids are taken in one order and committed in another), and on
SQLite a new lead that takes the id of an erased one must still enter."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from nurture.definitions import load_program
from nurture.engagement import NewEvent, store_events
from nurture.engine.tick import TickReport
from nurture.leads.forget import forget_lead
from nurture.lifecycle import Lifecycle
from nurture.store.feeds import writing
from nurture.store.schema import enrollments, leads
from nurture.workspace import Workspace
from tests.harness import Harness
from tests.program import write_program

NOW = datetime(2026, 3, 3, 10, 0, tzinfo=UTC)
WEBINAR = """\
kind: Campaign
key: webinar
entry: {on: event, type: webinar_attended}
steps:
  - send: {template: t/welcome, subject: "Danke"}
"""


def test_an_event_committed_late_is_not_passed_over(harness: Harness) -> None:
    if harness.store.dialect.name != "postgresql":
        pytest.skip("on SQLite ids are committed in the order they are taken")
    write_program(harness.root, extra=WEBINAR)
    harness.import_leads(
        "email,first_name,country,timezone\nearly@firma.de,E,DE,Europe/Berlin\n"
        "late@firma.de,L,DE,Europe/Berlin\n",
        NOW,
    )
    harness.tick(NOW)
    workspace = Workspace(harness.root)
    program = Lifecycle.of(load_program(workspace), workspace.settings)
    with harness.store.connect() as conn:
        ids = dict(conn.execute(select(leads.c.email, leads.c.id)).all())

    def webinar(email: str) -> list[NewEvent]:
        return [NewEvent("webinar_attended", NOW, lead_id=ids[email])]

    slow = harness.store.connect()
    slow_transaction = slow.begin()
    store_events(slow, program, webinar("early@firma.de"), NOW)  # takes the lower id, commits last
    with harness.store.begin() as conn:
        store_events(conn, program, webinar("late@firma.de"), NOW)

    engine = harness.engine()
    report = TickReport(NOW)
    reader = threading.Thread(target=engine.enter, args=(NOW, report))
    reader.start()
    time.sleep(0.5)
    assert reader.is_alive()  # waiting for the open writer, not reading past its id
    slow_transaction.commit()
    slow.close()
    reader.join(timeout=10)
    assert not reader.is_alive()

    with harness.store.connect() as conn:
        entered = set(
            conn.execute(
                select(leads.c.email)
                .join(enrollments, enrollments.c.lead_id == leads.c.id)
                .where(enrollments.c.campaign_key == "webinar")
            ).scalars()
        )
    assert entered == {"early@firma.de", "late@firma.de"}


def entered(harness: Harness, campaign: str) -> set[str]:
    with harness.store.connect() as conn:
        return set(
            conn.execute(
                select(leads.c.email)
                .join(enrollments, enrollments.c.lead_id == leads.c.id)
                .where(enrollments.c.campaign_key == campaign)
            ).scalars()
        )


def test_a_lead_committed_late_is_not_passed_over(harness: Harness) -> None:
    if harness.store.dialect.name != "postgresql":
        pytest.skip("on SQLite ids are committed in the order they are taken")
    slow = harness.store.connect()
    slow_transaction = slow.begin()
    writing(slow, "leads")
    slow.execute(
        leads.insert().values(
            email="early@firma.de", email_domain="firma.de", first_name="E", country="DE",
            timezone="Europe/Berlin", lifecycle_stage="lead", attributes={}, created_at=NOW, updated_at=NOW,
        )
    )  # fmt: skip
    harness.import_leads("email,first_name,country,timezone\nlate@firma.de,L,DE,Europe/Berlin\n", NOW)

    engine = harness.engine()
    reader = threading.Thread(target=engine.enter, args=(NOW, TickReport(NOW)))
    reader.start()
    time.sleep(0.5)
    assert reader.is_alive()
    slow_transaction.commit()
    slow.close()
    reader.join(timeout=10)
    assert not reader.is_alive()
    assert entered(harness, "trial") == {"early@firma.de", "late@firma.de"}


def test_a_new_lead_that_takes_an_erased_leads_id_still_enters(harness: Harness) -> None:
    header = "email,first_name,country,timezone\n"
    harness.import_leads(header + "a@firma.de,A,DE,Europe/Berlin\nb@firma.de,B,DE,Europe/Berlin\n", NOW)
    harness.tick(NOW)
    with harness.store.begin() as conn:
        erased_id = conn.scalar(select(leads.c.id).where(leads.c.email == "b@firma.de"))
        forget_lead(conn, "b@firma.de", NOW)
    harness.import_leads(header + "c@firma.de,C,DE,Europe/Berlin\n", NOW)
    with harness.store.connect() as conn:
        new_id = conn.scalar(select(leads.c.id).where(leads.c.email == "c@firma.de"))
    if harness.store.dialect.name == "sqlite":
        assert new_id == erased_id  # SQLite hands the id out again
    harness.tick(NOW)
    assert entered(harness, "trial") == {"a@firma.de", "c@firma.de"}
