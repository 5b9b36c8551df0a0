"""Unsubscribe and suppression: at once, once, and for addresses that are not leads yet."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from nurture.engagement import suppress, unsubscribe
from nurture.leads.addresses import suppression_hash
from nurture.store.schema import enrollments, leads, suppressions
from tests.engagement.conftest import NOW, Mailroom


def test_unsubscribing_ends_every_active_enrollment_at_once(store: Engine, mailroom: Mailroom) -> None:
    lead_id = mailroom.lead("lena@alpenblick.de")
    first, second = mailroom.enrollment(lead_id, "trial"), mailroom.enrollment(lead_id, "newsletter")
    message_id = mailroom.message(lead_id, enrollment_id=first, step="welcome")
    with store.begin() as conn:
        outcome = unsubscribe(conn, lead_id, NOW, "one_click", message_id=message_id)
    assert not outcome.already and outcome.enrollments_ended == 2
    for enrollment_id in (first, second):
        row = mailroom.row(enrollments, id=enrollment_id)
        assert (row.status, row.exit_reason, row.ended_at) == ("exited", "unsubscribed", NOW)
    assert mailroom.row(leads, id=lead_id).unsubscribed_at == NOW
    assert (
        mailroom.row(suppressions, email_hash=suppression_hash("lena@alpenblick.de")).reason == "unsubscribe"
    )
    (event,) = mailroom.events()
    assert (event.type, event.campaign_key, event.step_id, event.properties) == (
        "unsubscribe", "trial", "welcome", {"source": "one_click"},
    )  # fmt: skip


def test_a_second_unsubscribe_changes_nothing(store: Engine, mailroom: Mailroom) -> None:
    lead_id = mailroom.lead("lena@alpenblick.de")
    with store.begin() as conn:
        unsubscribe(conn, "Lena@Alpenblick.de", NOW, "page")
    with store.begin() as conn:
        again = unsubscribe(conn, lead_id, NOW, "one_click")
    assert again.already and again.event_id is None
    assert len(mailroom.events()) == 1


def test_a_hard_bounce_suppresses_without_marking_the_lead_unsubscribed(
    store: Engine, mailroom: Mailroom
) -> None:
    lead_id = mailroom.lead("lena@alpenblick.de")
    mailroom.enrollment(lead_id)
    with store.begin() as conn:
        outcome = suppress(conn, "lena@alpenblick.de", "hard_bounce", NOW, "550 5.1.1 user unknown")
    assert outcome.enrollments_ended == 1
    assert mailroom.row(leads, id=lead_id).unsubscribed_at is None
    row = mailroom.row(suppressions, email_hash=suppression_hash("lena@alpenblick.de"))
    assert (row.reason, row.detail) == ("hard_bounce", "550 5.1.1 user unknown")
    (event,) = mailroom.events()
    assert (event.type, event.properties["bounce_type"]) == ("bounce", "hard")
    # A complaint later keeps the first reason but still marks the lead unsubscribed.
    with store.begin() as conn:
        suppress(conn, "lena@alpenblick.de", "complaint", NOW, "feedback loop")
    assert mailroom.row(leads, id=lead_id).unsubscribed_at == NOW
    assert (
        mailroom.row(suppressions, email_hash=suppression_hash("lena@alpenblick.de")).reason == "hard_bounce"
    )


def test_an_address_that_is_not_a_lead_is_suppressed_all_the_same(store: Engine, mailroom: Mailroom) -> None:
    with store.begin() as conn:
        outcome = suppress(conn, "Stranger@Firma.de", "complaint", NOW)
    assert outcome.lead_id is None and outcome.email_hash == suppression_hash("stranger@firma.de")
    (event,) = mailroom.events()
    assert (event.lead_id, event.anonymous_email, event.type) == (None, "stranger@firma.de", "complaint")
    with store.connect() as conn:
        assert conn.scalar(select(suppressions.c.reason)) == "complaint"


def test_an_unknown_reason_is_refused(store: Engine) -> None:
    with store.begin() as conn, pytest.raises(ValueError, match="not a suppression reason"):
        suppress(conn, "a@firma.de", "bored", NOW)
