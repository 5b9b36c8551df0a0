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

from collections.abc import Mapping
from datetime import datetime

import numpy as np

from nurture.definitions import SalesTeam
from nurture.reports.handoffs import Handoffs
from nurture.reports.instants import NEVER, micros
from nurture.reports.lead_facts import LeadFacts


def owners_at(
    leads: int,
    handoffs: Handoffs,
    facts: LeadFacts,
    at: datetime,
    teams: Mapping[str, SalesTeam] | None = None,
) -> tuple[np.ndarray, list[str]]:
    """Each lead row's owner at ``at``, as codes (-1: nobody) into the returned names; ``handoffs``
    may leave out those assigned after it. ``teams`` (the program's sales teams) name the manager
    holding an escalated lead."""
    holder, names = handoffs.holders(teams or {})
    when = micros(at)
    held = np.flatnonzero((handoffs.assigned <= when) & (handoffs.lead >= 0))
    # Each lead's latest: the last assigned of its handoffs, of those the greatest id (ids are
    # unique). Found lead by lead with two running maxima, not by sorting two million handoffs
    # by lead, moment and id (a second).
    lead, assigned = handoffs.lead[held], handoffs.assigned[held]
    latest_at = np.full(leads, np.iinfo(np.int64).min, dtype=np.int64)
    np.maximum.at(latest_at, lead, assigned)
    held = held[assigned == latest_at[lead]]
    lead, ids = handoffs.lead[held], handoffs.id[held]
    latest_id = np.full(leads, np.iinfo(np.int64).min, dtype=np.int64)
    np.maximum.at(latest_id, lead, ids)
    last = held[ids == latest_id[lead]]
    rejected = (
        handoffs.is_status("rejected")[last]
        & (handoffs.responded[last] != NEVER)
        & (handoffs.responded[last] <= when)
    )
    found = np.full(leads, -1, dtype=np.int32)
    found[handoffs.lead[last]] = np.where(rejected, -1, holder[last])
    codes = {name: code for code, name in enumerate(names)}
    named = list(names)
    for row, owner in facts.unhanded_owners().items():
        code = codes.get(owner)
        if code is None:
            code = codes[owner] = len(named)
            named.append(owner)
        found[row] = code
    return found, named
