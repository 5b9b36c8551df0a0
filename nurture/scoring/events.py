"""Behaviour scoring: points for engagement events, the moment they are recorded.

Called by whoever records events (the events importer, the ingest API, the tracking server) inside
its own transaction, once per batch: the affected leads are loaded once, every rule is applied in
Python, and the ledger lines and new scores are written with one driver call each. Leads whose
score rose are then checked against the SLA's MQL rule and, when it holds, routed to sales before
the transaction ends.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from operator import attrgetter
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from nurture.definitions import Program
from nurture.engine.entry import event_view
from nurture.scoring.ledger import decayed
from nurture.scoring.rules import ScoringRule, holds, scoring_rules
from nurture.scoring.state import (
    CHUNK,
    MQL_ELIGIBLE,
    LedgerLine,
    ScoredLead,
    ScoreUpdate,
    light_view_suffices,
    load_scored_leads,
    write_ledger,
    write_scores,
)
from nurture.settings import Settings
from nurture.store import bulk
from nurture.zones import zone


@dataclass(frozen=True)
class StoredEvent:
    """An engagement event as recorded, with its database id."""

    id: int
    lead_id: int
    type: str
    occurred_at: datetime
    properties: Mapping[str, Any]
    url: str | None
    machine_reason: str | None
    campaign_key: str | None
    step_id: str | None


def on_events_recorded(
    conn: Connection,
    program: Program | None,
    events: Sequence[StoredEvent],
    now: datetime,
    *,
    settings: Settings | None = None,
) -> None:
    """Score freshly recorded events, then qualify and route leads whose score rose.

    Everything happens in the caller's transaction. ``settings`` default to the program's
    workspace settings (they give the default time zone, the sender domain and link signing).
    """
    model = program.scoring_model if program is not None else None
    by_type = scoring_rules(model) if model is not None else {}
    scored = [e for e in events if e.type in by_type and e.lead_id is not None]
    if program is None or model is None or not scored:
        return
    from nurture.sales.context import sales_context

    context = sales_context(program, settings)
    half_life = model.decay.half_life if model.decay else None
    complete = any(r.where is not None and not light_view_suffices(r.where) for r in model.behavior)
    leads = load_scored_leads(conn, (e.lead_id for e in scored), lock=True, complete=complete)
    scored = sorted((e for e in scored if e.lead_id in leads), key=_EVENT_ORDER)
    days = _DayCounter(conn, leads, scored, by_type, now, context.default_zone)
    lines: list[LedgerLine] = []
    earned: dict[int, list[tuple[float, datetime]]] = defaultdict(list)
    for event in scored:
        lead = leads[event.lead_id]
        at = min(event.occurred_at, now)  # a clock ahead of ours must not earn fresher points
        for rule in _rules_met(by_type[event.type], event, lead, now):
            if days.take(lead, rule, at):
                lines.append(
                    LedgerLine(lead.id, rule.points, "behavior", rule.label, rule.reason, at, event.id)
                )
                earned[lead.id].append((rule.points, at))
    if not lines:
        return
    write_ledger(conn, lines)
    updates = []
    rose: list[tuple[ScoredLead, float]] = []
    for lead_id, points in earned.items():
        lead = leads[lead_id]
        as_of = lead.as_of(now)
        gained = sum(decayed(p, at, as_of, half_life) for p, at in points)
        behaviour = lead.behavior_at(as_of, half_life) + gained
        updates.append(ScoreUpdate(lead_id, lead.fit, behaviour, lead.fit + behaviour, as_of))
        lead.lead.update(behavior_score=behaviour, score=lead.fit + behaviour)
        if gained > 0 and lead.stage in MQL_ELIGIBLE:
            rose.append((lead, lead.fit + behaviour))
    write_scores(conn, updates)
    if rose:
        from nurture.sales.mql import qualify

        qualify(conn, context, rose, now)


_EVENT_ORDER = attrgetter("lead_id", "occurred_at", "id")


def _rules_met(
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
            if not holds(rule.where, lead.lead, now, view):
                continue
        met.append(rule)
    return met


class _DayCounter:
    """Enforces ``max_per_day``: scored events per rule, lead and day (in the lead's time zone)."""

    def __init__(
        self,
        conn: Connection,
        leads: Mapping[int, ScoredLead],
        events: Sequence[StoredEvent],
        by_type: Mapping[str, Sequence[ScoringRule]],
        now: datetime,
        default_zone: ZoneInfo,
    ) -> None:
        self.default_zone = default_zone
        self.counts: dict[tuple[int, str, date], int] = defaultdict(int)
        capped = {rule.label for e in events for rule in by_type[e.type] if rule.max_per_day is not None}
        if capped:
            self._load(conn, leads, events, capped, now)

    def _zone(self, lead: ScoredLead) -> ZoneInfo:
        name = lead.lead.get("timezone")
        if name:
            try:
                return zone(str(name))
            except ValueError:
                pass
        return self.default_zone

    def _load(
        self,
        conn: Connection,
        leads: Mapping[int, ScoredLead],
        events: Sequence[StoredEvent],
        capped: set[str],
        now: datetime,
    ) -> None:
        # A local day lies within a day either side of the UTC instants that fall in it.
        first = min(min(e.occurred_at, now) for e in events) - timedelta(days=1)
        last = max(min(e.occurred_at, now) for e in events) + timedelta(days=1)
        ids = sorted({e.lead_id for e in events})
        rules, rule_params = bulk.in_list(conn, "rule", sorted(capped))
        for start in range(0, len(ids), CHUNK):
            lead_list, lead_params = bulk.in_list(conn, "lead", ids[start : start + CHUNK])
            rows = bulk.execute(
                conn,
                f"SELECT lead_id, rule, at FROM score_ledger WHERE lead_id IN {lead_list} "  # noqa: S608
                f"AND kind = 'behavior' AND rule IN {rules} AND at >= :first AND at <= :last",
                {
                    **lead_params,
                    **rule_params,
                    "first": bulk.instant(conn, first),
                    "last": bulk.instant(conn, last),
                },
            )
            for lead_id, rule, at in rows.fetchall():
                lead = leads.get(int(lead_id))
                instant = bulk.read_instant(at)
                if lead is not None and instant is not None:
                    self.counts[(lead.id, rule, instant.astimezone(self._zone(lead)).date())] += 1

    def take(self, lead: ScoredLead, rule: ScoringRule, at: datetime) -> bool:
        """Whether an event at ``at`` may still score under the rule that day; counts it if so."""
        if rule.max_per_day is None:
            return True
        key = (lead.id, rule.label, at.astimezone(self._zone(lead)).date())
        if self.counts[key] >= rule.max_per_day:
            return False
        self.counts[key] += 1
        return True
