"""Event-entry campaigns follow the events table by id; on PostgreSQL an event that commits after
a later one must still be seen (ids are taken in one order and committed in another)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from nurture.definitions import load_program
from nurture.engagement import NewEvent, store_events
from nurture.engine.tick import TickReport
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
    program = load_program(Workspace(harness.root))
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
