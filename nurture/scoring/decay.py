"""A periodic job that fades stored scores, so reports and segments read today's values.

Every scoring decision decays a lead's behaviour points to the moment at hand anyway; this job
only keeps the ``score`` column of quiet leads from going stale. Decay writes no ledger lines: the
ledger's lines fade by themselves when a breakdown is computed.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection, select

from nurture.definitions import Program
from nurture.scoring.state import MQL_ELIGIBLE, ScoredLead, ScoreUpdate, load_scored_leads, write_scores
from nurture.store.schema import leads

REFRESH_AFTER = timedelta(days=1)


def decay_scores(
    conn: Connection,
    program: Program | None,
    now: datetime,
    *,
    limit: int = 5_000,
    after_id: int = 0,
    rose: list[tuple[ScoredLead, float]] | None = None,
) -> int:
    """Fade up to ``limit`` leads (id > ``after_id``) not rescored for a day; returns the last id
    handled, or 0 when the pass is complete. Call again with that id to go on.

    Leads whose score rose (with the score now), which the MQL rule may now hold for, are added to
    ``rose``: :meth:`nurture.lifecycle.Lifecycle.decay_scores` runs what follows for them.
    """
    model = program.scoring_model if program is not None else None
    if model is None or model.decay is None:
        return 0
    half_life = model.decay.half_life
    ids = [
        int(i)
        for i in conn.scalars(
            select(leads.c.id)
            .where(
                leads.c.id > after_id,
                leads.c.behavior_score != 0,
                leads.c.behavior_scored_at < now - REFRESH_AFTER,
            )
            .order_by(leads.c.id)
            .limit(limit)
        )
    ]
    if not ids:
        return 0
    found = load_scored_leads(conn, ids, lock=True)
    updates = []
    risen = rose if rose is not None else []
    for lead in found.values():
        behaviour = lead.behavior_at(now, half_life)
        updates.append(ScoreUpdate(lead.id, lead.fit, behaviour, lead.fit + behaviour, lead.as_of(now)))
        # Negative points fade too, so a score can rise by decay alone.
        if lead.fit + behaviour > lead.score and lead.stage in MQL_ELIGIBLE:
            risen.append((lead, lead.fit + behaviour))
    write_scores(conn, updates, touch=False)
    return ids[-1]
