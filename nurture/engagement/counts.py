"""Opens and clicks counted honestly: people and machines apart, per campaign step or per lead."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, case, distinct, func, select

from nurture.engagement.items import EMAIL_CLICK, EMAIL_OPEN
from nurture.store.schema import events


@dataclass(frozen=True)
class EngagementCount:
    """Opens and clicks of one send step of a campaign."""

    campaign_key: str
    step_id: str | None
    human_opens: int
    machine_opens: int
    human_clicks: int
    machine_clicks: int
    human_openers: int  # distinct leads with an open by a person
    human_clickers: int  # distinct leads with a click by a person

    def as_json(self) -> dict[str, Any]:
        return {
            "campaign": self.campaign_key,
            "step": self.step_id,
            "opens": {"human": self.human_opens, "machine": self.machine_opens},
            "clicks": {"human": self.human_clicks, "machine": self.machine_clicks},
            "unique_human_openers": self.human_openers,
            "unique_human_clickers": self.human_clickers,
        }


def _counts() -> list[Any]:
    e = events.c
    human, machine = e.machine_reason.is_(None), e.machine_reason.is_not(None)

    def total(kind: str, who: Any) -> Any:
        return func.coalesce(func.sum(case((and_(e.type == kind, who), 1), else_=0)), 0)

    def unique(kind: str) -> Any:
        return func.count(distinct(case((and_(e.type == kind, human), e.lead_id), else_=None)))

    return [
        total(EMAIL_OPEN, human),
        total(EMAIL_OPEN, machine),
        total(EMAIL_CLICK, human),
        total(EMAIL_CLICK, machine),
        unique(EMAIL_OPEN),
        unique(EMAIL_CLICK),
    ]


def engagement_counts(
    conn: Connection,
    *,
    campaign_key: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[EngagementCount]:
    """Human and machine opens and clicks per campaign and step (one campaign when named), for
    events that occurred in ``[since, until)``."""
    e = events.c
    query = (
        select(e.campaign_key, e.step_id, *_counts())
        .where(e.type.in_((EMAIL_OPEN, EMAIL_CLICK)), e.campaign_key.is_not(None))
        .group_by(e.campaign_key, e.step_id)
        .order_by(e.campaign_key, e.step_id)
    )
    if campaign_key is not None:
        query = query.where(e.campaign_key == campaign_key)
    if since is not None:
        query = query.where(e.occurred_at >= since)
    if until is not None:
        query = query.where(e.occurred_at < until)
    return [EngagementCount(row[0], row[1], *(int(v or 0) for v in row[2:])) for row in conn.execute(query)]


def lead_engagement(conn: Connection, lead_id: int) -> dict[str, dict[str, int]]:
    """One lead's opens and clicks, people and machines apart (for ``leads show``)."""
    query = select(*_counts()[:4]).where(
        events.c.lead_id == lead_id, events.c.type.in_((EMAIL_OPEN, EMAIL_CLICK))
    )
    row = conn.execute(query).one()
    opens_h, opens_m, clicks_h, clicks_m = (int(v or 0) for v in row)
    return {
        "opens": {"human": opens_h, "machine": opens_m},
        "clicks": {"human": clicks_h, "machine": clicks_m},
    }
