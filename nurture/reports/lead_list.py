"""``nurture leads list``: find leads by stage, owner, campaign or text, and the stuck ones.

``stale`` keeps the leads past their stage's limit, with the definition of the report's stuck leads
(nurture/reports/stuck.py), so the list and the report never disagree: stage, owner and days are
those of the stuck lead at ``now`` (the owner is who held the lead then, read from the handoffs, as
the report names it), and ``--stage``/``--owner`` pick from those.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Connection, func, or_, select

from nurture.definitions import Program
from nurture.store import bulk
from nurture.store.schema import enrollments, leads, stage_changes

if TYPE_CHECKING:
    from nurture.reports.stuck import StuckLead


@dataclass(frozen=True)
class ListedLead:
    email: str
    name: str
    company: str | None
    stage: str
    owner: str | None
    score: float
    days_in_stage: float
    stale_limit_days: float | None  # set when the lead is past its stage's limit


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def list_leads(
    conn: Connection,
    program: Program | None,
    now: datetime,
    *,
    stage: str | None = None,
    owner: str | None = None,
    campaign: str | None = None,
    search: str | None = None,
    stale: bool = False,
    limit: int = 100,
) -> list[ListedLead]:
    """Matching leads, longest in their stage first."""
    c = leads.c
    since = (
        select(stage_changes.c.lead_id, func.max(stage_changes.c.at).label("at"))
        .join(leads, leads.c.id == stage_changes.c.lead_id)
        .where(stage_changes.c.to_stage == leads.c.lifecycle_stage, stage_changes.c.at <= now)
        .group_by(stage_changes.c.lead_id)
        .subquery()
    )
    query = select(
        c.id, c.email, c.first_name, c.last_name, c.company, c.lifecycle_stage, c.owner_rep_id, c.score,
        func.coalesce(since.c.at, c.created_at).label("stage_since"),
    ).outerjoin(since, since.c.lead_id == c.id).where(c.created_at <= now)  # fmt: skip
    # A stale lead's stage and owner are those it had at ``now``: picked below, not from the row.
    if stage and not stale:
        query = query.where(c.lifecycle_stage == stage)
    if owner and not stale:
        query = query.where(c.owner_rep_id == owner)
    if campaign:
        query = query.where(
            c.id.in_(select(enrollments.c.lead_id).where(enrollments.c.campaign_key == campaign))
        )
    if search:
        pattern = f"%{_escape_like(search.lower())}%"
        query = query.where(
            or_(*(func.lower(column).like(pattern, escape="\\") for column in
                  (c.email, c.first_name, c.last_name, c.company)))
        )  # fmt: skip
    stuck: dict[str, StuckLead] = {}
    if stale:
        # why: the stuck leads' figures are numpy columns; only --stale loads them
        from nurture.reports.cohort import waterfall
        from nurture.reports.owners import owners_at
        from nurture.reports.queries import read_stages
        from nurture.reports.report import program_facts
        from nurture.reports.stuck import stage_limits, stuck_leads

        everyone, handoffs, lead_facts = read_stages(conn, now)
        facts = program_facts(program)
        limits = stage_limits(facts.stale_after, waterfall(everyone))
        owners = owners_at(len(everyone), handoffs, lead_facts, now, facts.sales_teams)
        stuck = {
            s.email: s
            for s in stuck_leads(everyone, limits, now, lead_facts, owners)
            if (not stage or s.stage == stage) and (not owner or s.owner == owner)
        }
    found = []
    for row in conn.execute(query):
        name = " ".join(x for x in (row.first_name, row.last_name) if x)
        score = round(float(row.score), 1)
        if stale:
            if (s := stuck.get(row.email)) is not None:
                found.append(
                    ListedLead(row.email, name, row.company, s.stage, s.owner, score, s.days, s.limit_days)
                )
            continue
        days = (now - bulk.read_instant(row.stage_since)).total_seconds() / 86_400  # type: ignore[operator]
        found.append(
            ListedLead(
                row.email,
                name,
                row.company,
                row.lifecycle_stage,
                row.owner_rep_id,
                score,
                round(days, 1),
                None,
            )
        )
    found.sort(key=lambda lead: (-lead.days_in_stage, lead.email))
    return found[:limit]
