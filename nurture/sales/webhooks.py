"""Webhooks into a rep's chat or CRM: queued with the handoff, delivered with retries.

Each delivery is a JSON POST with ``X-Nurture-Signature: t=<unix time>,v1=<hex>``, the HMAC-SHA256
of ``"<t>.<body>"`` under the webhook key (``nurture sales webhook-key`` prints it; it is derived from
the workspace secret, never the secret itself). Body and signature are fixed when queued, so a retry
sends the same bytes and the receiver can de-duplicate on ``X-Nurture-Delivery``.

Failures are retried with exponential backoff (30 s, 1 min, 2 min, ... at most an hour apart) up to
:data:`MAX_ATTEMPTS`; a claimed delivery is leased, so a crashed sender's work is picked up again.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select
from sqlalchemy.engine import Engine

from nurture.definitions import Rep, SalesTeam
from nurture.sales.chat_cards import slack_handoff, teams_handoff
from nurture.sales.context import SalesContext, webhook_key_of
from nurture.sales.links import accept_url, lead_url, reject_url
from nurture.sales.notifications import local_time
from nurture.settings import Settings, secret_key
from nurture.store.schema import leads, webhook_deliveries

if TYPE_CHECKING:
    # why: httpx loads only when webhooks are sent, not for every command that routes a lead
    import httpx

MAX_ATTEMPTS = 8
FIRST_RETRY = timedelta(seconds=30)
LONGEST_RETRY = timedelta(hours=1)
LEASE = timedelta(minutes=2)  # a claimed delivery is due again after this if its sender vanished
CONNECT_TIMEOUT_S = 3.0
TIMEOUT_S = 5.0


def webhook_key(settings: Settings, root: Path) -> bytes:
    """The key webhook signatures are made with (give receivers its hex form)."""
    return webhook_key_of(secret_key(settings, root))


def signature(key: bytes, timestamp: int, body: str) -> str:
    """The ``X-Nurture-Signature`` value for a body sent at ``timestamp``."""
    mac = hmac.new(key, f"{timestamp}.".encode() + body.encode("utf-8"), hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def retry_delay(attempts: int) -> timedelta:
    """How long to wait after the ``attempts``-th failed attempt."""
    delay: timedelta = FIRST_RETRY * (2 ** max(attempts - 1, 0))
    return min(delay, LONGEST_RETRY)


def queue_handoff_webhook(
    conn: Connection,
    context: SalesContext,
    team: SalesTeam,
    rep: Rep | None,
    url: str,
    handoff_id: int,
    lead_id: int,
    occasion: str,
    due: datetime | None,
    now: datetime,
) -> None:
    """Queue ``lead.<occasion>`` for a webhook (the team's or the rep's), in the caller's transaction.

    ``rep`` is None when the team's manager holds the lead (an escalation).
    """
    lead = conn.execute(
        select(
            leads.c.email, leads.c.first_name, leads.c.last_name, leads.c.company, leads.c.job_title,
            leads.c.country, leads.c.score, leads.c.lifecycle_stage,
        ).where(leads.c.id == lead_id)
    ).one()._mapping  # fmt: skip
    payload: dict[str, Any] = {
        "event": f"lead.{occasion}",
        "handoff_id": handoff_id,
        "lead_id": lead_id,
        "team": team.key,
        "rep": {"id": rep.id, "name": rep.name, "email": rep.email} if rep else None,
        "manager": None if rep else {"name": team.manager.name, "email": team.manager.email},
        "lead": {**dict(lead), "score": round(float(lead["score"]), 2)},
        "accept_due_at": due.isoformat() if due else None,
        "occurred_at": now.isoformat(),
    }
    if url == team.webhook:
        # Everyone in the team's channel reads it: the signed links act as the holder, so they
        # travel only to the holder's own webhook and email.
        if team.webhook_format != "json":
            payload = _chat(team.webhook_format, payload, occasion, due, context)
    else:
        payload |= {
            "accept_url": accept_url(context, handoff_id),
            "reject_url": reject_url(context, handoff_id),
            "lead_url": lead_url(context, handoff_id, rep.id if rep else None),
        }
    queue_webhook(conn, context, url, payload, now, handoff_id)


def _chat(
    form: str, payload: dict[str, Any], occasion: str, due: datetime | None, context: SalesContext
) -> dict[str, Any]:
    """The handoff as a chat message (the event stays with it for the queue, not in the body)."""
    headline = {"routed": "New lead", "reassigned": "Lead reassigned", "escalated": "Lead escalated"}[
        occasion
    ]
    shown = local_time(due, context.default_zone) if due else None
    make = slack_handoff if form == "slack" else teams_handoff
    holder = payload["rep"]["name"] if payload["rep"] else f"{payload['manager']['name']} (manager)"
    message = make(headline, payload["lead"], holder, shown)
    return {"event": payload["event"], **message}


def queue_webhook(
    conn: Connection,
    context: SalesContext,
    url: str,
    payload: dict[str, Any],
    now: datetime,
    handoff_id: int | None = None,
) -> None:
    """Queue one signed JSON delivery of ``payload`` (its ``event`` names it), in the caller's
    transaction; the body and signature are fixed now, so a retry sends the same bytes."""
    body = json.dumps(
        {k: v for k, v in payload.items() if k != "event"} if _is_chat(payload) else payload,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    key = context.setup.webhook_key
    conn.execute(
        webhook_deliveries.insert().values(
            handoff_id=handoff_id, url=url, event=payload["event"], body=body,
            signature=signature(key, int(now.timestamp()), body), status="queued", attempts=0,
            next_attempt_at=now, created_at=now,
        )
    )  # fmt: skip


def _is_chat(payload: dict[str, Any]) -> bool:
    """A Slack or Teams message: its body is the message alone (they refuse unknown keys)."""
    return "blocks" in payload or payload.get("type") == "message"


@dataclass
class WebhookReport:
    delivered: int = 0
    retrying: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"webhooks: {self.delivered} delivered, {self.retrying} to retry, {self.failed} given up"]
        out.extend(f"  {e}" for e in self.errors[:20])
        return out


@dataclass(frozen=True)
class _Claimed:
    id: int
    url: str
    event: str
    body: str
    signature: str
    attempts: int


def deliver_webhooks(
    engine: Engine, now: datetime, *, client: httpx.Client | None = None, limit: int = 100
) -> WebhookReport:
    """POST the webhooks due at ``now``; each outcome is recorded, failures rescheduled."""
    # why: httpx loads only when webhooks are sent, not for every command that routes a lead
    import httpx

    report = WebhookReport()
    claimed = _claim(engine, now, limit)
    if not claimed:
        return report
    own = client is None
    http = client or httpx.Client(
        timeout=httpx.Timeout(TIMEOUT_S, connect=CONNECT_TIMEOUT_S), follow_redirects=False
    )
    try:
        outcomes = [(item, _post(http, item)) for item in claimed]
    finally:
        if own:
            http.close()
    with engine.begin() as conn:
        for item, error in outcomes:
            _record(conn, item, error, now, report)
    return report


def _claim(engine: Engine, now: datetime, limit: int) -> list[_Claimed]:
    w = webhook_deliveries.c
    with engine.begin() as conn:
        query = (
            select(w.id, w.url, w.event, w.body, w.signature, w.attempts)
            .where(w.status == "queued", w.next_attempt_at <= now)
            .order_by(w.next_attempt_at, w.id)
            .limit(limit)
        )
        if conn.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        claimed = [
            _Claimed(int(r.id), r.url, r.event, r.body, r.signature, int(r.attempts))
            for r in conn.execute(query)
        ]
        if claimed:
            conn.execute(
                webhook_deliveries.update()
                .where(w.id.in_([c.id for c in claimed]))
                .values(next_attempt_at=now + LEASE, claimed_until=now + LEASE)
            )
    return claimed


def _post(http: httpx.Client, item: _Claimed) -> str | None:
    """None when the receiver took it (2xx); otherwise what went wrong."""
    # why: httpx loads only when webhooks are sent, not for every command that routes a lead
    import httpx

    headers = {
        "Content-Type": "application/json",
        "User-Agent": "nurture-webhooks/1",
        "X-Nurture-Event": item.event,
        "X-Nurture-Delivery": str(item.id),
        "X-Nurture-Signature": item.signature,
    }
    try:
        response = http.post(item.url, content=item.body.encode("utf-8"), headers=headers)
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"[:500]
    if 200 <= response.status_code < 300:
        return None
    return f"HTTP {response.status_code}"


def _record(
    conn: Connection, item: _Claimed, error: str | None, now: datetime, report: WebhookReport
) -> None:
    w = webhook_deliveries.c
    attempts = item.attempts + 1
    values: dict[str, Any] = {"attempts": attempts, "claimed_until": None}
    if error is None:
        values.update(status="delivered", delivered_at=now, next_attempt_at=None, last_error=None)
        report.delivered += 1
    elif attempts >= MAX_ATTEMPTS:
        values.update(status="failed", next_attempt_at=None, last_error=error)
        report.failed += 1
        report.errors.append(f"delivery {item.id} to {item.url} given up after {attempts} attempts: {error}")
    else:
        values.update(next_attempt_at=now + retry_delay(attempts), last_error=error)
        report.retrying += 1
        report.errors.append(f"delivery {item.id} to {item.url} failed ({error}); retrying")
    conn.execute(webhook_deliveries.update().where(w.id == item.id).values(**values))
