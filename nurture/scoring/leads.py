"""Fit scoring: points for who a lead is, recomputed whenever its fields change.

What each fit rule currently contributes is the sum of its ledger lines, so a change (a rule that
starts or stops holding, a rule whose points were edited, a rule removed from the model) is always
one ledger line that brings the sum to what the model says now.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection

from nurture.definitions import Program
from nurture.scoring.fit_scorer import fit_scorer
from nurture.scoring.rules import LeadConditions
from nurture.scoring.state import (
    CHUNK,
    MQL_ELIGIBLE,
    LedgerRow,
    ScoredLead,
    ScoreUpdate,
    load_scored_leads,
    write_ledger_rows,
    write_scores,
)
from nurture.store import bulk


def on_leads_changed(
    conn: Connection,
    program: Program | None,
    lead_ids: Sequence[int],
    now: datetime,
) -> list[tuple[ScoredLead, float]]:
    """Recompute fit points of these leads; returns those not yet handed to sales (with their score
    now) that the MQL rule may now hold for.

    Runs in the caller's transaction (the lead importer's batch, a campaign's ``set`` step).
    """
    if program is None or not lead_ids:
        return []
    model = program.scoring_model
    half_life = model.decay.half_life if model is not None and model.decay else None
    leads = load_scored_leads(conn, lead_ids, lock=True, complete=True)
    if not leads:
        return []
    held = _fit_in_ledger(conn, list(leads))
    conditions = LeadConditions(now)
    scorer = fit_scorer(model)
    reasons = scorer.reasons
    # Ledger rows as written, built here: a batch of new leads earns several lines each.
    at = bulk.instants(conn)(now)
    lines: list[LedgerRow] = []
    updates: list[ScoreUpdate] = []
    candidates: list[tuple[ScoredLead, float]] = []
    for lead in leads.values():
        as_of = lead.as_of(now)
        behaviour = lead.behavior_at(as_of, half_life)
        lead.lead.update(behavior_score=behaviour, score=lead.fit + behaviour)
        target = scorer.points(lead.lead, conditions)
        before = held.get(lead.id, {})
        for label in sorted(before.keys() | target.keys()):
            change = target.get(label, 0.0) - before.get(label, 0.0)
            if change:
                reason = reasons.get(label, label.removeprefix("fit: "))
                if label not in target:
                    reason += " (no longer holds)"
                lines.append((lead.id, change, "fit", label, None, reason[:500], at))
        fit = sum(target.values())
        if fit != lead.fit:
            updates.append(ScoreUpdate(lead.id, fit, behaviour, fit + behaviour, as_of))
            lead.lead.update(fit_score=fit, score=fit + behaviour)
        if lead.stage in MQL_ELIGIBLE:
            candidates.append((lead, fit + behaviour))
    write_ledger_rows(conn, lines)
    write_scores(conn, updates)
    return candidates


def _fit_in_ledger(conn: Connection, lead_ids: list[int]) -> dict[int, dict[str, float]]:
    """What each fit rule contributes to each lead now, from the ledger (read at the driver's
    level: every lead a batch creates or changes is looked up here)."""
    held: dict[int, dict[str, float]] = defaultdict(dict)
    for start in range(0, len(lead_ids), CHUNK):
        chunk = lead_ids[start : start + CHUNK]
        query = (
            "SELECT lead_id, rule, sum(points) FROM score_ledger "  # noqa: S608 - markers only
            f"WHERE lead_id IN {bulk.markers(len(chunk))} AND kind = 'fit' GROUP BY lead_id, rule"
        )
        for lead_id, rule, points in bulk.fetch_positional(conn, query, chunk):
            if points:
                held[int(lead_id)][rule] = float(points)
    return held
