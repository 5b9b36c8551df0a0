"""Consent before sending: without confirmed consent for the campaign's topic, nothing is sent."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from nurture.delivery.transports import MemoryTransport
from nurture.store.schema import messages
from tests.harness import Harness
from tests.sending.test_outbox import deliver

MONDAY = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)
LEADS = (
    "email,first_name,country,timezone\n"
    "anna@alpenblick.de,Anna,DE,Europe/Berlin\n"
    "jens@rheinwerk.de,Jens,DE,Europe/Berlin\n"
    "mia@seeblick.ch,Mia,CH,Europe/Zurich\n"
)
ENV = {"NURTURE_NOW": MONDAY.isoformat()}


def _settings(h: Harness, line: str) -> None:
    path = h.root / "nurture.toml"
    path.write_text(path.read_text() + line + "\n", encoding="utf-8")


def _outbox(h: Harness) -> dict[str, tuple[str, str | None]]:
    with h.store.connect() as conn:
        rows = conn.execute(select(messages.c.to_address, messages.c.status, messages.c.last_error))
        return {r.to_address: (r.status, r.last_error) for r in rows}


def test_leads_without_confirmed_consent_get_nothing(harness: Harness, cli: Any) -> None:
    h = harness
    _settings(h, "require_consent = true")
    h.import_leads(LEADS, MONDAY)
    given = cli(
        "consent", "anna@alpenblick.de", "confirmed", "--source", "form:trial", "--text-version", "v3",
        "--ip", "203.0.113.7", env=ENV,
    )  # fmt: skip
    assert given.exit_code == 0, given.output
    assert cli("consent", "jens@rheinwerk.de", "confirmed", env=ENV).exit_code == 0
    assert cli("consent", "jens@rheinwerk.de", "withdrawn", env=ENV).exit_code == 0  # the latest counts
    report = h.tick(MONDAY)
    assert report.refused == {"no consent": 2}
    assert _outbox(h) == {
        "anna@alpenblick.de": ("queued", None),
        "jens@rheinwerk.de": ("suppressed", "no consent"),
        "mia@seeblick.ch": ("suppressed", "no consent"),
    }
    transport = MemoryTransport()
    assert deliver(h, MONDAY, transport).outcomes == {"sent": 1}
    assert [m.recipients for m in transport.sent] == [("anna@alpenblick.de",)]

    shown = json.loads(cli("leads", "show", "anna@alpenblick.de", "--json", env=ENV).output)
    assert shown["consent"] == [
        {
            "topic": "marketing", "status": "confirmed", "at": MONDAY.isoformat(), "source": "form:trial",
            "text_version": "v3", "ip": "203.0.113.7",
        }
    ]  # fmt: skip
    jens = cli("leads", "show", "jens@rheinwerk.de", env=ENV).output
    assert "withdrawn" in jens and "suppressed: no consent" in jens


def test_consent_is_required_only_for_the_topics_named(harness: Harness) -> None:
    h = harness
    _settings(h, 'require_consent = ["newsletter"]')
    h.import_leads(LEADS, MONDAY)
    h.tick(MONDAY)
    assert {status for status, _ in _outbox(h).values()} == {"queued"}  # trial's topic is marketing


def test_a_topic_suppression_keeps_that_topic_from_the_address(harness: Harness, cli: Any) -> None:
    h = harness
    h.import_leads(LEADS, MONDAY)
    listed = h.root / "old-tool.txt"
    listed.write_text("mia@seeblick.ch\n", encoding="utf-8")
    result = cli("suppressions", "import", str(listed), "--topic", "marketing", env=ENV)
    assert result.exit_code == 0, result.output
    other = h.root / "other.txt"
    other.write_text("jens@rheinwerk.de\n", encoding="utf-8")
    assert cli("suppressions", "import", str(other), "--topic", "newsletter", env=ENV).exit_code == 0
    h.tick(MONDAY)
    outbox = _outbox(h)
    assert outbox["mia@seeblick.ch"] == ("suppressed", "topic marketing suppressed (manual)")
    assert outbox["jens@rheinwerk.de"] == ("queued", None)  # another topic's list


def test_consent_withdrawn_while_the_email_waits_stops_it_at_sending(harness: Harness, cli: Any) -> None:
    h = harness
    _settings(h, "require_consent = true")
    h.import_leads(LEADS, MONDAY)
    for address in ("anna@alpenblick.de", "jens@rheinwerk.de", "mia@seeblick.ch"):
        assert cli("consent", address, "confirmed", env=ENV).exit_code == 0
    assert h.tick(MONDAY).refused == {}
    assert {status for status, _ in _outbox(h).values()} == {"queued"}
    # While the emails wait: Jens withdraws his consent, Mia's address arrives on an imported list.
    assert cli("consent", "jens@rheinwerk.de", "withdrawn", env=ENV).exit_code == 0
    listed = h.root / "old-tool.txt"
    listed.write_text("mia@seeblick.ch\n", encoding="utf-8")
    assert cli("suppressions", "import", str(listed), "--topic", "marketing", env=ENV).exit_code == 0

    report = deliver(h, MONDAY)  # the workspace's Maildir transport
    assert report.outcomes == {"sent": 1, "suppressed": 2}
    delivered = [f.read_text(encoding="utf-8") for f in (h.root / "outbox" / "new").iterdir()]
    assert len(delivered) == 1 and "anna@alpenblick.de" in delivered[0]
    assert _outbox(h) == {
        "anna@alpenblick.de": ("sent", None),
        "jens@rheinwerk.de": ("suppressed", "no consent"),
        "mia@seeblick.ch": ("suppressed", "topic marketing suppressed (manual)"),
    }


def test_a_topic_suppression_stops_waiting_mail_without_required_consent(harness: Harness, cli: Any) -> None:
    h = harness
    h.import_leads(LEADS, MONDAY)
    h.tick(MONDAY)
    other = h.root / "other.txt"
    other.write_text("jens@rheinwerk.de\nmia@seeblick.ch\n", encoding="utf-8")
    assert cli("suppressions", "import", str(other), "--topic", "newsletter", env=ENV).exit_code == 0
    listed = h.root / "old-tool.txt"
    listed.write_text("mia@seeblick.ch\n", encoding="utf-8")
    assert cli("suppressions", "import", str(listed), "--topic", "marketing", env=ENV).exit_code == 0
    assert deliver(h, MONDAY).outcomes == {"sent": 2, "suppressed": 1}
    assert _outbox(h)["mia@seeblick.ch"] == ("suppressed", "topic marketing suppressed (manual)")
    assert _outbox(h)["jens@rheinwerk.de"] == ("sent", None)  # another topic's list
