"""Double opt-in: the signed confirmation link, confirming, expiry, and what a confirmation lifts.

A form with ``double_opt_in`` records the visitor's consent as ``pending`` and emails a link
signed with the workspace key and expiring after ``opt_in_expiry``. Following it (a POST: link
scanners only GET) records ``confirmed`` with source ``link``. A confirmed opt-in is new consent:
it lifts an earlier unsubscribe or erasure of that address for the confirmed topics, never a
hard bounce or a complaint (the address does not work, or the person called it spam). Pending
consent not confirmed in time is recorded as ``expired``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import Connection, delete, select, update

from nurture.clock import as_utc
from nurture.guards.audit import record_audit
from nurture.leads.addresses import suppression_hash
from nurture.leads.consent import Consent, current_consents, record_consent
from nurture.store.schema import audit_log, consents, leads, suppressions, topic_suppressions
from nurture.tokens import InvalidToken, TokenSigner

PURPOSE = "opt-in"
# Suppressions a confirmed opt-in may lift: the person's own earlier choice, which new consent
# replaces. Hard bounces, complaints and hand-made suppressions stay.
LIFTABLE = ("unsubscribe", "forgotten")


@dataclass(frozen=True)
class OptInLink:
    """What a confirmation link says: whose consent, from which form, which wording, which topics."""

    lead_id: int
    form_key: str
    text_version: str
    topics: tuple[str, ...]


def sign_link(signer: TokenSigner, link: OptInLink, expires_at: datetime) -> str:
    """The token of a confirmation link."""
    payload = (link.lead_id, link.form_key, link.text_version, *link.topics)
    return signer.sign(PURPOSE, payload, expires_at=expires_at)


def read_link(signer: TokenSigner, token: str, now: datetime) -> OptInLink:
    """The link a token stands for; :class:`InvalidToken` when it was changed or has expired."""
    payload = signer.verify(PURPOSE, token, now=now)
    if not isinstance(payload, tuple) or len(payload) < 4:
        raise InvalidToken("not a confirmation token")
    lead_id, form_key, version, *topics = payload
    if not isinstance(lead_id, int) or not all(isinstance(v, str) for v in (form_key, version, *topics)):
        raise InvalidToken("not a confirmation token")
    return OptInLink(lead_id, form_key, version, tuple(topics))


@dataclass(frozen=True)
class Confirmation:
    """What following a link did."""

    lead_id: int
    confirmed: tuple[str, ...]  # topics confirmed now
    already: tuple[str, ...]  # topics confirmed before (a second click)
    lifted: str | None  # the suppression reason lifted, if any


def confirm(
    conn: Connection,
    link: OptInLink,
    now: datetime,
    *,
    ip: str | None,
    expiry: timedelta,
    all_topics: Iterable[str],
) -> Confirmation | None:
    """Confirm the pending consent a link names, in the caller's transaction; None when there is
    nothing to confirm (the lead was erased, or withdrew or let the consent expire since).

    ``all_topics`` are the program's topics: a lead who had left every topic and now confirms
    some stays out of the others.
    """
    lead_id = current_lead(conn, link.lead_id)
    if lead_id is None:
        return None
    link = replace(link, lead_id=lead_id)
    expire_pending(conn, now, expiry, lead_ids=[link.lead_id])
    states = current_consents(conn, [link.lead_id])
    confirmed: list[str] = []
    already: list[str] = []
    for topic in link.topics:
        state = states.get((link.lead_id, topic))
        if state is not None and state.status == "confirmed":
            already.append(topic)
        elif state is not None and state.status == "pending":
            record_consent(
                conn,
                link.lead_id,
                topic,
                "confirmed",
                now,
                source="link",
                text_version=link.text_version,
                ip=ip,
            )
            confirmed.append(topic)
    if not confirmed and not already:
        return None
    lifted = lift_suppressions(conn, link.lead_id, confirmed, all_topics, now) if confirmed else None
    return Confirmation(link.lead_id, tuple(confirmed), tuple(already), lifted)


def current_lead(conn: Connection, lead_id: int) -> int | None:
    """The lead a confirmation link stands for now, or None when it was erased.

    A link names the lead the form made; when that record has since been merged into another
    (``nurture leads merge``, in the audit log with the record it took in), its pending consent
    moved to the kept record, which is the one to confirm. Merges of merges are followed.
    """
    seen: set[int] = set()
    while conn.scalar(select(leads.c.id).where(leads.c.id == lead_id)) is None:
        if lead_id in seen:
            return None
        seen.add(lead_id)
        a = audit_log.c
        merges = conn.execute(select(a.subject, a.detail).where(a.action == "merge").order_by(a.id.desc()))
        kept = next(
            (subject for subject, detail in merges if (detail or {}).get("merged_lead") == lead_id), None
        )
        kept_id = merged_into(kept)
        if kept_id is None:
            return None
        lead_id = kept_id
    return lead_id


def merged_into(subject: str | None) -> int | None:
    """The kept record's id in a merge's audit line (its subject, ``lead:ID``)."""
    if subject is None or not subject.startswith("lead:") or not subject[5:].isdigit():
        return None
    return int(subject[5:])


def lift_suppressions(
    conn: Connection, lead_id: int, topics: Sequence[str], all_topics: Iterable[str], now: datetime
) -> str | None:
    """New consent for ``topics`` replaces the lead's earlier unsubscribe or erasure, workspace-wide
    or from one of these topics (left on the preference centre, by an event or an imported list):
    the reason lifted, or None. A lead who had left every topic stays out of the others (they
    become topic suppressions), and the other topics they left stay left; the audit log keeps
    what was lifted."""
    email = conn.scalar(select(leads.c.email).where(leads.c.id == lead_id))
    if email is None:
        return None
    digest = suppression_hash(email)
    reason = conn.scalar(select(suppressions.c.reason).where(suppressions.c.email_hash == digest))
    lifted: str | None = None
    if reason in LIFTABLE:
        conn.execute(delete(suppressions).where(suppressions.c.email_hash == digest))
        lifted = reason
        others = sorted(set(all_topics) - set(topics))
        t = topic_suppressions.c
        kept = set(conn.scalars(select(t.topic).where(t.email_hash == digest)))
        rows = [
            {"email_hash": digest, "topic": topic, "reason": "unsubscribe", "created_at": as_utc(now),
             "detail": f"had left every topic before opting in to {', '.join(topics)}"[:500]}
            for topic in others if topic not in kept
        ]  # fmt: skip
        if rows:
            conn.execute(topic_suppressions.insert(), rows)
    t = topic_suppressions.c
    topic_lifted = conn.execute(
        delete(topic_suppressions).where(
            t.email_hash == digest, t.topic.in_(list(topics)), t.reason.in_(list(LIFTABLE))
        )
    ).rowcount
    if lifted is not None:
        # Only leaving all marks the lead unsubscribed: a topic left before (on the preference
        # centre, by an event or an imported list) did not, and a hard bounce or complaint that
        # took an unsubscribe's place keeps the mark.
        conn.execute(
            update(leads).where(leads.c.id == lead_id).values(unsubscribed_at=None, updated_at=as_utc(now))
        )
    elif topic_lifted:
        lifted = "unsubscribe"
    if lifted is not None:
        record_audit(
            conn, "opt-in link", "lift_suppression", f"lead:{lead_id}",
            {"reason": lifted, "topics": list(topics)}, now,
        )  # fmt: skip
    return lifted


def expire_pending(
    conn: Connection, now: datetime, expiry: timedelta, *, lead_ids: Sequence[int] | None = None
) -> int:
    """Record as ``expired`` every pending consent older than ``expiry`` (of these leads, or of
    all); how many."""
    cutoff = as_utc(now - expiry)
    c = consents.c
    if lead_ids is None:
        query = select(c.lead_id).where(c.status == "pending", c.at <= cutoff).distinct()
        lead_ids = [int(lead_id) for lead_id in conn.scalars(query)]
    if not lead_ids:
        return 0
    return expire_held(conn, current_consents(conn, lead_ids), now, expiry)


def expire_held(
    conn: Connection, held: dict[tuple[int, str], Consent], now: datetime, expiry: timedelta
) -> int:
    """:func:`expire_pending` for consent states already read (``held``, which is brought up to
    date); how many expired."""
    cutoff = as_utc(now - expiry)
    expired = 0
    for (lead_id, topic), state in list(held.items()):
        if state.status == "pending" and as_utc(state.at) <= cutoff:
            record_consent(
                conn,
                lead_id,
                topic,
                "expired",
                now,
                source="expiry",
                text_version=state.text_version,
                ip=None,
            )
            held[(lead_id, topic)] = replace(state, status="expired", at=now, source="expiry", ip=None)
            expired += 1
    return expired
