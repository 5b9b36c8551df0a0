"""Who owned each lead at a given moment, read from the handoff history.

The lead row holds today's owner; a report pinned to an earlier moment (``NURTURE_NOW``,
``--until``) must name the rep who had the lead then. Every change of owner is a handoff: routing,
a reassignment or an escalation opens one for its holder (the manager's has no rep), and a
rejection hands the lead back with nobody owning it. So the owner at ``at`` is the holder of the
lead's latest handoff assigned by then, nobody if that handoff was rejected by then, and nobody
before its first handoff. A lead that was never handed over keeps the owner on its row (set by an
import, say), since no recorded change contradicts it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from nurture.definitions import SalesTeam
from nurture.reports.rows import Handoff, Lead
from nurture.sales.handoffs import handoff_holder


def holder(handoff: Handoff, teams: Mapping[str, SalesTeam]) -> str:
    """Who held ``handoff``, named as the lead's owner is: the rep, else the team manager's owner
    id (``manager.id``, else ``manager:<team>``)."""
    return handoff_holder(handoff.rep_id, handoff.team_key, teams)


def owners_at(
    leads: Mapping[int, Lead],
    handoffs: Iterable[Handoff],
    at: datetime,
    teams: Mapping[str, SalesTeam] | None = None,
) -> dict[int, str | None]:
    """Each lead's owner at ``at``; ``handoffs`` may leave out those assigned after it.
    ``teams`` (the program's sales teams) name the manager holding an escalated lead."""
    latest: dict[int, Handoff] = {}
    for handoff in handoffs:
        if handoff.assigned_at > at:
            continue
        held = latest.get(handoff.lead_id)
        if held is None or (handoff.assigned_at, handoff.id) >= (held.assigned_at, held.id):
            latest[handoff.lead_id] = handoff
    found: dict[int, str | None] = {}
    for lead_id, lead in leads.items():
        last = latest.get(lead_id)
        if last is None and not lead.handed_over:
            found[lead_id] = lead.owner
            continue
        rejected = (
            last is not None
            and last.status == "rejected"
            and last.responded_at is not None
            and last.responded_at <= at
        )
        found[lead_id] = None if last is None or rejected else holder(last, teams or {})
    return found
