"""The rescore of one batch written the plain way, event by event, as the reference the fast
path (:mod:`nurture.scoring.rescore`, :mod:`nurture.scoring.replay`) must agree with exactly.

Each event becomes a :class:`StoredEvent` and is asked through :func:`rules_met`; each rule's
points are faded by :func:`decayed`; the daily caps are a :class:`DailyCaps`; every ledger line
is faded on its own. Summation orders are those of scoring events as they came in (and of the
ledger in time order), so the figures must match to the last bit.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from nurture.definitions import FitRule, Program, ScoringModel
from nurture.scoring.caps import DailyCaps
from nurture.scoring.events import StoredEvent, rules_met
from nurture.scoring.ledger import decayed
from nurture.scoring.rescore import EPSILON, Move, Qualifier, RescoreReport
from nurture.scoring.rules import (
    LeadConditions,
    ScoringRule,
    fit_labels,
    fit_reasons,
    scoring_rules,
)
from nurture.scoring.state import (
    MQL_ELIGIBLE,
    LedgerLine,
    ScoredLead,
    ScoreUpdate,
    load_scored_leads,
    write_ledger,
    write_scores,
)
from nurture.store import bulk


def fit_points(
    rules: Sequence[FitRule],
    lead: Mapping[str, Any],
    conditions: LeadConditions,
    labels: Sequence[str] | None = None,
) -> dict[str, float]:
    """The points each fit rule gives this lead now, by label (rules that do not hold are absent),
    asked rule by rule: what :class:`nurture.scoring.fit_scorer.FitScorer` must answer.

    ``labels``: :func:`fit_labels` of ``rules``, worked out once by callers that score many leads.
    """
    earned: dict[str, float] = {}
    for rule, label in zip(rules, labels if labels is not None else fit_labels(rules), strict=True):
        if rule.points and conditions.holds(rule.when, lead):
            earned[label] = earned.get(label, 0.0) + rule.points
    return earned


def rescore_batch(
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
    half_life = model.decay.half_life if model.decay else None
    version = report.model_version
    scored = load_scored_leads(conn, ids, lock=not report.dry_run, complete=True)
    held = _held(conn, ids, now, half_life)
    replay = _replay(conn, scored, model, now, default_zone)
    earned = replay.earned
    stored_today = _stored_today(conn, scored, replay, now, default_zone)
    conditions = LeadConditions(now)
    reasons_of_fit = fit_reasons(model.fit)
    labels_of_fit = fit_labels(model.fit)
    mql_rule = program.sla.mql.when
    lines: list[LedgerLine] = []
    updates: list[ScoreUpdate] = []
    candidates: list[tuple[ScoredLead, float]] = []
    for lead in scored.values():
        as_of = lead.as_of(now)
        before_behaviour = lead.behavior_at(as_of, half_life)
        before = lead.fit + before_behaviour
        fit_target = fit_points(model.fit, lead.lead, conditions, labels_of_fit)
        behaviour_target = earned.get(lead.id, {})
        mine: list[LedgerLine] = []
        fit_held, behaviour_held = held.get(lead.id, ({}, {}))
        for label in sorted(fit_held.keys() | fit_target.keys()):
            change = fit_target.get(label, 0.0) - fit_held.get(label, 0.0)
            if abs(change) > EPSILON:
                reason = reasons_of_fit.get(label, label.removeprefix("fit: ") + " (no longer in the model)")
                mine.append(
                    LedgerLine(
                        lead.id, change, "fit", label, f"{reason} (rescored, model {version})"[:500], as_of
                    )
                )
        behaviour_change = 0.0
        for label in sorted(behaviour_held.keys() | behaviour_target.keys()):
            change = behaviour_target.get(label, 0.0) - behaviour_held.get(label, 0.0)
            if abs(change) > EPSILON:
                behaviour_change += change
                count, event_id = replay.today.get((lead.id, label), (0, 0))
                marked = event_id if count > stored_today.get((lead.id, label), 0) else None
                mine.append(
                    LedgerLine(
                        lead.id, change, "rescore", label, f"rescored under model {version}", as_of, marked
                    )
                )
        if not mine:
            continue
        fit = sum(fit_target.values())
        behaviour = before_behaviour + behaviour_change
        after = fit + behaviour
        if lead.stage in MQL_ELIGIBLE and after > before:
            view = dict(lead.lead, score=after, fit_score=fit, behavior_score=behaviour)
            if conditions.holds(mql_rule, view):
                if budget - len(candidates) <= 0:
                    report.deferred += 1
                    continue
                candidates.append((lead, after))
        lines += mine
        updates.append(ScoreUpdate(lead.id, fit, behaviour, after, as_of))
        lead.lead.update(fit_score=fit, behavior_score=behaviour, score=after)
        report.changed += 1
        report.lines += len(mine)
        move = Move(lead.id, str(lead.lead.get("email", lead.id)), before, after)
        report.largest.append((abs(after - before), lead.id, move))
    write_ledger(conn, lines)
    write_scores(conn, updates)
    if candidates:
        report.new_mqls += qualifier(conn, candidates, now)
    return len(candidates)


def _stored_today(
    conn: Connection, scored: dict[int, ScoredLead], replay: Replay, now: datetime, default_zone: Any
) -> dict[tuple[int, str], int]:
    if not replay.today:
        return {}
    stored = DailyCaps(default_zone)
    day = {lead_id: stored.day(scored[lead_id], scored[lead_id].as_of(now)) for lead_id, _ in replay.today}
    stored.load(conn, scored, set(day.items()), {label for _, label in replay.today})
    return {
        (lead_id, label): stored.counts.get((lead_id, label, day[lead_id]), 0)
        for lead_id, label in replay.today
    }


def _held(
    conn: Connection, ids: list[int], now: datetime, half_life: timedelta | None
) -> dict[int, tuple[dict[str, float], dict[str, float]]]:
    """Per lead: each fit rule's lines summed, each behaviour rule's lines faded to now."""
    held: dict[int, tuple[dict[str, float], dict[str, float]]] = {}
    rows = bulk.fetch_positional(
        conn,
        f"SELECT lead_id, kind, rule, points, at FROM score_ledger WHERE lead_id IN {bulk.markers(len(ids))} "
        "AND kind IN ('fit', 'behavior', 'rescore') ORDER BY lead_id, at, id",
        ids,
    )
    for lead_id, kind, rule, points, at in rows:
        fit, behaviour = held.setdefault(int(lead_id), ({}, {}))
        if kind == "fit":
            fit[rule] = fit.get(rule, 0.0) + float(points)
        else:
            behaviour[rule] = behaviour.get(rule, 0.0) + decayed(
                float(points), bulk.read_instant(at), now, half_life
            )
    return held


@dataclass
class Replay:
    earned: dict[int, dict[str, float]]
    today: dict[tuple[int, str], tuple[int, int]]


def _replay(
    conn: Connection, scored: dict[int, ScoredLead], model: ScoringModel, now: datetime, default_zone: Any
) -> Replay:
    """Every event of every lead in time order, through the rules as events are scored live."""
    by_type: dict[str, list[ScoringRule]] = scoring_rules(model)
    half_life = model.decay.half_life if model.decay else None
    earned: dict[int, dict[str, float]] = defaultdict(dict)
    caps = DailyCaps(default_zone)
    today: dict[tuple[int, str], tuple[int, int]] = {}
    ids = sorted(scored)
    types = sorted(by_type)
    rows = bulk.fetch_positional(
        conn,
        "SELECT id, lead_id, type, occurred_at, properties, url, machine_reason, campaign_key, step_id "
        f"FROM events WHERE lead_id IN {bulk.markers(len(ids))} AND type IN {bulk.markers(len(types))} "
        "ORDER BY lead_id, occurred_at, id",
        [*ids, *types],
    )
    current_day: dict[int, date] = {}
    for event_id, lead_id, kind, occurred, properties, url, machine, campaign, step in rows:
        lead = scored[int(lead_id)]
        occurred_at = bulk.read_instant(occurred)
        assert occurred_at is not None
        event = StoredEvent(
            event_id, int(lead_id), kind, occurred_at, bulk.read_json(properties) or {},
            url, machine, campaign, step,
        )  # fmt: skip
        at = min(occurred_at, now)
        for rule in rules_met(by_type[kind], event, lead, now):
            if rule.max_per_day is not None:
                day = caps.day(lead, at)
                if not caps.take(lead.id, rule.label, day, rule.max_per_day):
                    continue
                current = current_day.get(lead.id)
                if current is None:
                    current = current_day[lead.id] = caps.day(lead, lead.as_of(now))
                if day == current:
                    count, _ = today.get((lead.id, rule.label), (0, 0))
                    today[(lead.id, rule.label)] = (count + 1, int(event_id))
            sums = earned[lead.id]
            sums[rule.label] = sums.get(rule.label, 0) + decayed(rule.points, at, lead.as_of(now), half_life)
    return Replay(earned, today)
