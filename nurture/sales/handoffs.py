"""Handoffs: a lead offered to a rep (or the team's manager), answered or chased under the SLA.

A handoff is never edited into another one: a breach closes it (``reassigned`` or ``escalated``)
and opens the next, linked through ``previous_handoff_id``, so the chain tells who had the lead,
for how long, and why it moved on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Connection, select

from nurture.definitions import Rep, SalesTeam
from nurture.sales.context import SalesContext
from nurture.sales.deadlines import accept_due_at, due_at
from nurture.sales.notifications import Notice, queue_notice
from nurture.sales.routing import TeamStanding
from nurture.sales.webhooks import queue_handoff_webhook
from nurture.store.schema import handoffs, leads


@dataclass(frozen=True)
class Handoff:
    id: int
    lead_id: int
    team_key: str
    rep_id: str | None
    status: str
    assigned_at: datetime
    accept_due_at: datetime | None
    reassignments: int
    previous_handoff_id: int | None

    @classmethod
    def from_row(cls, row: Any) -> Handoff:
        return cls(
            int(row.id), int(row.lead_id), row.team_key, row.rep_id, row.status, row.assigned_at,
            row.accept_due_at, int(row.reassignments), row.previous_handoff_id,
        )  # fmt: skip


HANDOFF_COLUMNS = (
    handoffs.c.id, handoffs.c.lead_id, handoffs.c.team_key, handoffs.c.rep_id, handoffs.c.status,
    handoffs.c.assigned_at, handoffs.c.accept_due_at, handoffs.c.reassignments,
    handoffs.c.previous_handoff_id,
)  # fmt: skip


def get_handoff(conn: Connection, handoff_id: int, *, lock: bool = False) -> Handoff | None:
    query = select(*HANDOFF_COLUMNS).where(handoffs.c.id == handoff_id)
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).first()
    return Handoff.from_row(row) if row else None


def current_handoff(
    conn: Connection, lead_id: int, statuses: tuple[str, ...], *, lock: bool = False
) -> Handoff | None:
    """The lead's latest handoff in one of ``statuses``."""
    h = handoffs.c
    query = (
        select(*HANDOFF_COLUMNS)
        .where(h.lead_id == lead_id, h.status.in_(statuses))
        .order_by(h.assigned_at.desc(), h.id.desc())
        .limit(1)
    )
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).first()
    return Handoff.from_row(row) if row else None


def manager_owner(team: SalesTeam) -> str:
    """The owner id of a lead escalated to the team's manager."""
    return team.manager.id or f"manager:{team.key}"


def handoff_holder(rep_id: str | None, team_key: str, teams: Mapping[str, SalesTeam]) -> str:
    """Who holds a handoff, named as the lead's owner is: the rep's id, else the team manager's
    owner id (:func:`manager_owner`; ``manager:<team>`` for a team no longer in the program)."""
    if rep_id is not None:
        return rep_id
    team = teams.get(team_key)
    return manager_owner(team) if team is not None else f"manager:{team_key}"


def handoff_lead(conn: Connection, handoff_id: int) -> int | None:
    """The lead a handoff is about (for signed links, which carry the handoff id)."""
    lead_id = conn.scalar(select(handoffs.c.lead_id).where(handoffs.c.id == handoff_id))
    return int(lead_id) if lead_id is not None else None


def close_handoff(
    conn: Connection,
    handoff_id: int,
    status: str,
    *,
    now: datetime,
    actor: str,
    reason: str,
) -> None:
    conn.execute(
        handoffs.update()
        .where(handoffs.c.id == handoff_id)
        .values(status=status, responded_at=now, actor=actor[:200], reason=reason[:500])
    )


def reps_in_chain(conn: Connection, handoff: Handoff) -> set[str]:
    """Every rep who held the lead in this chain of handoffs (they are not offered it again)."""
    reps: set[str] = set()
    current: Handoff | None = handoff
    seen: set[int] = set()
    while current is not None and current.id not in seen:
        seen.add(current.id)
        if current.rep_id is not None:
            reps.add(current.rep_id)
        current = get_handoff(conn, current.previous_handoff_id) if current.previous_handoff_id else None
    return reps


Occasion = Literal["routed", "reassigned", "escalated"]


@dataclass(frozen=True)
class Offer:
    """A lead about to be handed over, and why."""

    lead_id: int
    occasion: Occasion
    reason: str  # shown to the recipient (why they get it)
    previous: Handoff | None = None


def hand_over(
    conn: Connection,
    context: SalesContext,
    standing: TeamStanding,
    offer: Offer,
    rep: Rep | None,
    now: datetime,
) -> int:
    """Open the handoff to ``rep`` (None: the manager), set the owner, and tell the recipient.

    The acceptance deadline runs in the holder's working hours. An escalated lead becomes the
    manager's (owner: their ``id``, else ``manager:<team>``) with a deadline in their hours; it is
    not escalated further (the end of the line) but reminded of and listed as overdue in the digest.
    """
    sla = context.sla
    assert sla is not None
    team = standing.team
    if rep is not None:
        due = accept_due_at(rep, sla.accept_within, now)
    else:
        due = due_at(team.manager, context.default_zone, sla.accept_within, now)
    previous = offer.previous
    reassignments = (previous.reassignments if previous else 0) + (offer.occasion == "reassigned")
    inserted = conn.execute(
        handoffs.insert().values(
            lead_id=offer.lead_id, team_key=standing.team.key, rep_id=rep.id if rep else None,
            status="pending", assigned_at=now, accept_due_at=due, reassignments=reassignments,
            previous_handoff_id=previous.id if previous else None,
        )
    )  # fmt: skip
    key = inserted.inserted_primary_key
    assert key is not None
    handoff_id = int(key[0])
    conn.execute(
        leads.update()
        .where(leads.c.id == offer.lead_id)
        .values(owner_rep_id=rep.id if rep else manager_owner(team), updated_at=now)
    )
    if rep is not None:
        template = "notification" if offer.occasion == "routed" else "reassignment"
        notice = Notice(
            template, "sales_notification", rep.name, rep.email, rep.working_hours.timezone, rep.locale,
            rep.id, team.key,
        )  # fmt: skip
    else:
        manager = team.manager
        zone_name = manager.working_hours.timezone if manager.working_hours else None
        notice = Notice(
            "escalation", "escalation", manager.name, manager.email, zone_name, manager.locale, None, team.key
        )
    queue_notice(conn, context, notice, handoff_id, offer.lead_id, offer.reason, due, now)
    # The team's webhook hears of every handoff (escalations too); a rep's own, of theirs.
    for url in dict.fromkeys(u for u in (team.webhook, rep.webhook if rep else None) if u):
        queue_handoff_webhook(
            conn, context, team, rep, url, handoff_id, offer.lead_id, offer.occasion, due, now
        )
    return handoff_id
