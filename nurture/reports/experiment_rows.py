"""The database side of judging experiments: emails sent as a variant, and who entered each
campaign with a holdout (with the mail they got), as plain rows up to ``now``."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import Connection, and_, func, select

from nurture.reports.experiments import HoldoutMember, VariantSend
from nurture.store import bulk
from nurture.store.schema import enrollments, events, messages, variant_winners

OPEN, CLICK = "email_open", "email_click"


def variant_sends(conn: Connection, now: datetime) -> list[VariantSend]:
    """Every email the split gave a variant (those sent to everyone as the winner are not part of
    the test), with a person's first open and click of each."""
    m, e = messages.c, events.c
    first = (
        select(e.message_id, e.type, func.min(e.occurred_at).label("at"))
        .join(messages, messages.c.id == e.message_id)
        .where(
            m.variant_source == "split",
            e.type.in_((OPEN, CLICK)),
            e.machine_reason.is_(None),
            e.occurred_at <= now,
        )
        .group_by(e.message_id, e.type)
    )
    opened: dict[int, datetime] = {}
    clicked: dict[int, datetime] = {}
    for message_id, type_, at in conn.execute(first):
        instant = bulk.read_instant(at)
        assert instant is not None
        if type_ == CLICK:
            clicked[message_id] = instant
        # A click counts as an open: a reader who blocks images still read the email.
        opened[message_id] = min(instant, opened.get(message_id, instant))
    rows = conn.execute(
        select(
            m.id, m.lead_id, m.campaign_key, m.step_id, m.variant, m.created_at, m.sent_at, m.status
        ).where(m.variant_source == "split", m.created_at <= now)
    )
    found = []
    for id_, lead_id, campaign, step, variant, created, sent, status in rows:
        sent_at = bulk.read_instant(sent) if status == "sent" else None
        if sent_at is not None and sent_at > now:
            sent_at = None
        created_at = bulk.read_instant(created)
        assert created_at is not None
        found.append(
            VariantSend(
                int(lead_id), campaign, step, variant, created_at, sent_at, opened.get(id_), clicked.get(id_)
            )
        )
    return found


def promoted_winners(conn: Connection) -> dict[tuple[str, str], str]:
    w = variant_winners.c
    return {(k, s): v for k, s, v in conn.execute(select(w.campaign_key, w.step_id, w.variant))}


def holdout_members(
    conn: Connection, campaigns: Iterable[tuple[str, timedelta]], now: datetime
) -> list[HoldoutMember]:
    """Each lead's first entry into each of ``campaigns`` (key, outcome window), held out or not,
    with the marketing emails it was sent in the window: by that campaign and by all others."""
    en, m = enrollments.c, messages.c
    found: list[HoldoutMember] = []
    for key, within in campaigns:
        entries: dict[int, tuple[bool, datetime]] = {}
        query = (
            select(en.lead_id, en.status, en.entered_at)
            .where(en.campaign_key == key, en.entered_at <= now)
            .order_by(en.entered_at, en.id)
        )
        for lead_id, status, entered in conn.execute(query):
            at = bulk.read_instant(entered)
            assert at is not None
            entries.setdefault(int(lead_id), (status == "holdout", at))
        own: dict[int, int] = {}
        other: dict[int, int] = {}
        mail = (
            select(en.lead_id, m.id, m.campaign_key, m.sent_at)
            .join(messages, and_(m.lead_id == en.lead_id, m.kind == "marketing", m.sent_at.is_not(None)))
            .where(en.campaign_key == key, m.sent_at >= en.entered_at, m.sent_at <= now)
        )
        counted: set[int] = set()  # a lead that entered twice joins its messages twice
        for lead_id, message_id, campaign, sent in conn.execute(mail):
            sent_at = bulk.read_instant(sent)
            assert sent_at is not None
            entered_at = entries[int(lead_id)][1]
            if not (entered_at <= sent_at <= entered_at + within) or message_id in counted:
                continue
            counted.add(message_id)
            tally = own if campaign == key else other
            tally[int(lead_id)] = tally.get(int(lead_id), 0) + 1
        found.extend(
            HoldoutMember(lead_id, key, held, at, own.get(lead_id, 0), other.get(lead_id, 0))
            for lead_id, (held, at) in entries.items()
        )
    return found
