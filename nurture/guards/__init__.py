"""Guards against a bad send: pauses and circuit breakers, the plan of an edit before it goes
live, consent, imported suppressions, sender authentication checks and the audit log."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, Connection

from nurture.guards.audit import audit_entries, current_actor, daemon_actor, record_audit
from nurture.guards.breakers import SendGuard, tally_handed_over
from nurture.guards.pauses import (
    ALL_MARKETING,
    Pause,
    open_pauses,
    pause_sending,
    paused_mail,
    resume_sending,
)


def claim_exclusions(conn: Connection, now: datetime, guard: SendGuard | None) -> list[ColumnElement[bool]]:
    """WHERE clauses for the outbox's claim: with a guard, its breakers are judged first; without
    one (a test's sender), the pauses in force are obeyed all the same."""
    if guard is not None:
        return guard.claim_filter(conn, now)
    return paused_mail(open_pauses(conn))


__all__ = [
    "ALL_MARKETING",
    "Pause",
    "SendGuard",
    "audit_entries",
    "claim_exclusions",
    "current_actor",
    "daemon_actor",
    "open_pauses",
    "pause_sending",
    "record_audit",
    "resume_sending",
    "tally_handed_over",
]
