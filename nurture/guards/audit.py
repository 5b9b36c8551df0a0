"""The audit log: who deployed, paused, resumed, erased, imported or approved what, and when.

One table and one function to write it, :func:`record_audit`, which every feature calls in its
own transaction, so an action and its audit line commit (or roll back) together.
"""

from __future__ import annotations

import getpass
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from nurture.clock import as_utc
from nurture.store.schema import audit_log

# The actions recorded today; others may be added by the features that perform them.
ACTIONS = (
    "deploy", "hold", "approve", "pause", "resume", "breaker", "erase", "suppress", "unsuppress",
    "consent", "rescore", "resend", "drop", "reassign", "enroll", "promote", "merge", "sales-request",
)  # fmt: skip


def current_actor(given: str | None = None) -> str:
    """``given`` (``--actor``), else the operating-system user running the command."""
    if given and given.strip():
        return given.strip()[:200]
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid:{os.getuid()}"


def daemon_actor() -> str:
    """How the daemon signs what it does by itself: ``nurture@HOST`` (the replica)."""
    return f"nurture@{socket.gethostname()}"[:200]


def record_audit(
    conn: Connection,
    actor: str,
    action: str,
    subject: str,
    detail: Mapping[str, Any] | None,
    now: datetime,
) -> None:
    """Append one line to the audit log, in the caller's transaction."""
    conn.execute(
        audit_log.insert().values(
            at=as_utc(now),
            actor=actor[:200],
            action=action[:32],
            subject=subject[:400],
            detail=dict(detail or {}),
        )
    )


@dataclass(frozen=True)
class AuditEntry:
    at: datetime
    actor: str
    action: str
    subject: str
    detail: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "actor": self.actor,
            "action": self.action,
            "subject": self.subject,
            "detail": self.detail,
        }


def audit_entries(
    conn: Connection, *, since: datetime | None = None, action: str | None = None, limit: int = 1000
) -> list[AuditEntry]:
    """The audit log in time order (oldest first), from ``since``; the newest ``limit`` lines."""
    a = audit_log.c
    query = select(a.at, a.actor, a.action, a.subject, a.detail).order_by(a.at.desc(), a.id.desc())
    if since is not None:
        query = query.where(a.at >= as_utc(since))
    if action is not None:
        query = query.where(a.action == action)
    rows = conn.execute(query.limit(limit)).all()
    return [AuditEntry(r.at, r.actor, r.action, r.subject, dict(r.detail or {})) for r in reversed(rows)]
