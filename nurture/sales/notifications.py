"""Emails to sales: a routed lead for a rep, a reassigned one, an escalation for the manager.

They are rendered when queued (the outbox sender sends ``html``/``text`` as they are) from
``templates/sales/<name>.html|.txt|.subject.txt`` in the workspace, else nurture's defaults. A
workspace template that fails to render falls back to the default, so a typo in an override never
stops a lead from reaching sales.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from babel import dates
from jinja2 import TemplateError
from sqlalchemy import Connection, select

from nurture.delivery.message_ids import new_message_id
from nurture.durations import format_duration
from nurture.i18n import Reader, render_own
from nurture.leads.fields import STANDARD_FIELDS
from nurture.predict.refresh import explain
from nurture.sales.context import SalesContext
from nurture.sales.links import accept_url, lead_url, reject_url
from nurture.scoring.breakdown import score_breakdown
from nurture.store import bulk
from nurture.store.schema import events, leads
from nurture.templating import Sandbox

log = logging.getLogger(__name__)

RECENT_ENGAGEMENT = 10
_WHITESPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Notice:
    """Who is told, with which template, and how the outbox files it."""

    template: str  # notification | reassignment | escalation
    kind: str  # messages.kind: sales_notification | escalation
    to_name: str
    to_address: str
    timezone: str | None  # the recipient's zone for times in the email; None: the workspace default
    locale: str | None = None  # the recipient's language; None: the workspace's locale setting
    rep_id: str | None = None  # the rep the lead page link is for; None: the manager
    team_key: str | None = None  # the handoff's team (the SLA's default team when None)


def lead_card(
    conn: Connection, context: SalesContext, lead_id: int, now: datetime, reader: Reader
) -> dict[str, Any]:
    """What sales sees about a lead: profile, score breakdown and recent engagement."""
    row = conn.execute(select(leads).where(leads.c.id == lead_id)).one()._mapping
    profile = {name: row[name] for name in STANDARD_FIELDS}
    name = " ".join(part for part in (row["first_name"], row["last_name"]) if part)
    profile.update(
        id=lead_id,
        email=row["email"],
        email_domain=row["email_domain"],
        name=name or row["email"],
        attributes=dict(row["attributes"] or {}),
        owner=row["owner_rep_id"],
    )
    breakdown = score_breakdown(conn, lead_id, context.program, now)
    e = events.c
    recent = conn.execute(
        select(e.type, e.occurred_at, e.url, e.campaign_key, e.step_id)
        .where(e.lead_id == lead_id, e.machine_reason.is_(None))
        .order_by(e.occurred_at.desc(), e.id.desc())
        .limit(RECENT_ENGAGEMENT)
    ).all()
    return {
        "lead": profile,
        "score": {
            "total": round(breakdown.total),
            "fit": round(breakdown.fit),
            "behavior": round(breakdown.behavior),
            "fit_lines": [_line(line.reason, line.points, line.count) for line in breakdown.fit_lines],
            "behavior_lines": [
                _line(line.reason, line.points, line.count) for line in breakdown.behavior_lines
            ],
        },
        # The predictive score with what moves it most; None until `nurture score train`.
        "prediction": _prediction(conn, context, lead_id, now),
        "engagement": [
            {
                "type": r.type,
                "at": reader_time(r.occurred_at, reader),
                "at_instant": r.occurred_at,
                "detail": r.url or "/".join(p for p in (r.campaign_key, r.step_id) if p),
            }
            for r in recent
        ],
    }


def _prediction(
    conn: Connection, context: SalesContext, lead_id: int, now: datetime
) -> dict[str, Any] | None:
    found = explain(conn, context.program, lead_id, now)
    if found is None or "probability" not in found:
        return None
    factors = [f"{f['feature']} {f['effect']} it" for f in found["top_factors"]]  # type: ignore[attr-defined]
    return {"percent": f"{float(found['probability']):.0%}", "factors": factors}  # type: ignore[arg-type]


def _line(reason: str, points: float, count: int) -> dict[str, Any]:
    return {
        "reason": reason,
        "points": f"{points:+.0f}" if abs(points) >= 0.5 else f"{points:+.1f}",
        "count": count,
    }


def local_time(instant: datetime, tz: ZoneInfo) -> str:
    """``Mon 09 Mar 2026 11:30 (Europe/Berlin)``: a deadline in the reasons kept with a handoff."""
    return instant.astimezone(tz).strftime("%a %d %b %Y %H:%M") + f" ({tz.key})"


def reader_time(instant: datetime, reader: Reader) -> str:
    """``Mo., 9. März 2026 11:30 (Europe/Berlin)``: a time as the reader writes it, in their zone."""
    shown = instant.astimezone(reader.zone)
    day = dates.format_skeleton("yMMMEd", shown, tzinfo=reader.zone, locale=reader.locale)
    clock = dates.format_time(shown, "short", tzinfo=reader.zone, locale=reader.locale)
    return f"{day} {clock} ({reader.zone.key})"


def render(
    context: SalesContext, template: str, reader: Reader, variables: dict[str, Any]
) -> tuple[str, str, str]:
    """Subject, HTML and text of a sales email for ``reader``; the defaults stand in for a failing
    override."""
    try:
        return _render(context.templates, template, reader, variables)
    except TemplateError as exc:
        log.error("templates/sales/%s failed (%s); sending nurture's default instead", template, exc)
        return _render(context.default_templates, template, reader, variables)


def _render(env: Sandbox, template: str, reader: Reader, variables: dict[str, Any]) -> tuple[str, str, str]:
    subject = render_own(env.get_template(f"sales/{template}.subject.txt"), reader, variables)
    html = render_own(env.get_template(f"sales/{template}.html"), reader, variables)
    text = render_own(env.get_template(f"sales/{template}.txt"), reader, variables)
    # Lead data reaches the subject: one line, whatever a name contains.
    return _WHITESPACE.sub(" ", subject).strip()[:998], html, text


def queue_notice(
    conn: Connection,
    context: SalesContext,
    notice: Notice,
    handoff_id: int,
    lead_id: int,
    reason: str,
    due: datetime | None,
    now: datetime,
) -> None:
    """Render the email for a handoff and put it in the outbox, in the caller's transaction."""
    reader = context.reader(notice.locale, notice.timezone)
    sla = context.sla
    team = context.team_named(notice.team_key) if notice.team_key else context.team
    variables = lead_card(conn, context, lead_id, now, reader)
    variables.update(
        recipient={"name": notice.to_name, "email": notice.to_address},
        team={"key": team.key, "name": team.name or team.key} if team else {"key": "", "name": ""},
        handoff={
            "id": handoff_id,
            "reason": reason,
            "accept_due": reader_time(due, reader) if due else None,
            "accept_due_at": due,
            "accept_within": format_duration(sla.accept_within) if sla else None,
        },
        brand=context.settings.branding,
        accept_url=accept_url(context, handoff_id),
        reject_url=reject_url(context, handoff_id),
        lead_url=lead_url(context, handoff_id, notice.rep_id),
    )
    subject, html, text = render(context, notice.template, reader, variables)
    at = bulk.instant(conn, now)
    bulk.execute(
        conn,
        "INSERT INTO messages (lead_id, handoff_id, kind, to_address, subject, html, text, message_id, "
        "status, attempts, next_attempt_at, created_at) VALUES (:lead_id, :handoff_id, :kind, :to, :subject, "
        ":html, :text, :message_id, 'queued', 0, :at, :at)",
        {
            "lead_id": lead_id,
            "handoff_id": handoff_id,
            "kind": notice.kind,
            "to": notice.to_address,
            "subject": subject,
            "html": html,
            "text": text,
            "message_id": new_message_id(context.message_domain, now),
            "at": at,
        },
    )
