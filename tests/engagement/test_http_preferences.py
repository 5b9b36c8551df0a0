"""The preference centre over a real socket: the page offers the lead's topics, a choice leaves one
topic or all, and the one-click POST leaves the topic its header names."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from nurture.clock import FixedClock
from nurture.definitions import load_program
from nurture.delivery.tracking import LinkTracker
from nurture.engagement.jsonl import import_events_file
from nurture.http import create_app
from nurture.leads.addresses import suppression_hash
from nurture.leads.consent import lead_consents
from nurture.lifecycle import Lifecycle
from nurture.store.schema import enrollments, leads, suppressions, topic_suppressions
from nurture.tokens import TokenSigner
from nurture.workspace import Workspace
from tests.browser import CHROMIUM, chromium_tab
from tests.engagement.conftest import INGEST_KEY, NOW, Live, Mailroom, make_context, serving
from tests.program import write_program

ONE_CLICK = {"content-type": "application/x-www-form-urlencoded"}
BEARER = {"authorization": f"Bearer {INGEST_KEY.decode()}"}
GERMAN = {"accept-language": "de-DE,de;q=0.9"}
TOPICS = """\
kind: Topic
key: newsletter
name: {de: Newsletter, en: Newsletter}
description: {de: "Einmal im Monat: <Neues> aus der Produktion", en: Once a month}
---
kind: Campaign
key: news
topic: newsletter
entry: {on: manual}
steps:
  - id: issue-1
    send: {template: t/newsletter, subject: "Ausgabe 1"}
"""


@pytest.fixture
def preferences(tmp_path: Path, store: Engine, signer: TokenSigner, clock: FixedClock) -> Iterator[Live]:
    """The app with a program of two topics (marketing: trial; newsletter: news)."""
    root = tmp_path / "program"
    root.mkdir()
    (root / "nurture.toml").write_text('secret_key = "preference-centre-secret-0123"\n', encoding="utf-8")
    write_program(root, extra=TOPICS)
    workspace = Workspace(root)
    program = load_program(workspace)
    context = make_context(store, signer, clock, Lifecycle.of(program, workspace.settings))
    with serving(create_app(context)) as url, httpx.Client(base_url=url, timeout=10) as client:
        yield Live(url, context, client, LinkTracker(signer, url))


def _topics_left(mailroom: Mailroom, email: str) -> set[str]:
    t = topic_suppressions.c
    with mailroom.store.connect() as conn:
        return set(conn.scalars(select(t.topic).where(t.email_hash == suppression_hash(email))))


def test_the_page_offers_the_leads_topics_with_the_emails_own_chosen(
    preferences: Live, mailroom: Mailroom
) -> None:
    lead_id = mailroom.lead("lena@alpenblick.de")
    url = preferences.tracker.unsubscribe_url(
        mailroom.message(lead_id, campaign="news"), lead_id, "newsletter"
    )
    page = preferences.client.get(url, headers=GERMAN)
    assert page.status_code == 200
    assert "Welche E-Mails an le***@alpenblick.de möchten Sie nicht mehr erhalten?" in page.text
    assert 'value="topic:newsletter" checked>' in page.text
    assert 'value="topic:marketing">' in page.text and "Marketing-E-Mails" in page.text
    assert 'value="all">' in page.text and "Allen Marketing-E-Mails" in page.text
    assert "&lt;Neues&gt;" in page.text and "<Neues>" not in page.text  # definitions are escaped too
    assert _topics_left(mailroom, "lena@alpenblick.de") == set() and mailroom.event_count() == 0


def test_one_click_leaves_only_the_topic_its_header_names(preferences: Live, mailroom: Mailroom) -> None:
    lead_id = mailroom.lead("lena@alpenblick.de")
    news = mailroom.enrollment(lead_id, campaign="news", step="issue-1")
    trial = mailroom.enrollment(lead_id, campaign="trial")
    url = preferences.tracker.unsubscribe_url(
        mailroom.message(lead_id, enrollment_id=news, campaign="news", step="issue-1"), lead_id, "newsletter"
    )
    with httpx.Client(timeout=10) as bare:  # a mail provider: no cookies, no session
        response = bare.post(url, content=b"List-Unsubscribe=One-Click", headers=ONE_CLICK)
    assert response.status_code == 200 and "location" not in response.headers
    assert "We will not send any more emails about “Newsletter” to le***@alpenblick.de." in response.text
    assert _topics_left(mailroom, "lena@alpenblick.de") == {"newsletter"}
    assert mailroom.row(leads, id=lead_id).unsubscribed_at is None
    assert mailroom.row(enrollments, id=news).status == "exited"
    assert mailroom.row(enrollments, id=trial).status == "active"
    (event,) = mailroom.events()
    assert (event.type, event.properties, event.campaign_key) == (
        "unsubscribe", {"source": "one_click", "topic": "newsletter"}, "news",
    )  # fmt: skip
    with mailroom.store.connect() as conn:
        (consent,) = lead_consents(conn, lead_id)
    assert (consent.topic, consent.status, consent.source, consent.ip, consent.at) == (
        "newsletter", "withdrawn", "link", "127.0.0.1", NOW,
    )  # fmt: skip
    # Retried by the mail system: the same answer, nothing recorded twice.
    assert (
        preferences.client.post(url, content=b"List-Unsubscribe=One-Click", headers=ONE_CLICK).status_code
        == 200
    )
    assert mailroom.event_count() == 1
    # The page now offers what is left, and says what was left before.
    page = preferences.client.get(url, headers=GERMAN).text
    assert 'value="topic:newsletter"' not in page and 'value="topic:marketing"' in page
    assert "Bereits abgemeldet: Newsletter" in page


def test_the_page_can_leave_another_topic_or_all(preferences: Live, mailroom: Mailroom) -> None:
    lead_id = mailroom.lead("lena@alpenblick.de")
    url = preferences.tracker.unsubscribe_url(
        mailroom.message(lead_id, campaign="news"), lead_id, "newsletter"
    )
    chosen = preferences.client.post(url, data={"leave": "topic:marketing"}, headers=GERMAN)
    assert "Wir senden keine E-Mails zum Thema „Marketing-E-Mails“ mehr" in chosen.text
    assert _topics_left(mailroom, "lena@alpenblick.de") == {"marketing"}

    everything = preferences.client.post(url, data={"leave": "all"})
    assert "You are unsubscribed." in everything.text
    assert mailroom.row(leads, id=lead_id).unsubscribed_at == NOW
    assert (
        mailroom.row(suppressions, email_hash=suppression_hash("lena@alpenblick.de")).reason == "unsubscribe"
    )
    with mailroom.store.connect() as conn:
        states = {(c.topic, c.status, c.source) for c in lead_consents(conn, lead_id)}
    assert states == {("marketing", "withdrawn", "link"), ("newsletter", "withdrawn", "link")}
    assert [e.properties for e in mailroom.events()] == [
        {"source": "page", "topic": "marketing"}, {"source": "page"},
    ]  # fmt: skip


def test_forged_and_changed_tokens_and_choices_are_refused(
    preferences: Live, mailroom: Mailroom, signer: TokenSigner
) -> None:
    lead_id = mailroom.lead("lena@alpenblick.de")
    other = mailroom.lead("max@bergwerk.at", first_name="Max")
    message_id = mailroom.message(lead_id, campaign="news")
    good = preferences.tracker.unsubscribe_url(message_id, lead_id, "newsletter").rsplit("/", 1)[1]
    forged = [
        good[:10] + ("A" if good[10] != "A" else "B") + good[11:],
        TokenSigner(b"somebody-else's-key-0123456789").sign("unsubscribe", (message_id, other, "newsletter")),
        signer.sign("click", (message_id, other, "newsletter")),  # signed, but for another purpose
        signer.sign("unsubscribe", (message_id, other, 7)),  # a topic that is no topic
    ]
    for token in forged:
        assert (
            preferences.client.post(
                f"/u/{token}", content=b"List-Unsubscribe=One-Click", headers=ONE_CLICK
            ).status_code
            == 404
        )
        assert preferences.client.get(f"/u/{token}").status_code == 404
    # A choice the page never offered: refused, nothing recorded.
    refused = preferences.client.post(f"/u/{good}", data={"leave": "topic:../../admin"})
    assert refused.status_code == 400
    assert mailroom.event_count() == 0 and _topics_left(mailroom, "lena@alpenblick.de") == set()
    assert mailroom.row(leads, id=other).unsubscribed_at is None


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium)")
def test_a_reader_chooses_a_topic_in_chromium_and_submits(
    preferences: Live, mailroom: Mailroom, tmp_path: Path
) -> None:
    lead_id = mailroom.lead("lena@alpenblick.de")
    url = preferences.tracker.unsubscribe_url(
        mailroom.message(lead_id, campaign="news"), lead_id, "newsletter"
    )
    with chromium_tab(tmp_path / "profile", "--lang=de-DE", "--accept-lang=de-DE,de") as tab:
        tab.open(url)
        assert tab.evaluate("document.querySelector('input[name=leave]:checked').value") == "topic:newsletter"
        # The reader picks the other topic and presses the button, as a hand on a mouse would.
        tab.evaluate("document.querySelector('input[value=\"topic:marketing\"]').click()")
        tab.evaluate("document.querySelector('button[type=submit]').click()")
        text = tab.wait_for(
            "document.querySelector('h1') && document.body.innerText.includes('abgemeldet') "
            "&& document.body.innerText"
        )
    assert "Wir senden keine E-Mails zum Thema „Marketing-E-Mails“ mehr an le***@alpenblick.de." in text
    assert _topics_left(mailroom, "lena@alpenblick.de") == {"marketing"}
    (event,) = mailroom.events()
    assert event.properties == {"source": "page", "topic": "marketing"}


def test_an_unsubscribe_event_with_a_topic_leaves_that_topic_only(
    preferences: Live, mailroom: Mailroom
) -> None:
    lead_id = mailroom.lead("lena@alpenblick.de")
    news = mailroom.enrollment(lead_id, campaign="news", step="issue-1")
    trial = mailroom.enrollment(lead_id, campaign="trial")
    items = [
        {"type": "unsubscribe", "email": "lena@alpenblick.de", "id": "crm-1", "topic": "newsletter",
         "occurred_at": (NOW - timedelta(hours=2)).isoformat()},
        {"type": "unsubscribe", "email": "lena@alpenblick.de", "id": "crm-2",
         "properties": {"topic": "newslettre"}},
    ]  # fmt: skip
    answer = preferences.client.post("/api/events", json={"events": items}, headers=BEARER)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["stored"], body["rejected"]) == (1, 1)
    (error,) = body["errors"]
    assert (error["index"], error["field"]) == (1, "properties.topic")
    assert "no topic 'newslettre'; did you mean 'newsletter'?" in error["error"]
    # As if she had left the newsletter on the preference centre, with the API as the source.
    assert _topics_left(mailroom, "lena@alpenblick.de") == {"newsletter"}
    assert mailroom.row(leads, id=lead_id).unsubscribed_at is None
    with mailroom.store.connect() as conn:
        assert conn.scalar(select(suppressions.c.reason)) is None  # no workspace-wide suppression
    assert mailroom.row(enrollments, id=news).status == "exited"
    assert mailroom.row(enrollments, id=news).exit_reason == "unsubscribed from newsletter"
    assert mailroom.row(enrollments, id=trial).status == "active"
    with mailroom.store.connect() as conn:
        assert [(c.topic, c.status, c.source, c.at) for c in lead_consents(conn, lead_id)] == [
            ("newsletter", "withdrawn", "api", NOW - timedelta(hours=2))  # when she left, as the CRM says
        ]
    assert [e.properties for e in mailroom.events()] == [{"topic": "newsletter"}]  # nothing of crm-2

    # Without a topic, or with "all", an unsubscribe leaves every marketing email as before.
    everything = {"type": "unsubscribe", "email": "lena@alpenblick.de", "id": "crm-3", "topic": "all"}
    assert preferences.client.post("/api/events", json=[everything], headers=BEARER).json()["stored"] == 1
    assert mailroom.row(leads, id=lead_id).unsubscribed_at == NOW
    assert mailroom.row(enrollments, id=trial).status == "exited"
    assert (
        mailroom.row(suppressions, email_hash=suppression_hash("lena@alpenblick.de")).reason == "unsubscribe"
    )


def test_an_imported_unsubscribe_with_a_topic_leaves_that_topic_only(
    preferences: Live, mailroom: Mailroom, tmp_path: Path
) -> None:
    lead_id = mailroom.lead("lena@alpenblick.de")
    news = mailroom.enrollment(lead_id, campaign="news", step="issue-1")
    path = tmp_path / "unsubscribes.jsonl"
    lines = [
        {"type": "unsubscribe", "email": "lena@alpenblick.de", "topic": "newsletter"},
        {"type": "unsubscribe", "email": "lena@alpenblick.de", "topic": "Webinare"},
        {"type": "unsubscribe", "email": "lena@alpenblick.de", "topic": 7},
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    report = import_events_file(mailroom.store, preferences.context.lifecycle, path, NOW)
    assert (report.stored, report.rejected) == (1, 2)
    assert [(p.line, p.message.split(":")[0]) for p in report.problems] == [
        (2, "properties.topic"), (3, "properties.topic"),
    ]  # fmt: skip
    assert "no topic 'Webinare' (topics: marketing, newsletter, or 'all')" in report.problems[0].message
    assert _topics_left(mailroom, "lena@alpenblick.de") == {"newsletter"}
    assert mailroom.row(enrollments, id=news).status == "exited"
    assert mailroom.row(leads, id=lead_id).unsubscribed_at is None
    with mailroom.store.connect() as conn:
        assert [(c.topic, c.status, c.source) for c in lead_consents(conn, lead_id)] == [
            ("newsletter", "withdrawn", "import")
        ]
    assert mailroom.event_count() == 1
