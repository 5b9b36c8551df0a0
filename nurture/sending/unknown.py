"""Emails whose fate is unknown: the relay may or may not have them (they were on the wire when a
sender stopped, or the relay's answer to the whole message was lost). The engine never sends
them again by itself; an operator lists them, resends the very bytes that were attempted (same
Message-ID, so receiving systems can recognise a duplicate) or drops them."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.engine import Engine

from nurture.delivery.transports import OutgoingMessage, SendStatus, Transport
from nurture.engine.enrollments import suppressed
from nurture.guards import claim_exclusions
from nurture.guards.audit import record_audit
from nurture.sending.ledger import Ledger, Verdict
from nurture.sending.outbox import LEASE, suppress_hard_bounce
from nurture.store.schema import messages

DROPPED = "dropped by the operator: the relay may or may not have delivered it"


@dataclass(frozen=True)
class UnknownEmail:
    id: int
    to_address: str
    what: str  # campaign/step, or the kind of a sales email
    message_id: str
    reason: str
    resendable: bool  # the attempted bytes are kept
    attempts: int


def list_unknown(db: Engine, ids: Sequence[int] = ()) -> list[UnknownEmail]:
    """The ``unknown`` emails (those of ``ids`` when given), oldest first."""
    m = messages.c
    query = select(
        m.id, m.to_address, m.campaign_key, m.step_id, m.kind, m.message_id, m.last_error,
        m.attempted_data.is_not(None), m.attempts,
    ).where(m.status == "unknown")  # fmt: skip
    if ids:
        query = query.where(m.id.in_(list(ids)))
    with db.connect() as conn:
        found = conn.execute(query.order_by(m.id)).all()
    emails = []
    for row in found:
        what = f"{row.campaign_key}/{row.step_id}" if row.campaign_key else row.kind
        reason = row.last_error or ""
        kept = bool(row[7])
        emails.append(UnknownEmail(row.id, row.to_address, what, row.message_id, reason, kept, row.attempts))
    return emails


@dataclass(frozen=True)
class _Row:
    id: int
    attempts: int
    to_address: str
    campaign_key: str | None  # a resend counts toward its campaign's circuit breakers


async def resend_unknown(
    db: Engine, transport: Transport, ids: Sequence[int], now: datetime
) -> dict[int, str]:
    """Send the attempted bytes of each ``unknown`` email of ``ids`` again; what became of each:
    ``sent``, ``bounced``, ``failed``, ``unknown`` (still: its answer was lost again, or the relay
    asked to try later, or no bytes were kept). Each is claimed first (``sending``), so two
    operators never resend one email twice, and a crash during the resend leaves it ``unknown``.

    The guards hold as for any send: an email to an address suppressed since (unsubscribed,
    bounced, erased) or of a campaign paused now is not resent and stays ``unknown``."""
    ledger = Ledger(db, lambda: now, LEASE, suppress_hard_bounce)
    outcomes: dict[int, str] = {}
    for email_id in ids:
        token = uuid.uuid4().hex
        taken = _take(db, email_id, token, now)
        if taken is None:
            continue
        if isinstance(taken, str):
            outcomes[email_id] = taken
            continue
        row, sender, data = taken
        result = await transport.send(OutgoingMessage(sender, (row.to_address,), data, row.id))
        verdict = Verdict(row, token, sender=sender, data=data)
        if result.accepted:
            verdict.status = "sent"
        elif result.hard_bounce:
            verdict.status, verdict.error = "bounced", f"{result.code} {result.reason}".strip()
        elif result.status is SendStatus.REJECTED:
            verdict.status, verdict.error = "failed", f"{result.code} {result.reason} ({result.stage})"
        elif result.status is SendStatus.UNKNOWN:
            verdict.status, verdict.error = "unknown", f"resent: {result.reason}"
        else:  # the relay asked to try later: it did not take it, so it stays for the operator
            verdict.status = "unknown"
            verdict.error = f"resend not taken for now ({result.code or ''} {result.reason}): try again later"
        ledger.write([verdict], [], now)
        outcomes[email_id] = verdict.status
    return outcomes


def _take(db: Engine, email_id: int, token: str, now: datetime) -> tuple[_Row, str, bytes] | str | None:
    """The email claimed for a resend; or why the guards hold it back; or None (not unknown)."""
    m = messages.c
    with db.begin() as conn:
        address = conn.scalar(select(m.to_address).where(m.id == email_id, m.status == "unknown"))
        if address is None:
            return None
        blocked = suppressed(conn, {address.lower()})
        if blocked:
            return f"not resent: address suppressed ({blocked[address.lower()]})"
        found = conn.execute(
            update(messages)
            .where(
                m.id == email_id,
                m.status == "unknown",
                m.attempted_data.is_not(None),
                *claim_exclusions(conn, now, None),  # a paused campaign, or all marketing paused
            )
            .values(status="sending", claim_token=token, claimed_until=now + LEASE)
            .returning(m.id, m.attempts, m.to_address, m.campaign_key, m.attempted_sender, m.attempted_data)
        ).first()
    if found is None:
        # Unknown and kept (the caller resends only those), so a pause held it back.
        return "not resent: sending is paused"
    return _Row(found[0], found[1], found[2], found[3]), found[4] or "", bytes(found[5])


def drop_unknown(db: Engine, ids: Sequence[int], *, actor: str, now: datetime) -> int:
    """Mark ``unknown`` emails resolved without sending them (``dropped``); how many were. Each
    one dropped gets its line in the audit log, in the same transaction."""
    if not ids:
        return 0
    m = messages.c
    with db.begin() as conn:
        dropped = conn.execute(
            update(messages)
            .where(m.id.in_(list(ids)), m.status == "unknown")
            .values(status="dropped", attempted_sender=None, attempted_data=None, last_error=DROPPED)
            .returning(m.id, m.campaign_key)
        ).all()
        for email_id, campaign in sorted(dropped):
            record_audit(conn, actor, "drop", f"message:{email_id}", {"campaign": campaign}, now)
    return len(dropped)


def record_resends(db: Engine, outcomes: dict[int, str], *, actor: str, now: datetime) -> None:
    """One audit line per email resent by hand, with what became of it."""
    with db.begin() as conn:
        for email_id, outcome in sorted(outcomes.items()):
            record_audit(conn, actor, "resend", f"message:{email_id}", {"outcome": outcome}, now)
