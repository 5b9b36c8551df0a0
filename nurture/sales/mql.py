"""MQL at once: the moment a lead meets the SLA's MQL rule it becomes an MQL and goes to sales.

Run by :mod:`nurture.lifecycle` inside the transaction that changed the score or the fields, so the
stage move, the handoff to a rep, the rep's notification and the end of nurture campaigns that exit
on it are committed together with the event or import that caused them, or not at all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from nurture.definitions import SLA
from nurture.sales.context import SalesContext
from nurture.sales.handoffs import Offer, hand_over
from nurture.sales.routing import account_owner, load_standing, lock_team, save_standing
from nurture.scoring.rules import LeadConditions
from nurture.scoring.state import ScoredLead, complete_views, light_view_suffices
from nurture.store import bulk

MQL_ACTOR = "sla"


def qualify(
    conn: Connection, context: SalesContext, candidates: Sequence[tuple[ScoredLead, float]], now: datetime
) -> list[NewMql]:
    """Make MQLs of the candidates (lead, score now) the MQL rule holds for: stage and its record.

    Returns the new MQLs, for :func:`route`. The stored score is refreshed to its value at ``now``.
    """
    sla = context.sla
    if sla is None or not candidates:
        return []
    conditions_used = [sla.mql.when, *(when for when, _ in sla.routes if when is not None)]
    if not all(light_view_suffices(c) for c in conditions_used):
        complete_views(conn, [lead for lead, _ in candidates])
    conditions = LeadConditions(now)
    qualified = []
    for lead, score in candidates:
        lead.lead["score"] = score  # decayed to now: the MQL decision never reads a stale score
        if conditions.holds(sla.mql.when, lead.lead):
            qualified.append((lead, score))
    if not qualified:
        return []
    at = bulk.instant(conn, now)
    bulk.executemany(
        conn,
        "UPDATE leads SET lifecycle_stage = 'mql', score = :score, updated_at = :at WHERE id = :id",
        [{"id": lead.id, "score": score, "at": at} for lead, score in qualified],
    )
    bulk.executemany(
        conn,
        "INSERT INTO stage_changes (lead_id, from_stage, to_stage, at, reason, actor) "
        "VALUES (:id, :old, 'mql', :at, :reason, :actor)",
        [
            {
                "id": lead.id,
                "old": lead.stage,
                "at": at,
                "reason": f"MQL rule held: {sla.mql.when.source} (score {score:.0f})"[:500],
                "actor": MQL_ACTOR,
            }
            for lead, score in qualified
        ],
    )
    return [
        NewMql(lead.id, lead.lead["country"], lead.lead["email_domain"], team_for(sla, conditions, lead.lead))
        for lead, _ in qualified
    ]


def team_for(sla: SLA, conditions: LeadConditions, lead: Mapping[str, Any]) -> str | None:
    """The team of the first ``route_to`` rule that holds for the lead (a rule without ``when``
    always holds); None when none does (``nurture check`` insists on a default)."""
    for when, team in sla.routes:
        if when is None or conditions.holds(when, lead):
            return team
    return None


@dataclass(frozen=True)
class NewMql:
    """What routing needs to know about a lead that just became an MQL."""

    lead_id: int
    country: str | None
    email_domain: str | None
    team_key: str | None = None  # from the SLA's route_to rules


def route(conn: Connection, context: SalesContext, new_mqls: Sequence[NewMql], now: datetime) -> list[int]:
    """Hand each new MQL to a rep of its team (or the team's manager); returns the handoff ids.

    Teams are locked in key order, the same everywhere, so two routings never wait on each other.
    """
    by_team: dict[str, list[NewMql]] = {}
    for mql in new_mqls:
        key = mql.team_key or (context.team.key if context.team else None)
        if key is not None and context.team_named(key) is not None:
            by_team.setdefault(key, []).append(mql)
    handoff_ids = []
    for key in sorted(by_team):
        handoff_ids += _route_team(conn, context, key, by_team[key], now)
    return handoff_ids


def _route_team(
    conn: Connection, context: SalesContext, key: str, new_mqls: list[NewMql], now: datetime
) -> list[int]:
    team = context.team_named(key)
    assert team is not None
    lock_team(conn, team.key)
    standing = load_standing(conn, team)
    handoff_ids = []
    for mql in new_mqls:
        owner = account_owner(conn, mql.lead_id, mql.email_domain)
        rep = standing.take(mql.country, owner)
        if rep is None:
            reason = "no rep of the team could take it (territory or capacity), so it comes to you"
        elif rep.id == owner:
            reason = f"{rep.name} already works with this company"
        else:
            reason = "routed to you as a new MQL"
        handoff_ids.append(hand_over(conn, context, standing, Offer(mql.lead_id, "routed", reason), rep, now))
    save_standing(conn, standing, now)
    return handoff_ids
