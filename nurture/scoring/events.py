"""Behaviour scoring: points for engagement events, the moment they are recorded.

Called by whoever records events (the events importer, the ingest API, the tracking server) inside
its own transaction, once per batch, and set-based throughout: events of types no rule mentions
are dropped first; the affected leads are read in one query, every rule is matched in Python with
its condition's quick path looked up once, the daily caps read only the (lead, day) pairs the
batch touches, and the ledger lines and new scores are written with one driver call each. The
leads whose score rose are returned: what follows (the MQL rule, routing) is
:mod:`nurture.lifecycle`'s to run, in the same transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from operator import attrgetter
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from nurture.definitions import Program
from nurture.definitions.event_view import event_view
from nurture.facts import RecordedEvent
from nurture.scoring.caps import DailyCaps
from nurture.scoring.ledger import decayed
from nurture.scoring.rules import ScoringRule, scoring_rules
from nurture.scoring.state import (
    MQL_ELIGIBLE,
    LedgerRow,
    ScoredLead,
    ScoreUpdate,
    light_view_suffices,
    load_scored_leads,
    write_ledger_rows,
    write_scores,
)
from nurture.store import bulk

StoredEvent = RecordedEvent  # an engagement event as recorded, with its database id


def on_events_recorded(
    conn: Connection,
    program: Program | None,
    events: Sequence[StoredEvent],
    now: datetime,
    *,
    default_zone: ZoneInfo,
) -> list[tuple[ScoredLead, float]]:
    """Score freshly recorded events; returns the leads whose score rose (with the score now) that
    the MQL rule may now hold for.

    Everything happens in the caller's transaction. ``default_zone`` is the day of leads without a
    time zone of their own (for daily caps).
    """
    model = program.scoring_model if program is not None else None
    by_type = scoring_rules(model) if model is not None else {}
    scored = [e for e in events if e.type in by_type and e.lead_id is not None]
    if program is None or model is None or not scored:
        return []
    half_life = model.decay.half_life if model.decay else None
    complete = any(r.where is not None and not light_view_suffices(r.where) for r in model.behavior)
    leads = load_scored_leads(conn, {e.lead_id for e in scored}, lock=True, complete=complete)
    scored = sorted((e for e in scored if e.lead_id in leads), key=_EVENT_ORDER)
    caps = DailyCaps(default_zone)
    days = _load_caps(conn, caps, leads, scored, by_type, now)
    rows, gained = _earn(conn, leads, scored, days, by_type, caps, now, half_life)
    if not rows:
        return []
    write_ledger_rows(conn, rows)
    updates = []
    rose: list[tuple[ScoredLead, float]] = []
    for lead_id, points in gained.items():
        lead = leads[lead_id]
        as_of = lead.as_of(now)
        behaviour = lead.behavior_at(as_of, half_life) + points
        updates.append(ScoreUpdate(lead_id, lead.fit, behaviour, lead.fit + behaviour, as_of))
        lead.lead.update(behavior_score=behaviour, score=lead.fit + behaviour)
        if points > 0 and lead.stage in MQL_ELIGIBLE:
            rose.append((lead, lead.fit + behaviour))
    write_scores(conn, updates)
    return rose


_EVENT_ORDER = attrgetter("lead_id", "occurred_at", "id")


def _earn(
    conn: Connection,
    leads: Mapping[int, ScoredLead],
    events: Sequence[StoredEvent],
    days: Sequence[date | None],
    by_type: Mapping[str, Sequence[ScoringRule]],
    caps: DailyCaps,
    now: datetime,
    half_life: timedelta | None,
) -> tuple[list[LedgerRow], dict[int, float]]:
    """The ledger rows the events (in scoring order) earn, and per lead the points earned faded to
    the moment its new score is stated at, summed in event order."""
    instant = bulk.instants(conn)
    # Types whose rules have no `where`: a person's event of such a type meets them all.
    plain = {kind: all(rule.where is None for rule in rules) for kind, rules in by_type.items()}
    rows: list[LedgerRow] = []
    gained: dict[int, float] = {}
    lead: ScoredLead | None = None
    as_of = now
    for event, day in zip(events, days, strict=True):
        if lead is None or lead.id != event.lead_id:  # events come lead by lead
            lead = leads[event.lead_id]
            as_of = lead.as_of(now)
        rules = by_type[event.type]
        if event.machine_reason is not None or not plain[event.type]:
            rules = rules_met(rules, event, lead, now)
        at = min(event.occurred_at, now)  # a clock ahead of ours must not earn fresher points
        stored_at = None
        for rule in rules:
            limit = rule.max_per_day
            if limit is not None:
                assert day is not None  # known for every event of a type with a capped rule
                if not caps.take(lead.id, rule.label, day, limit):
                    continue
            if stored_at is None:
                stored_at = instant(at)
            rows.append((lead.id, rule.points, "behavior", rule.label, event.id, rule.reason, stored_at))
            gained[lead.id] = gained.get(lead.id, 0) + decayed(rule.points, at, as_of, half_life)
    return rows, gained


def _load_caps(
    conn: Connection,
    caps: DailyCaps,
    leads: Mapping[int, ScoredLead],
    events: Sequence[StoredEvent],
    by_type: Mapping[str, Sequence[ScoringRule]],
    now: datetime,
) -> list[date | None]:
    """Read what capped rules already scored on the lead's days of these events; returns each
    event's day (None for types without a capped rule)."""
    capped = {
        kind: labels
        for kind in {e.type for e in events}
        if (labels := {rule.label for rule in by_type[kind] if rule.max_per_day is not None})
    }
    days: list[date | None] = []
    wanted: set[tuple[int, date]] = set()
    lead_id, tz = None, caps.default_zone
    for event in events:
        if event.type in capped:
            if event.lead_id != lead_id:  # events come lead by lead
                lead_id, tz = event.lead_id, caps.zone_of(leads[event.lead_id])
            day = min(event.occurred_at, now).astimezone(tz).date()  # as DailyCaps.day
            wanted.add((event.lead_id, day))
            days.append(day)
        else:
            days.append(None)
    caps.load(conn, leads, wanted, set().union(*capped.values()))
    return days


def rules_met(
    rules: Sequence[ScoringRule], event: StoredEvent, lead: ScoredLead, now: datetime
) -> list[ScoringRule]:
    """The rules of the event's type that this event meets (before the daily caps)."""
    met = []
    view: dict[str, Any] | None = None
    for rule in rules:
        if event.machine_reason is not None and not rule.count_machine:
            continue
        if rule.where is not None:
            view = view if view is not None else event_view(event)
            if not rule.where_holds(lead.lead, now, view):
                continue
        met.append(rule)
    return met
