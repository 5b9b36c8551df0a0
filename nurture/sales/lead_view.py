"""What a rep's lead page shows: the lead card, the deadline in the rep's zone, and the history.

Read-only; the page's actions go through :mod:`nurture.sales.requests` like every other surface.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from nurture.definitions import SalesTeam
from nurture.i18n import Reader
from nurture.sales.context import SalesContext
from nurture.sales.handoffs import handoff_holder, manager_owner
from nurture.sales.notifications import lead_card, reader_time
from nurture.sales.stages import WATERFALL, waterfall_rank
from nurture.store.schema import handoffs, leads, stage_changes

HISTORY = 30
FINAL_STAGES = ("customer", "disqualified")


@dataclass(frozen=True)
class Holding:
    """A handoff as its holder's link sees it, and what they may do with the lead now."""

    handoff_id: int
    lead_id: int
    team_key: str
    rep_id: str | None
    status: str
    accept_due_at: datetime | None
    stage: str
    owner: str | None
    manager_owner: str | None = None  # the owner id the team's manager holds leads under

    @property
    def holder_owner(self) -> str | None:
        """The owner id the lead has while it is the holder's."""
        return self.rep_id if self.rep_id is not None else self.manager_owner

    @property
    def actor(self) -> str:
        """Who the lead's history names for a step taken on this handoff: the holder's owner id."""
        return self.holder_owner or handoff_holder(None, self.team_key, {})

    @property
    def still_theirs(self) -> bool:
        """Open, or converted by them and still theirs: anything else (reassigned, escalated,
        answered by a rejection or a disqualification) ends the link."""
        if self.status in ("pending", "accepted"):
            return True
        return self.status == "converted" and self.owner is not None and self.owner == self.holder_owner

    def actions(self) -> tuple[str, ...]:
        """What the page offers: accept or reject while pending; later the next stages."""
        if not self.still_theirs:
            return ()
        if self.status == "pending":
            return ("accept", "reject")
        if self.stage in FINAL_STAGES:
            return ()
        offered = ["convert", "disqualify"]
        if self.status == "accepted":
            offered.append("reject")
        return tuple(offered)

    def next_stages(self) -> tuple[str, ...]:
        """The stages a conversion may move the lead to from where it is."""
        if self.stage == "disqualified":
            return ()
        rank = waterfall_rank(self.stage)
        return tuple(s for s in ("sql", "opportunity", "customer") if WATERFALL.index(s) > rank)


def holding(conn: Connection, handoff_id: int, context: SalesContext | None = None) -> Holding | None:
    """The handoff with its lead's stage and owner; ``context`` knows the managers' owner ids."""
    h, lead = handoffs.c, leads.c
    row = conn.execute(
        select(
            h.id, h.lead_id, h.team_key, h.rep_id, h.status, h.accept_due_at, lead.lifecycle_stage,
            lead.owner_rep_id,
        )
        .join(leads, lead.id == h.lead_id)
        .where(h.id == handoff_id)
    ).first()  # fmt: skip
    if row is None:
        return None
    team = context.program.sales_teams.get(row.team_key) if context is not None else None
    return Holding(
        int(row.id), int(row.lead_id), row.team_key, row.rep_id, row.status, row.accept_due_at,
        row.lifecycle_stage, row.owner_rep_id, manager_owner(team) if team is not None else None,
    )  # fmt: skip


def holder(context: SalesContext, held: Holding) -> tuple[str | None, str | None]:
    """The holder's locale and zone as the team says (None: the workspace's), the manager too."""
    team = context.program.sales_teams.get(held.team_key)
    if team is None:
        return None, None
    if held.rep_id is None:
        hours = team.manager.working_hours
        return team.manager.locale, hours.timezone if hours is not None else None
    for rep in team.reps:
        if rep.id == held.rep_id:
            return rep.locale, rep.working_hours.timezone
    return None, None


def lead_page(
    conn: Connection, context: SalesContext, held: Holding, reader: Reader, now: datetime
) -> dict[str, Any]:
    """Everything the page shows, times in the reader's (the holder's) zone and language."""
    card = lead_card(conn, context, held.lead_id, now, reader)
    due = held.accept_due_at if held.status == "pending" else None
    sla = context.sla
    return {
        **card,
        "deadline": reader_time(due, reader) if due else None,
        "overdue": due is not None and due <= now,
        "status": held.status,
        "stage": held.stage,
        "actions": held.actions(),
        "next_stages": held.next_stages(),
        "reject_reasons": sla.reject_reasons if sla is not None else (),
        "history": history(conn, held.lead_id, reader, context.program.sales_teams),
    }


def history(
    conn: Connection, lead_id: int, reader: Reader, teams: Mapping[str, SalesTeam]
) -> list[dict[str, Any]]:
    """Stage changes and handoffs, newest first."""
    c, h = stage_changes.c, handoffs.c
    lines: list[tuple[datetime, dict[str, Any]]] = []
    for row in conn.execute(
        select(c.at, c.from_stage, c.to_stage, c.actor, c.reason, c.amount, c.currency)
        .where(c.lead_id == lead_id)
        .order_by(c.at.desc(), c.id.desc())
        .limit(HISTORY)
    ):
        amount = (row.amount, row.currency or "EUR") if row.amount is not None else None
        what = f"{row.from_stage or '-'} → {row.to_stage}"
        line = _line(what, row.actor, row.reason, amount=amount)
        lines.append((row.at, {**line, "from": row.from_stage, "to": row.to_stage}))
    for row in conn.execute(
        select(h.assigned_at, h.responded_at, h.rep_id, h.team_key, h.status, h.actor, h.reason)
        .where(h.lead_id == lead_id)
        .order_by(h.assigned_at.desc(), h.id.desc())
        .limit(HISTORY)
    ):
        holder = handoff_holder(row.rep_id, row.team_key, teams)
        lines.append((row.assigned_at, _line(f"→ {holder}", "", "")))
        if row.responded_at is not None:
            # The status code goes along so the page can name it in the reader's language.
            lines.append(
                (row.responded_at, {**_line(row.status, row.actor, row.reason), "status": row.status})
            )
    lines.sort(key=lambda line: line[0], reverse=True)
    return [{"at": reader_time(at, reader), **line} for at, line in lines[:HISTORY]]


def _line(what: str, who: str | None, why: str | None, amount: Any = None) -> dict[str, Any]:
    """A history line; ``from``/``to`` (stage codes) and ``status`` (a handoff's answer) are set
    where they apply."""
    return {"what": what, "who": who or "", "why": why or "", "amount": amount, "from": None, "to": None,
            "status": None}  # fmt: skip
