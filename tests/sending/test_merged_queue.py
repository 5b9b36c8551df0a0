"""Emails queued for a record that is then merged into another (``nurture leads merge``): they go
to the kept record's address, and the address checked against suppressions is the one mailed."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime

from sqlalchemy import select, update

from nurture.delivery.transports import MemoryTransport
from nurture.engagement.optouts import add_suppression
from nurture.leads.combine import merge_leads, plan_merge
from nurture.store.schema import leads, messages
from tests.harness import Harness
from tests.sending.test_outbox import LEADS, deliver

MONDAY = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)
KEEP, OTHER = "jens@rheinwerk.de", "anna@alpenblick.de"


def _merge(h: Harness) -> None:
    with h.store.begin() as conn:
        merge_leads(conn, plan_merge(conn, KEEP, OTHER), MONDAY, then=None)


def test_the_merged_away_records_queued_email_goes_to_the_kept_address(harness: Harness) -> None:
    h = harness
    h.import_leads(LEADS, MONDAY)
    h.tick(MONDAY)
    _merge(h)
    assert [m.to_address for m in h.messages()] == [KEEP, KEEP]
    transport = MemoryTransport()
    assert deliver(h, MONDAY, transport).outcomes == {"sent": 2}
    assert [m.recipients for m in transport.sent] == [(KEEP,), (KEEP,)]


def test_a_suppression_of_the_kept_address_holds_back_the_merged_away_records_email(harness: Harness) -> None:
    h = harness
    h.import_leads(LEADS, MONDAY)
    h.tick(MONDAY)
    _merge(h)
    with h.store.begin() as conn:
        add_suppression(conn, KEEP, "hard_bounce", "5.1.1 user unknown", MONDAY)
    transport = MemoryTransport()
    assert deliver(h, MONDAY, transport).outcomes == {"suppressed": 2}
    assert transport.sent == []


def test_the_email_goes_to_the_address_it_was_checked_against(harness: Harness) -> None:
    h = harness
    h.import_leads(LEADS, MONDAY)
    h.tick(MONDAY)
    with h.store.begin() as conn:  # the lead's address changes while the email waits
        conn.execute(update(leads).where(leads.c.email == OTHER).values(email="anna.m@alpenblick.de"))
    transport = MemoryTransport()
    assert deliver(h, MONDAY, transport).outcomes == {"sent": 2}
    with h.store.connect() as conn:
        queued_to = set(conn.scalars(select(messages.c.to_address)))
    assert {m.recipients[0] for m in transport.sent} == queued_to == {OTHER, KEEP}
    headers = [email.message_from_bytes(m.data, policy=email.policy.default)["To"] for m in transport.sent]
    assert {h.addresses[0].addr_spec for h in headers} == {OTHER, KEEP}
