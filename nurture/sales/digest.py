"""The daily digest: each rep and manager gets the handoffs open with them (overdue ones first)
at the SLA's ``digest_at`` in their own zone, on their working days, once a day; the team's
webhook gets the team's list once a day too. Run with the SLA timers; the outbox and the webhook
queue remember what was sent today."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from typing import Any

from sqlalchemy import Connection, func, select

from nurture.definitions import Manager, Rep, SalesTeam
from nurture.delivery.message_ids import new_message_id
from nurture.sales.chat_cards import slack_digest, teams_digest
from nurture.sales.deadlines import working_week
from nurture.sales.links import lead_url
from nurture.sales.notifications import reader_time, render
from nurture.sales.routing import OPEN_STATUSES
from nurture.sales.webhooks import queue_webhook
from nurture.store import bulk
from nurture.store.schema import handoffs, leads, messages, webhook_deliveries

DIGEST = "sales_digest"
WEBHOOK_EVENT = "handoffs.digest"


@dataclass
class DigestReport:
    emails: int = 0
    webhooks: int = 0


def send_digests(conn: Connection, context: Any, now: datetime) -> DigestReport:
    """Queue the digests due by ``now`` that were not sent yet today (in the reader's zone)."""
    report = DigestReport()
    sla = context.sla
    if sla is None or sla.digest_at is None:
        return report
    at = time.fromisoformat(sla.digest_at)
    for team in context.program.sales_teams.values():
        items = _open_handoffs(conn, context, team, now)
        for holder in (*team.reps, team.manager):
            since = _due_today(holder, context.default_zone, at, now)
            if since is None or _sent_since(conn, holder.email, since):
                continue
            mine = [i for i in items if _for(holder, team, i)]
            if mine:
                _queue_email(conn, context, team, holder, mine, now)
                report.emails += 1
        since = _due_today(team.manager, context.default_zone, at, now)
        if team.webhook and since is not None and items and not _webhook_since(conn, team.webhook, since):
            queue_webhook(conn, context, team.webhook, _payload(team, items, now), now)
            report.webhooks += 1
    return report


def _due_today(holder: Rep | Manager, default_zone: Any, at: time, now: datetime) -> datetime | None:
    """The start of the holder's day (UTC) when their digest is due now, else None."""
    weekly, tz = working_week(holder, default_zone)
    local = now.astimezone(tz)
    if local.weekday() not in weekly.days or local.date() in weekly.closed or local.time() < at:
        return None
    return datetime.combine(local.date(), time(0), tz)


def _sent_since(conn: Connection, address: str, since: datetime) -> bool:
    m = messages.c
    found = conn.scalar(
        select(func.count()).where(m.kind == DIGEST, m.to_address == address, m.created_at >= since)
    )
    return bool(found)


def _webhook_since(conn: Connection, url: str, since: datetime) -> bool:
    w = webhook_deliveries.c
    found = conn.scalar(
        select(func.count()).where(w.event == WEBHOOK_EVENT, w.url == url, w.created_at >= since)
    )
    return bool(found)


def _open_handoffs(conn: Connection, context: Any, team: SalesTeam, now: datetime) -> list[dict[str, Any]]:
    h, lead = handoffs.c, leads.c
    rows = conn.execute(
        select(
            h.id, h.rep_id, h.status, h.accept_due_at, lead.id.label("lead_id"), lead.email, lead.first_name,
            lead.last_name, lead.company, lead.score,
        )
        .join(leads, lead.id == h.lead_id)
        .where(h.team_key == team.key, h.status.in_(OPEN_STATUSES))
        .order_by(h.accept_due_at.is_(None), h.accept_due_at, h.id)
    ).all()  # fmt: skip
    items = []
    for row in rows:
        due = row.accept_due_at if row.status == "pending" else None
        name = " ".join(p for p in (row.first_name, row.last_name) if p) or row.email
        items.append(
            {
                "handoff": int(row.id), "rep": row.rep_id, "status": row.status, "due": due,
                "overdue": due is not None and due <= now, "lead": name, "email": row.email,
                "company": row.company, "score": round(float(row.score)),
                "url": lead_url(context, int(row.id), row.rep_id),
            }
        )  # fmt: skip
    # Overdue first, then by deadline.
    items.sort(key=lambda i: (not i["overdue"], i["due"] is None, i["due"] or now))
    return items


def _for(holder: Rep | Manager, team: SalesTeam, item: dict[str, Any]) -> bool:
    """A rep's list is theirs; the manager's is theirs (escalated) and every overdue one."""
    if isinstance(holder, Rep):
        return bool(item["rep"] == holder.id)
    return item["rep"] is None or bool(item["overdue"])


def _queue_email(
    conn: Connection,
    context: Any,
    team: SalesTeam,
    holder: Rep | Manager,
    items: list[dict[str, Any]],
    now: datetime,
) -> None:
    zone_name = holder.working_hours.timezone if holder.working_hours else None
    reader = context.reader(holder.locale, zone_name)
    shown = []
    for item in items:
        # A rep's lead page acts as that rep: the manager sees those leads without the link.
        url = item["url"] if isinstance(holder, Rep) or item["rep"] is None else None
        shown.append({**item, "due": reader_time(item["due"], reader) if item["due"] else None, "url": url})
    variables = {
        "recipient": {"name": holder.name, "email": holder.email},
        "team": {"key": team.key, "name": team.name or team.key},
        "items": shown,
        "overdue": sum(1 for i in shown if i["overdue"]),
    }
    subject, html, text = render(context, "digest", reader, variables)
    at = bulk.instant(conn, now)
    bulk.execute(
        conn,
        "INSERT INTO messages (kind, to_address, subject, html, text, message_id, status, attempts, "
        "next_attempt_at, created_at) VALUES (:kind, :to, :subject, :html, :text, :message_id, 'queued', 0, "
        ":at, :at)",
        {
            "kind": DIGEST, "to": holder.email, "subject": subject, "html": html, "text": text,
            "message_id": new_message_id(context.message_domain, now), "at": at,
        },
    )  # fmt: skip


def _payload(team: SalesTeam, items: list[dict[str, Any]], now: datetime) -> dict[str, Any]:
    """The team's list in the team's webhook format."""
    name = team.name or team.key
    if team.webhook_format == "slack":
        return {"event": WEBHOOK_EVENT, **slack_digest(name, items)}
    if team.webhook_format == "teams":
        return {"event": WEBHOOK_EVENT, **teams_digest(name, items)}
    return {
        "event": WEBHOOK_EVENT,
        "team": team.key,
        "open": len(items),
        "overdue": sum(1 for i in items if i["overdue"]),
        "handoffs": [
            {
                "handoff_id": i["handoff"],
                "rep": i["rep"],
                "status": i["status"],
                "lead": i["lead"],
                "email": i["email"],
                "company": i["company"],
                "score": i["score"],
                "accept_due_at": i["due"].isoformat() if i["due"] else None,
                "overdue": i["overdue"],
            }
            for i in items
        ],
        "occurred_at": now.isoformat(),
    }
