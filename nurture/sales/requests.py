"""One sales request, whoever makes it (the API, a rep's lead page): checked, done, and answered.

:func:`perform` calls the very actions the CLI calls (:mod:`nurture.sales.actions`), so the rules
are the same everywhere; :func:`lead_state` is the answer (the lead's stage and owner, its latest
handoff). A request sent with an ``Idempotency-Key`` is remembered in the audit log with its answer
(:func:`remembered`, :func:`remember`), so a retry is done once and answered the same.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Connection, select

from nurture.facts import WhatFollows
from nurture.guards.audit import record_audit
from nurture.sales import actions
from nurture.sales.context import SalesContext
from nurture.sales.reasons import clean, reject_reason
from nurture.sales.routing import OPEN_STATUSES
from nurture.store.schema import audit_log, handoffs, leads

Action = Literal["accept", "reject", "convert", "disqualify", "reassign"]
ACTIONS: tuple[Action, ...] = ("accept", "reject", "convert", "disqualify", "reassign")
AUDIT_ACTION = "sales-request"


@dataclass(frozen=True)
class SalesRequest:
    """What to do with which lead, by whom; ``handoff_id`` pins the handoff a rep answers."""

    action: Action
    lead_id: int
    actor: str
    handoff_id: int | None = None
    reason: str = ""
    note: str = ""
    stage: str = "sql"
    amount: float | None = None
    currency: str = "EUR"
    to: str = ""


def perform(
    conn: Connection, lifecycle: WhatFollows, sales: SalesContext, request: SalesRequest, now: datetime
) -> None:
    """Do the request in the caller's transaction; :class:`~nurture.sales.actions.SalesActionError`
    (or a subclass) says why it cannot be done."""
    lead, actor = request.lead_id, request.actor
    if request.action == "accept":
        actions.accept(
            conn, lifecycle, lead, actor=actor, now=now, handoff_id=request.handoff_id,
            reason=clean(request.reason) or None,
        )  # fmt: skip
    elif request.action == "reject":
        reason = reject_reason(sales.sla, request.reason, request.note)
        actions.reject(
            conn, lifecycle, lead, reason=reason, actor=actor, now=now, handoff_id=request.handoff_id
        )
    elif request.action == "convert":
        reason = clean(request.reason) or f"{request.stage} by {actor}"
        actions.convert(
            conn, lifecycle, lead, stage=request.stage, actor=actor, reason=reason, now=now,
            amount=request.amount, currency=request.currency,
        )  # fmt: skip
    elif request.action == "disqualify":
        actions.disqualify(conn, lifecycle, lead, reason=clean(request.reason), actor=actor, now=now)
    else:
        actions.reassign(
            conn, lifecycle, lead, to=request.to, actor=actor, now=now, sales=sales,
            reason=clean(request.reason) or None,
        )  # fmt: skip


def lead_state(conn: Connection, lead_id: int) -> dict[str, Any]:
    """The lead's stage and owner and its latest handoff, as an answer shows them."""
    row = conn.execute(
        select(leads.c.id, leads.c.email, leads.c.lifecycle_stage, leads.c.owner_rep_id, leads.c.score).where(
            leads.c.id == lead_id
        )
    ).one()
    h = handoffs.c
    latest = conn.execute(
        select(h.id, h.status, h.rep_id, h.team_key, h.accept_due_at)
        .where(h.lead_id == lead_id)
        .order_by(h.assigned_at.desc(), h.id.desc())
        .limit(1)
    ).first()
    return {
        "lead": {
            "id": int(row.id),
            "email": row.email,
            "stage": row.lifecycle_stage,
            "owner": row.owner_rep_id,
            "score": round(float(row.score)),
        },
        "handoff": None
        if latest is None
        else {
            "id": int(latest.id),
            "status": latest.status,
            "rep": latest.rep_id,
            "team": latest.team_key,
            "deadline": latest.accept_due_at.isoformat() if latest.accept_due_at else None,
        },
    }


def open_handoff_of(conn: Connection, lead_id: int, rep_id: str) -> int | None:
    """The rep's open (pending or accepted) handoff of the lead, if they hold one."""
    h = handoffs.c
    found = conn.scalar(
        select(h.id)
        .where(h.lead_id == lead_id, h.rep_id == rep_id, h.status.in_(OPEN_STATUSES))
        .order_by(h.assigned_at.desc(), h.id.desc())
        .limit(1)
    )
    return int(found) if found is not None else None


def lock_lead(conn: Connection, lead_id: int) -> None:
    """Hold the lead's row until the transaction ends, so a retried request waits for the first."""
    query = select(leads.c.id).where(leads.c.id == lead_id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    conn.execute(query)


# -- idempotency -----------------------------------------------------------------------------------


def _subject(actor: str, key: str) -> str:
    return "request:" + hashlib.sha256(f"{actor}\x00{key}".encode()).hexdigest()


def remembered(conn: Connection, actor: str, key: str) -> dict[str, Any] | None:
    """The first answer to ``actor``'s request with this key: ``{body_sha256, status, answer}``."""
    detail = conn.scalar(
        select(audit_log.c.detail)
        .where(audit_log.c.action == AUDIT_ACTION, audit_log.c.subject == _subject(actor, key))
        .order_by(audit_log.c.id)
        .limit(1)
    )
    return dict(detail) if detail is not None else None


def remember(
    conn: Connection,
    request: SalesRequest,
    key: str | None,
    body_sha256: str,
    status: int,
    answer: dict[str, Any],
    now: datetime,
) -> None:
    """Write the request and its answer to the audit log (under its key, when it has one)."""
    subject = _subject(request.actor, key) if key is not None else f"lead:{request.lead_id}"
    detail = {
        "action": request.action,
        "lead": request.lead_id,
        "body_sha256": body_sha256,
        "status": status,
        "answer": answer,
        "keyed": key is not None,
    }
    record_audit(conn, request.actor, AUDIT_ACTION, subject, detail, now)
