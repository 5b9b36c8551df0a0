"""Topics and transactional mail: leaving a topic stops that topic only; leaving all stops every
marketing email but not the transactional ones; a hard bounce stops those too."""

from __future__ import annotations

import email
import email.policy
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from nurture.delivery.tracking import LinkTracker
from nurture.delivery.transports import MemoryTransport
from nurture.engagement import suppress, unsubscribe
from nurture.engagement.preferences import leave_all, leave_topic
from nurture.leads.consent import lead_consents
from nurture.store.schema import enrollments, leads, messages
from nurture.tokens import TokenSigner
from tests.harness import Harness
from tests.program import write_program
from tests.sending.test_outbox import deliver

MONDAY = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
ANNA = "anna@alpenblick.de"
LEADS = f"email,first_name,country,timezone\n{ANNA},Anna,DE,Europe/Berlin\n"

EXTRA = """\
kind: Topic
key: newsletter
name: {de: Newsletter, en: Newsletter}
---
kind: Campaign
key: news
topic: newsletter
entry: {on: lead_created}
steps:
  - id: issue-1
    send: {template: t/newsletter, subject: "Ausgabe 1"}
  - wait: 1d
  - id: issue-2
    send: {template: t/newsletter, subject: "Ausgabe 2"}
---
kind: Campaign
key: webinar
mail: transactional
entry: {on: lead_created}
steps:
  - id: access
    send: {template: t/welcome, subject: "Ihr Zugang"}
  - wait: 1d
  - id: reminder
    send: {template: t/reminder, subject: "Heute um 10 Uhr"}
"""


def _program(h: Harness, cap: int = 3) -> None:
    write_program(h.root, extra=EXTRA)
    path = h.root / "nurture.toml"
    text = path.read_text().replace("frequency_cap = 3", f"frequency_cap = {cap}")
    path.write_text(text, encoding="utf-8")


def _anna(h: Harness) -> int:
    with h.store.connect() as conn:
        return int(conn.scalar(select(leads.c.id).where(leads.c.email == ANNA)))


def _outbox(h: Harness) -> dict[str, tuple[str, str, str | None]]:
    m = messages.c
    with h.store.connect() as conn:
        rows = conn.execute(select(m.campaign_key, m.step_id, m.kind, m.status, m.last_error).order_by(m.id))
        return {f"{r.campaign_key}/{r.step_id}": (r.kind, r.status, r.last_error) for r in rows}


def _enrollment(h: Harness, campaign: str) -> tuple[str, str | None]:
    e = enrollments.c
    with h.store.connect() as conn:
        row = conn.execute(select(e.status, e.exit_reason).where(e.campaign_key == campaign)).one()
    return row.status, row.exit_reason


def _start(h: Harness) -> int:
    h.import_leads(LEADS, MONDAY - timedelta(minutes=5))
    report = h.tick(MONDAY)
    assert sorted(report.queued) == [("news", "issue-1"), ("trial", "welcome"), ("webinar", "access")]
    return _anna(h)


def test_leaving_a_topic_stops_that_topics_campaign_and_no_other(harness: Harness) -> None:
    h = harness
    _program(h)
    lead_id = _start(h)
    then = h.engine().then
    with h.store.begin() as conn:
        left = leave_topic(conn, lead_id, "newsletter", MONDAY, channel="page", ip="203.0.113.9", then=then)
        again = leave_topic(conn, lead_id, "newsletter", MONDAY, channel="one_click", then=then)
    assert (left.already, left.enrollments_ended, again.already) == (False, 1, True)
    assert _enrollment(h, "news") == ("exited", "unsubscribed from newsletter")
    assert _enrollment(h, "trial")[0] == _enrollment(h, "webinar")[0] == "active"

    transport = MemoryTransport()
    assert deliver(h, MONDAY, transport).outcomes == {"sent": 2, "suppressed": 1}
    outbox = _outbox(h)
    assert outbox["news/issue-1"] == ("marketing", "suppressed", "topic newsletter suppressed (unsubscribe)")
    assert outbox["trial/welcome"] == ("marketing", "sent", None)
    assert outbox["webinar/access"] == ("transactional", "sent", None)
    with h.store.connect() as conn:
        (consent,) = lead_consents(conn, lead_id)
    assert (consent.topic, consent.status, consent.source, consent.ip) == (
        "newsletter", "withdrawn", "link", "203.0.113.9",
    )  # fmt: skip
    # The next day: the webinar's reminder goes out; the newsletter's second issue never queues.
    h.tick(MONDAY + timedelta(days=1, minutes=1))
    assert "news/issue-2" not in _outbox(h)
    assert _outbox(h)["webinar/reminder"] == ("transactional", "queued", None)


def test_leaving_all_stops_marketing_mail_but_not_transactional(harness: Harness) -> None:
    h = harness
    _program(h)
    lead_id = _start(h)
    then = h.engine().then
    with h.store.begin() as conn:
        outcome = leave_all(conn, lead_id, then.program.topics, MONDAY, channel="page", ip=None, then=then)
    assert outcome.enrollments_ended == 2  # trial and news; the webinar goes on
    assert _enrollment(h, "webinar") == ("active", None)
    assert deliver(h, MONDAY).outcomes == {"sent": 1, "suppressed": 2}
    outbox = _outbox(h)
    assert outbox["webinar/access"] == ("transactional", "sent", None)
    assert outbox["trial/welcome"][1:] == ("suppressed", "address suppressed (unsubscribe)")
    with h.store.connect() as conn:
        topics = {(c.topic, c.status, c.source) for c in lead_consents(conn, lead_id)}
    assert topics == {("marketing", "withdrawn", "link"), ("newsletter", "withdrawn", "link")}
    h.tick(MONDAY + timedelta(days=1, minutes=1))
    assert _outbox(h)["webinar/reminder"] == ("transactional", "queued", None)


def test_a_hard_bounce_stops_transactional_mail_too(harness: Harness) -> None:
    h = harness
    _program(h)
    lead_id = _start(h)
    then = h.engine().then
    with h.store.begin() as conn:
        leave_all(conn, lead_id, then.program.topics, MONDAY, channel="page", then=then)
        bounced = suppress(conn, ANNA, "hard_bounce", MONDAY, "550 5.1.1 no such user", then=then)
    # The bounce replaces the unsubscribe as the reason: it holds for every kind of email.
    assert (bounced.already, bounced.enrollments_ended) == (False, 1)
    assert _enrollment(h, "webinar") == ("exited", "address bounced (hard)")
    assert deliver(h, MONDAY).outcomes == {"suppressed": 3}
    assert _outbox(h)["webinar/access"] == ("transactional", "suppressed", "address suppressed (hard_bounce)")


def test_transactional_mail_passes_the_frequency_cap_and_is_not_counted(harness: Harness) -> None:
    h = harness
    _program(h, cap=1)
    h.import_leads(LEADS, MONDAY - timedelta(minutes=5))
    report = h.tick(MONDAY)
    # One marketing email fits under the cap; the other waits; the webinar access goes anyway.
    assert report.deferred == {"frequency cap": 1}
    kinds = sorted(kind for kind, _, _ in _outbox(h).values())
    assert kinds == ["marketing", "transactional"]


def test_transactional_mail_needs_no_marketing_consent(harness: Harness) -> None:
    h = harness
    _program(h)
    path = h.root / "nurture.toml"
    path.write_text(path.read_text() + "require_consent = true\n", encoding="utf-8")
    h.import_leads(LEADS, MONDAY - timedelta(minutes=5))
    h.tick(MONDAY)
    outbox = _outbox(h)
    assert outbox["webinar/access"] == ("transactional", "queued", None)
    assert outbox["trial/welcome"] == ("marketing", "suppressed", "no consent")


def test_a_transactional_email_has_no_list_unsubscribe_and_no_tracking(harness: Harness) -> None:
    h = harness
    _program(h)
    _start(h)
    transport = MemoryTransport()
    assert deliver(h, MONDAY, transport).outcomes == {"sent": 3}
    sent = {}
    for message in transport.sent:
        parsed = email.message_from_bytes(message.data, policy=email.policy.default)
        parts = [p.get_content() for p in parsed.walk() if not p.is_multipart()]
        headers = "".join(f"{k}: {v}\n" for k, v in parsed.items())
        sent[str(parsed["X-Nurture-Campaign"])] = headers + "\n".join(parts)
    webinar, news = sent["webinar/access"], sent["news/issue-1"]
    assert "List-Unsubscribe" not in webinar and "/o/" not in webinar and "/c/" not in webinar
    assert "https://taktwerk.example/access" in webinar  # the link as written
    # A marketing email names its topic in the signed one-click URL.
    assert "List-Unsubscribe-Post: List-Unsubscribe=One-Click" in news and "/o/" in news and "/c/" in news
    header = news.split("List-Unsubscribe: <", 1)[1].split(">", 1)[0]
    tracker = LinkTracker(TokenSigner(b"test-secret-key-0123456789"), "https://unused.example")
    assert tracker.read_unsubscribe(header.rsplit("/", 1)[1])[2] == "newsletter"


def test_transactional_mail_is_shown_as_its_kind(harness: Harness, cli: Any) -> None:
    h = harness
    _program(h)
    _start(h)
    assert deliver(h, MONDAY).outcomes == {"sent": 3}
    env = {"NURTURE_NOW": (MONDAY + timedelta(hours=1)).isoformat()}
    campaigns = json.loads(cli("campaigns", "--json", env=env).output)["campaigns"]
    assert {c["campaign"]: c["mail"] for c in campaigns} == {
        "news": "marketing", "recycle": "marketing", "trial": "marketing", "webinar": "transactional",
    }  # fmt: skip
    shown = json.loads(cli("leads", "show", ANNA, "--json", env=env).output)
    assert {m["campaign"]: m["kind"] for m in shown["messages"]} == {
        "trial": "marketing", "news": "marketing", "webinar": "transactional",
    }  # fmt: skip
    assert "transactional" in cli("leads", "show", ANNA, env=env).output
    report = json.loads(cli("report", "--json", env=env).output)
    steps = {s["step"]: s for c in report["campaigns"] for s in c["steps"]}
    assert (steps["access"]["kind"], steps["access"]["sent"], steps["access"]["open_rate"]) == (
        "transactional", 1, None,
    )  # fmt: skip
    assert steps["welcome"]["kind"] == "marketing" and steps["welcome"]["open_rate"] == 0.0


def test_a_lead_who_left_marketing_mail_still_enters_a_transactional_campaign(harness: Harness) -> None:
    h = harness
    _program(h)
    with h.store.begin() as conn:  # the address left every marketing email before it was a lead
        assert not unsubscribe(conn, ANNA, MONDAY - timedelta(days=1), "import").already
    h.import_leads(LEADS, MONDAY - timedelta(minutes=5))
    report = h.tick(MONDAY)
    assert +report.entered == {"webinar": 1}
    assert _outbox(h) == {"webinar/access": ("transactional", "queued", None)}


def test_preview_shows_a_transactional_email_as_it_will_go(harness: Harness, cli: Any) -> None:
    h = harness
    _program(h)
    env = {"NURTURE_NOW": MONDAY.isoformat()}
    webinar = cli("preview", "webinar", "access", "--sample", "--part", "eml", env=env)
    assert webinar.exit_code == 0, webinar.output
    assert "List-Unsubscribe" not in webinar.output and "/o/" not in webinar.output
    news = cli("preview", "news", "issue-1", "--sample", "--part", "eml", env=env)
    assert "List-Unsubscribe-Post: List-Unsubscribe=One-Click" in news.output
