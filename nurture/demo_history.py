"""The sales side of the demo's generated past year: who had each MQL, when they answered, and what
the deals were worth, so the report's rep view, MQL → SAL velocity, owners and revenue are filled.

The scoring history (:mod:`nurture.scoring.synthetic`) knows what sales did with each MQL but not
who did it; here each MQL goes to the program's reps in turn, due as the SLA's clock says, answered
when the history says, and every opportunity and customer gets an amount. Amounts come from a
random source of their own, seeded by the lead's address, so the scoring history's draws (and the
tests pinned to them) stay as they are.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection

from nurture.definitions import Program
from nurture.sales.deadlines import accept_due_at
from nurture.scoring.synthetic import SyntheticLead
from nurture.store import bulk
from nurture.store.schema import handoffs

# Median deal sizes by stage in EUR (log-normal spread): mid-market B2B software.
_DEAL_MEDIAN = {"opportunity": 18_000.0, "customer": 15_000.0}
_DEAL_SPREAD = 0.6


def record_past_sales(
    conn: Connection, program: Program, lead_ids: Sequence[int], past: Sequence[SyntheticLead]
) -> int:
    """Write handoffs, owners, rep actors and deal amounts for the past year's MQLs; returns how
    many handoffs were written."""
    reps = [(team.key, rep) for team in program.sales_teams.values() for rep in team.reps]
    if not reps:
        return 0
    accept_within = program.sla.accept_within
    rows: list[dict[str, Any]] = []
    owners: list[dict[str, Any]] = []
    actors: list[dict[str, Any]] = []
    deals: list[dict[str, Any]] = []
    turn = 0
    for lead_id, lead in zip(lead_ids, past, strict=True):
        mql = next((move for move in lead.stages if move.to_stage == "mql"), None)
        if mql is None:
            continue
        team_key, rep = reps[turn % len(reps)]
        turn += 1
        answer = next((move for move in lead.stages if move.from_stage == "mql"), None)
        reached = {move.to_stage for move in lead.stages}
        status = "pending" if answer is None else "rejected" if answer.to_stage == "recycled" else "accepted"
        if status == "accepted" and reached & {"sql", "opportunity", "customer"}:
            status = "converted"
        rows.append({
            "lead_id": lead_id, "team_key": team_key, "rep_id": rep.id, "status": status,
            "assigned_at": mql.at, "accept_due_at": accept_due_at(rep, accept_within, mql.at),
            "responded_at": None if answer is None else answer.at,
            "reason": None if answer is None else answer.reason or answer.to_stage, "actor": rep.id,
            "reassignments": 0,
        })  # fmt: skip
        if status != "rejected":
            owners.append({"id": lead_id, "rep": rep.id})
        actors.append({"id": lead_id, "rep": rep.id})
        draw = random.Random(f"deal:{lead.email}")
        for move in lead.stages:
            median = _DEAL_MEDIAN.get(move.to_stage)
            if median is not None:
                amount = round(median * draw.lognormvariate(0.0, _DEAL_SPREAD), -2)
                deals.append({"id": lead_id, "stage": move.to_stage, "amount": amount})
    if rows:
        conn.execute(handoffs.insert(), rows)
    bulk.executemany(conn, "UPDATE leads SET owner_rep_id = :rep WHERE id = :id", owners)
    bulk.executemany(
        conn, "UPDATE stage_changes SET actor = :rep WHERE lead_id = :id AND actor = 'rep'", actors
    )
    bulk.executemany(
        conn,
        "UPDATE stage_changes SET amount = :amount, currency = 'EUR' "
        "WHERE lead_id = :id AND to_stage = :stage",
        deals,
    )
    return len(rows)
