"""Rescore: every lead scored by the model as it is now, not as it was when its events came in.

For each lead, per rule of the current model, the points it *should* hold now (fit rules
evaluated on the lead; behaviour rules replayed over its recorded events with today's ``where``,
caps and decay) are compared with what its ledger holds for that rule, faded to now. A rule whose
points differ gets one ledger line with the difference (``fit`` for fit rules, ``rescore`` for
behaviour rules, naming the model version); rules the model no longer has are brought to zero.
Lines that are not a rule's (a recycle's halving, campaign or manual points) are facts and stay,
so a lead sales rejected does not bounce back by a rescore alone. A second run finds nothing to
change: it is idempotent.

Leads go in batches by id, each batch in its own transaction, so memory stays bounded and a
stopped run leaves whole batches done. A lead the rescore would make an MQL counts against
``max_mqls``; once that is used up such leads are left as they are (deferred) and a later run
takes them, so reps are not flooded.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection
from sqlalchemy.engine import Engine

from nurture.collector import collector_paused
from nurture.definitions import Condition, Program, ScoringModel
from nurture.definitions.quick import Quick, quick
from nurture.scoring.caps import DailyCaps
from nurture.scoring.fit_scorer import fit_scorer
from nurture.scoring.replay import Replay, replay_events
from nurture.scoring.rules import LeadConditions, behavior_labels
from nurture.scoring.state import (
    MQL_ELIGIBLE,
    LedgerRow,
    ScoredLead,
    ScoreRow,
    ScoreUpdate,
    fields_for,
    load_scored_leads,
    write_ledger_rows,
    write_score_rows,
    write_scores,
)
from nurture.scoring.version import model_version
from nurture.store import bulk

BATCH = 2_000
MAX_MQLS = 200  # per run, by default
EPSILON = 1e-6  # points: below this a rule is unchanged (float sums of faded lines)
RULE_KINDS = ("fit", "behavior", "rescore")


@dataclass(frozen=True)
class Move:
    lead_id: int
    email: str
    before: float
    after: float


@dataclass
class RescoreReport:
    model_version: str
    leads: int = 0
    changed: int = 0
    lines: int = 0
    new_mqls: int = 0
    deferred: int = 0
    dry_run: bool = False
    last_id: int = 0
    complete: bool = False
    largest: list[tuple[float, int, Move]] = field(default_factory=list)  # heap of (|move|, id, move)

    def note(self, lead_id: int, lead: dict[str, Any], before: float, after: float, keep: int = 10) -> None:
        """Remember the move if it is among the ``keep`` largest so far (the later lead of a tie)."""
        size = abs(after - before)
        if len(self.largest) >= keep and (size, lead_id) < self.largest[0][:2]:
            return
        item = (size, lead_id, Move(lead_id, str(lead.get("email", lead_id)), before, after))
        if len(self.largest) < keep:
            heapq.heappush(self.largest, item)
        else:
            heapq.heappushpop(self.largest, item)

    def as_dict(self) -> dict[str, Any]:
        moves = sorted(self.largest, reverse=True)
        return {
            "model_version": self.model_version, "dry_run": self.dry_run, "leads": self.leads,
            "changed": self.changed, "ledger_lines": self.lines,
            ("would_become_mqls" if self.dry_run else "new_mqls"): self.new_mqls, "deferred": self.deferred,
            "largest_moves": [
                {"email": m.email, "before": round(m.before, 2), "after": round(m.after, 2)}
                for _, _, m in moves
            ],
        }  # fmt: skip


# What follows a score that rose (the MQL rule, routing, notification): the lifecycle chain's
# ``scores_rose``, handed in by the caller; returns how many leads became MQLs.
Qualifier = Callable[[Connection, Sequence[tuple[ScoredLead, float]], datetime], int]


def rescore(
    db: Engine,
    program: Program,
    now: datetime,
    *,
    dry_run: bool = False,
    batch: int = BATCH,
    max_mqls: int = MAX_MQLS,
    then: Qualifier,
    default_zone: ZoneInfo,
    progress: Callable[[int], None] | None = None,
    after: int = 0,
    max_batches: int | None = None,
) -> RescoreReport:
    """Apply the program's scoring model to every lead with an id above ``after``; ``progress``
    hears the leads done so far. With ``max_batches`` it stops early: ``last_id`` says where
    to go on and ``complete`` whether every lead was reached."""
    model = program.scoring_model
    if model is None:
        return RescoreReport("none", dry_run=dry_run)
    report = RescoreReport(model_version(model), dry_run=dry_run)
    budget = max_mqls
    batches = 0
    while max_batches is None or batches < max_batches:
        with db.begin() as conn, collector_paused():
            # At the driver's level: a million ids go through here.
            ids = [
                int(lead_id)
                for (lead_id,) in bulk.fetch_positional(
                    conn, "SELECT id FROM leads WHERE id > :after ORDER BY id LIMIT :batch", [after, batch]
                )
            ]
            if not ids:
                report.complete = True
                break
            after = report.last_id = ids[-1]
            batches += 1
            budget -= _rescore_batch(conn, program, model, ids, now, report, budget, default_zone, then)
            if dry_run:
                conn.rollback()
        report.leads += len(ids)
        if progress is not None:
            progress(report.leads)
    return report


def rescore_leads(
    conn: Connection,
    program: Program,
    lead_ids: Sequence[int],
    now: datetime,
    *,
    then: Qualifier,
    default_zone: ZoneInfo,
) -> RescoreReport:
    """Apply the scoring model to these leads in the caller's transaction (after their events
    and ledger changed, as when two records of one person are merged); the MQL rule follows."""
    model = program.scoring_model
    if model is None:
        return RescoreReport("none", dry_run=False)
    report = RescoreReport(model_version(model), dry_run=False)
    _rescore_batch(conn, program, model, sorted(set(lead_ids)), now, report, MAX_MQLS, default_zone, then)
    report.leads = len(set(lead_ids))
    return report


def combine_behaviour(
    conn: Connection, program: Program, keep_id: int, other_id: int, now: datetime
) -> float:
    """Before a merge: the kept lead's stored behaviour becomes both records' behaviour as of
    ``now``, so the stored score agrees with the ledger lines the other record brings along.
    Returns the kept lead's score before (as of ``now``)."""
    model = program.scoring_model
    half_life = model.decay.half_life if model is not None and model.decay else None
    both = load_scored_leads(conn, [keep_id, other_id], lock=True, complete=True)
    keep, other = both[keep_id], both[other_id]
    as_of = max(keep.as_of(now), other.as_of(now))
    before = keep.fit + keep.behavior_at(as_of, half_life)
    behaviour = keep.behavior_at(as_of, half_life) + other.behavior_at(as_of, half_life)
    write_scores(conn, [ScoreUpdate(keep_id, keep.fit, behaviour, keep.fit + behaviour, as_of)], touch=False)
    return before


def scored_now(conn: Connection, program: Program, lead_id: int, now: datetime) -> tuple[ScoredLead, float]:
    """A lead as scoring sees it, and its score as of ``now`` (behaviour faded)."""
    model = program.scoring_model
    half_life = model.decay.half_life if model is not None and model.decay else None
    lead = load_scored_leads(conn, [lead_id], lock=False, complete=True)[lead_id]
    return lead, lead.fit + lead.behavior_at(lead.as_of(now), half_life)


def _rescore_batch(
    conn: Connection,
    program: Program,
    model: ScoringModel,
    ids: list[int],
    now: datetime,
    report: RescoreReport,
    budget: int,
    default_zone: Any,
    qualifier: Qualifier,
) -> int:
    """Rescore one batch of leads; returns how many it made (or would make) MQLs."""
    # why: numpy loads when a batch is rescored; everyday commands import the rescore
    import numpy as np

    # why: the column work needs numpy, and imports this module for EPSILON
    from nurture.scoring.rescore_columns import behaviour_changes, read_held

    half_life = model.decay.half_life if model.decay else None
    version = report.model_version
    mql_rule = _mql_rule(program)
    # Each lead as the model's conditions and the MQL rule read it: the light view with the
    # fields they read, else the whole lead (the MQL step completes the views it needs).
    also = fields_for(
        [
            *(rule.when for rule in model.fit if rule.points),
            *(rule.where for rule in model.behavior if rule.where is not None),
            *((mql_rule,) if mql_rule is not None else ()),
        ]
    )
    scored = load_scored_leads(conn, ids, lock=not report.dry_run, complete=also is None, also=also or ())
    rows = np.array(list(scored), dtype=np.int64)  # the leads in id order, as scored holds them
    position = {lead_id: n for n, lead_id in enumerate(scored)}
    columns = {label: n for n, label in enumerate(behavior_labels(model.behavior))}
    held = read_held(conn, ids, rows, now, half_life, columns)
    replay = replay_events(conn, scored, model, now, default_zone)
    behaviour_due = behaviour_changes(held, replay, rows, position)
    stored_today = _stored_today(conn, scored, replay, now, default_zone)
    conditions = LeadConditions(now)
    fit_rules = fit_scorer(model)  # prepared once per model, as imports and the lead API use them
    mql_quick = quick(mql_rule) if mql_rule is not None else None
    fit_why = f"rescored, model {version}"
    behaviour_why = f"rescored under model {version}"
    instant = bulk.instants(conn)
    stored_as_of: dict[datetime, Any] = {}  # a batch's lines mostly share one moment
    today, reasons = replay.today, fit_rules.reasons
    no_changes: list[tuple[str, float]] = []
    lines: list[LedgerRow] = []
    updates: list[ScoreRow] = []
    candidates: list[tuple[ScoredLead, float]] = []
    fit_held = held.fit
    for row, lead in enumerate(scored.values()):
        lead_id, view = lead.id, lead.lead
        fit_target = fit_rules.points(view, conditions)
        fit_lines = fit_held[row]
        # Equal points (the usual case) leave nothing to change; else rule by rule.
        fit_changes = no_changes if fit_target == (fit_lines or {}) else _changes(fit_target, fit_lines or {})
        behaviour_changes_ = behaviour_due.get(row, no_changes)
        if not fit_changes and not behaviour_changes_:
            continue
        as_of = lead.as_of(now)
        at = stored_as_of.get(as_of)
        if at is None:
            at = stored_as_of[as_of] = instant(as_of)
        mine: list[LedgerRow] = []
        for label, change in fit_changes:
            reason = (
                reasons[label]
                if label in reasons
                else label.removeprefix("fit: ") + " (no longer in the model)"
            )
            mine.append((lead_id, change, "fit", label, None, f"{reason} ({fit_why})"[:500], at))
        behaviour_change = 0.0
        for label, change in behaviour_changes_:
            behaviour_change += change
            marked = None
            if today:
                # A capped rule credited today more often than the ledger's lines of today say:
                # the line names today's last event, so the live cap counts it (nurture.scoring.caps).
                count, event_id = today.get((lead_id, label), (0, 0))
                marked = event_id if count > stored_today.get((lead_id, label), 0) else None
            mine.append((lead_id, change, "rescore", label, marked, behaviour_why, at))
        before_behaviour = lead.behavior_at(as_of, half_life)
        before = lead.fit + before_behaviour
        fit = sum(fit_target.values())
        behaviour = before_behaviour + behaviour_change
        after = fit + behaviour
        kept = view["fit_score"], view["behavior_score"], view["score"]
        view.update(fit_score=fit, behavior_score=behaviour, score=after)  # as the MQL rule reads it
        rose = after > before and mql_rule is not None and view["lifecycle_stage"] in MQL_ELIGIBLE
        if rose and _holds(mql_quick, mql_rule, view, conditions):
            if budget - len(candidates) <= 0:
                report.deferred += 1
                view.update(zip(("fit_score", "behavior_score", "score"), kept, strict=True))
                continue  # left as it is: a later run finds the same change and takes it then
            candidates.append((lead, after))
        lines += mine
        updates.append((fit, behaviour, at, after, at, lead_id))
        report.changed += 1
        report.lines += len(mine)
        report.note(lead_id, view, before, after)
    if not report.dry_run:
        write_ledger_rows(conn, lines)
        write_score_rows(conn, updates)
        if candidates:
            report.new_mqls += qualifier(conn, candidates, now)
            return len(candidates)
        return 0
    report.new_mqls += len(candidates)
    return len(candidates)


def _changes(target: dict[str, float], held: dict[str, float]) -> list[tuple[str, float]]:
    """The rules (by label, in label order) whose points differ from what the ledger holds, and
    by how much; rules in only one of the two count as zero in the other."""
    changes = []
    for label, points in target.items():
        change = points - held.get(label, 0.0)
        if abs(change) > EPSILON:
            changes.append((label, change))
    for label, points in held.items():
        if label not in target and abs(-points) > EPSILON:
            changes.append((label, 0.0 - points))
    if len(changes) > 1:
        changes.sort()
    return changes


def _stored_today(
    conn: Connection, scored: dict[int, ScoredLead], replay: Replay, now: datetime, default_zone: Any
) -> dict[tuple[int, str], int]:
    """How many scorings the ledger holds for each (lead, capped rule) the replay credited on the
    lead's day of ``now``: behaviour lines and event-naming rescore lines, as the live cap counts."""
    if not replay.today:
        return {}
    stored = DailyCaps(default_zone)
    day = {lead_id: stored.day(scored[lead_id], scored[lead_id].as_of(now)) for lead_id, _ in replay.today}
    stored.load(conn, scored, set(day.items()), {label for _, label in replay.today})
    return {
        (lead_id, label): stored.counts.get((lead_id, label, day[lead_id]), 0)
        for lead_id, label in replay.today
    }


def _holds(
    direct: Quick | None, condition: Condition, lead: dict[str, Any], conditions: LeadConditions
) -> bool:
    """``conditions.holds(condition, lead)`` by the condition's quick path, prepared once per
    batch (thousands of leads a batch ask the MQL rule)."""
    if direct is None:
        return conditions.holds(condition, lead)
    try:
        return bool(direct(lead, None))
    except Exception:  # a missing or odd value: the sandbox decides, and explains
        return conditions.holds(condition, lead)


def _mql_rule(program: Program) -> Any:
    try:
        return program.sla.mql.when
    except KeyError:
        return None
