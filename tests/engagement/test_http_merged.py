"""Links in emails sent to a record that was merged into another (``nurture leads merge``): the
record's row is gone, its emails moved to the kept record, and an unsubscribe through them is the
kept record's choice, recorded, not answered as done and dropped."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from nurture.leads.addresses import suppression_hash
from nurture.leads.combine import merge_leads, plan_merge
from nurture.leads.consent import lead_consents
from nurture.store.schema import leads, suppressions
from tests.engagement import test_http_preferences
from tests.engagement.conftest import NOW, Live, Mailroom
from tests.engagement.test_http_preferences import ONE_CLICK, _topics_left

preferences = test_http_preferences.preferences  # the app with the newsletter topic

KEEP, OTHER = "lena.wolf@alpenblick.de", "lena@alpenblick.de"


def _merge(store: Engine) -> None:
    with store.begin() as conn:
        merge_leads(conn, plan_merge(conn, KEEP, OTHER), NOW, then=None)


def test_one_click_from_the_merged_away_record_unsubscribes_the_kept_one(
    live: Live, mailroom: Mailroom
) -> None:
    keep, other = mailroom.lead(KEEP), mailroom.lead(OTHER)
    url = live.tracker.unsubscribe_url(mailroom.message(other), other)
    _merge(mailroom.store)
    response = live.client.post(url, content=b"List-Unsubscribe=One-Click", headers=ONE_CLICK)
    assert response.status_code == 200 and "le***@alpenblick.de" in response.text
    assert mailroom.row(leads, id=keep).unsubscribed_at == NOW
    assert mailroom.row(suppressions, email_hash=suppression_hash(KEEP)).reason == "unsubscribe"
    (event,) = mailroom.events()
    assert (event.type, event.lead_id) == ("unsubscribe", keep)


def test_the_page_of_the_merged_away_record_leaves_a_topic_for_the_kept_one(
    preferences: Live, mailroom: Mailroom
) -> None:
    keep, other = mailroom.lead(KEEP), mailroom.lead(OTHER)
    url = preferences.tracker.unsubscribe_url(mailroom.message(other, campaign="news"), other, "newsletter")
    _merge(mailroom.store)
    page = preferences.client.get(url)
    assert page.status_code == 200 and 'value="topic:newsletter" checked>' in page.text
    chosen = preferences.client.post(url, data={"leave": "topic:newsletter"})
    assert chosen.status_code == 200
    assert _topics_left(mailroom, KEEP) == {"newsletter"}
    with mailroom.store.connect() as conn:
        assert [(c.topic, c.status) for c in lead_consents(conn, keep)] == [("newsletter", "withdrawn")]
    everything = preferences.client.post(url, data={"leave": "all"})
    assert "You are unsubscribed." in everything.text
    assert mailroom.row(leads, id=keep).unsubscribed_at == NOW
    assert [e.lead_id for e in mailroom.events()] == [keep, keep]
