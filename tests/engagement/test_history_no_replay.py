"""Imported history is a record, not a replay: the next tick enters nobody for an event of the
past and wakes no waiting lead, while a live event of the same kind still does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from nurture.definitions import load_program
from nurture.engagement.history import import_history
from nurture.engagement.record import record_events
from nurture.engine.tick import TickReport
from nurture.lifecycle import Lifecycle
from nurture.workspace import Workspace
from tests.harness import Harness
from tests.program import write_program

NOW = datetime(2026, 3, 3, 10, 0, tzinfo=UTC)  # a Tuesday, inside the send window
WEBINAR = """\
kind: Campaign
key: webinar
entry: {on: event, type: webinar_attended}
steps:
  - send: {template: t/welcome, subject: "Danke"}
"""
LEADS = (
    "email,first_name,country,timezone\n"
    "anna@firma.de,Anna,DE,Europe/Berlin\nben@firma.de,Ben,DE,Europe/Berlin\n"
)
HISTORY = """\
email,type,at,url
anna@firma.de,webinar_attended,2025-03-04T16:00:00Z,
ben@firma.de,webinar_attended,2025-03-04T16:00:00Z,
ben@firma.de,email_click,2025-03-05T09:00:00Z,https://taktwerk.example/case-study
"""


def lifecycle(harness: Harness) -> Lifecycle:
    workspace = Workspace(harness.root)
    return Lifecycle.of(load_program(workspace), workspace.settings)


def test_history_enters_nobody_and_a_live_event_still_does(harness: Harness) -> None:
    write_program(harness.root, extra=WEBINAR)
    harness.import_leads(LEADS, NOW)
    harness.tick(NOW)  # both enter the trial and wait after its welcome
    waiting = harness.enrollment("ben@firma.de").due_at
    assert waiting > NOW + timedelta(days=1)

    later = NOW + timedelta(hours=1)
    path = harness.root / "history.csv"
    path.write_text(HISTORY, encoding="utf-8")
    report = import_history(harness.store, lifecycle(harness).past(), path, later)
    assert (report.events, report.rejected) == (3, 0), report.problems

    # The events are walked past, not acted on: nobody woken, entered or mailed.
    harness.engine().enter(later, TickReport(later))
    assert harness.enrollment("ben@firma.de").due_at == waiting
    harness.tick(later)
    assert harness.enrollment("anna@firma.de", "webinar") is None
    assert harness.enrollment("ben@firma.de", "webinar") is None
    assert [m for m in harness.messages() if m.campaign_key == "webinar"] == []

    # A webinar attended now is news: Anna enters and her thank-you is queued.
    live = later + timedelta(minutes=5)
    with harness.store.begin() as conn:
        item = {"type": "webinar_attended", "email": "anna@firma.de", "occurred_at": live.isoformat()}
        assert record_events(conn, lifecycle(harness), [item], live).stored == 1
    harness.tick(live)
    assert harness.enrollment("anna@firma.de", "webinar") is not None
    assert harness.enrollment("ben@firma.de", "webinar") is None
    webinar_mail = [m.to_address for m in harness.messages() if m.campaign_key == "webinar"]
    assert webinar_mail == ["anna@firma.de"]


def test_a_batch_of_history_does_not_stop_the_walk_to_live_events_after_it(harness: Harness) -> None:
    write_program(harness.root, extra=WEBINAR)
    harness.import_leads(LEADS, NOW)
    harness.tick(NOW)
    path = harness.root / "history.csv"
    path.write_text(HISTORY, encoding="utf-8")
    import_history(harness.store, lifecycle(harness).past(), path, NOW)
    with harness.store.begin() as conn:
        item = {"type": "webinar_attended", "email": "ben@firma.de", "occurred_at": NOW.isoformat()}
        record_events(conn, lifecycle(harness), [item], NOW)
    engine = harness.engine()
    engine.batch_size = 2  # the first batch is history only; the live event is in a later one
    engine.enter(NOW, TickReport(NOW))
    assert harness.enrollment("ben@firma.de", "webinar") is not None
    assert harness.enrollment("anna@firma.de", "webinar") is None
