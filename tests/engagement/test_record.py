"""Recording events: per-item errors, anonymous events joined later, idempotency, opt-outs."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.engine import Engine

from nurture.engagement import RecordResult, join_anonymous_events, record_events
from nurture.leads.addresses import suppression_hash
from nurture.store.schema import enrollments, leads, messages, suppressions
from tests.engagement.conftest import NOW, Mailroom


def record(store: Engine, items: list[object], *, unknown_leads: str = "keep") -> RecordResult:
    with store.begin() as conn:
        return record_events(conn, None, items, NOW, unknown_leads=unknown_leads)  # type: ignore[arg-type]


def test_good_items_are_stored_and_bad_ones_reported_by_index_and_field(
    store: Engine, mailroom: Mailroom
) -> None:
    lead_id = mailroom.lead("lena@alpenblick.de")
    result = record(
        store,
        [
            {"type": "download", "email": "Lena@Alpenblick.de", "occurred_at": "2026-03-01T10:00:00+01:00",
             "asset_type": "whitepaper"},
            {"email": "lena@alpenblick.de"},
            {"type": "Page View", "email": "lena@alpenblick.de"},
            {"type": "page_view", "email": "not-an-address"},
            {"type": "page_view", "email": "lena@alpenblick.de", "occurred_at": "yesterday"},
            {"type": "page_view", "email": "lena@alpenblick.de", "occurred_at": "2026-03-04T09:00:00Z"},
            {"type": "page_view"},
            "just text",
            {"type": "webinar.attended-live", "email": "lena@alpenblick.de", "url": "https://x.example/w"},
        ],
    )  # fmt: skip
    assert result.stored == 2
    assert [(e.index, e.field) for e in result.errors] == [
        (1, "type"),
        (2, "type"),
        (3, "email"),
        (4, "occurred_at"),
        (5, "occurred_at"),
        (6, "email"),
        (7, None),
    ]
    assert "more than a day in the future" in result.errors[4].message
    download, custom = mailroom.events()
    assert (download.lead_id, download.type, download.properties) == (
        lead_id,
        "download",
        {"asset_type": "whitepaper"},
    )
    assert download.occurred_at == NOW.replace(day=1, hour=9)
    assert (custom.type, custom.url, custom.occurred_at) == (
        "webinar.attended-live",
        "https://x.example/w",
        NOW,
    )


def test_an_event_of_an_unknown_address_is_kept_and_joined_when_the_lead_appears(
    store: Engine, mailroom: Mailroom
) -> None:
    result = record(
        store, [{"type": "page_view", "email": "new@firma.de", "url": "https://x.example/pricing"}]
    )
    assert (result.stored, result.anonymous) == (1, 1)
    (kept,) = mailroom.events()
    assert (kept.lead_id, kept.anonymous_email) == (None, "new@firma.de")

    lead_id = mailroom.lead("new@firma.de")
    with store.begin() as conn:
        assert join_anonymous_events(conn, None, [lead_id], NOW) == 1
        assert join_anonymous_events(conn, None, [lead_id], NOW) == 0
    (joined,) = mailroom.events()
    assert (joined.lead_id, joined.anonymous_email, joined.url) == (
        lead_id,
        None,
        "https://x.example/pricing",
    )


def test_unknown_addresses_are_refused_when_the_settings_say_so(store: Engine) -> None:
    result = record(store, [{"type": "page_view", "email": "new@firma.de"}], unknown_leads="refuse")
    (error,) = result.errors
    assert error.field == "email" and "no lead new@firma.de" in error.message
    assert result.stored == 0


def test_an_event_with_an_id_counts_once_however_often_it_is_sent(store: Engine, mailroom: Mailroom) -> None:
    mailroom.lead("lena@alpenblick.de")
    item = {"type": "download", "email": "lena@alpenblick.de", "id": "crm-4711"}
    first = record(store, [item, {**item}, {"type": "page_view", "email": "lena@alpenblick.de"}])
    again = record(store, [item, {"type": "page_view", "email": "lena@alpenblick.de", "idempotency_key": 7}])
    assert (first.stored, first.duplicates) == (2, 1)
    assert (again.stored, again.duplicates) == (1, 1)
    assert [e.idempotency_key for e in mailroom.events()] == ["crm-4711", None, "7"]


def test_a_message_reference_names_lead_campaign_and_step(store: Engine, mailroom: Mailroom) -> None:
    lead_id = mailroom.lead("lena@alpenblick.de")
    message_id = mailroom.message(lead_id, step="case-study")
    header = mailroom.row(messages, id=message_id).message_id
    result = record(
        store,
        [
            {"type": "email_click", "message_id": message_id, "url": "https://x.example/case"},
            {"type": "email_open", "message_id": header.strip("<>"), "user_agent": "Mozilla/5.0"},
            {"type": "email_open", "message_id": 999_999},
        ],
    )
    assert [(e.index, e.field) for e in result.errors] == [(2, "message_id")]
    click, open_ = mailroom.events()
    assert (click.lead_id, click.campaign_key, click.step_id, click.message_id) == (
        lead_id, "trial", "case-study", message_id,
    )  # fmt: skip
    assert click.machine_reason is None
    assert open_.machine_reason == "privacy_proxy:apple"


def test_an_unsubscribe_event_suppresses_the_address_and_ends_enrollments(
    store: Engine, mailroom: Mailroom
) -> None:
    lead_id = mailroom.lead("lena@alpenblick.de")
    mailroom.enrollment(lead_id)
    record(
        store,
        [
            {"type": "unsubscribe", "email": "lena@alpenblick.de", "source": "crm"},
            {"type": "bounce", "email": "gone@firma.de", "bounce_type": "hard"},
            {"type": "bounce", "email": "full@firma.de", "bounce_type": "soft"},
        ],
    )
    lead = mailroom.row(leads, id=lead_id)
    assert lead.unsubscribed_at == NOW
    assert mailroom.row(enrollments, lead_id=lead_id).status == "exited"
    with store.connect() as conn:
        reasons = dict(conn.execute(select(suppressions.c.email_hash, suppressions.c.reason)).all())
    assert reasons == {
        suppression_hash("lena@alpenblick.de"): "unsubscribe",
        suppression_hash("gone@firma.de"): "hard_bounce",
    }


def test_a_joined_unsubscribe_marks_the_new_lead_unsubscribed(store: Engine, mailroom: Mailroom) -> None:
    earlier = (NOW - timedelta(days=1)).isoformat()
    record(store, [{"type": "unsubscribe", "email": "new@firma.de", "occurred_at": earlier}])
    lead_id = mailroom.lead("new@firma.de")
    with store.begin() as conn:
        join_anonymous_events(conn, None, [lead_id], NOW)
    assert mailroom.row(leads, id=lead_id).unsubscribed_at == NOW - timedelta(days=1)


def test_property_limits_are_enforced(store: Engine) -> None:
    result = record(
        store,
        [
            {"type": "page_view", "email": "a@firma.de", "note": "x" * 20_000},
            {"type": "page_view", "email": "a@firma.de", **{f"p{i}": i for i in range(101)}},
            {"type": "page_view", "email": "a@firma.de", "id": "k" * 201},
            {"type": "page_view", "email": "a@firma.de", "score": float("nan")},
        ],
    )
    assert [(e.index, e.field) for e in result.errors] == [(0, None), (1, None), (2, "id"), (3, None)]
