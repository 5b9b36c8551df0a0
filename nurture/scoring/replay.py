"""Replay: the behaviour points the current model gives a batch of leads' recorded events.

A rescore replays every recorded event of every lead, so this runs over millions of rows and
holds no object per event: rows come from the driver as plain tuples in lead and time order, each
event's decay factor is worked out once for all its rules, and types whose rules read nothing of
the event (no ``where``) come without the event's fields and skip the condition machinery. Only
types with a ``where`` are read in full and asked through :func:`rules_met`.

The figures are those of scoring each event as it came in under today's rules: per rule, points
faded to the lead's moment of ``now`` (``points * 0.5 ** (age / half_life)``), summed in event
order; a rule's ``max_per_day`` counts its scorings per lead per local day of the lead, afresh
(the replay is the whole history). A rule belongs to one event type, so replaying the plain
types and those with a ``where`` one after the other leaves every rule's sum and cap as they
would be in one pass.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from nurture.definitions import ScoringModel
from nurture.scoring.caps import DailyCaps
from nurture.scoring.events import StoredEvent, rules_met
from nurture.scoring.rules import ScoringRule, scoring_rules
from nurture.scoring.state import ScoredLead
from nurture.store import bulk

IN_LIST = 2_000  # lead ids per IN list, for a set of leads too sparse for a range


@dataclass
class Replay:
    """What the current model gives each lead's recorded events."""

    # lead -> rule label -> the points its events earn, each faded to the lead's moment of ``now``
    earned: dict[int, dict[str, float]]
    # (lead, capped rule label) -> (scorings on the lead's day of ``now``, the last one's event id)
    today: dict[tuple[int, str], tuple[int, int]]


# A rule as the replay uses it: label, points, daily cap, whether machine events count.
_Rule = tuple[str, int, int | None, bool]
# An event as the replay reads it: lead id, type (or what picks its rules), occurred_at (as
# stored, or read already), event id, machine_reason.
_Row = tuple[int, Any, Any, int, str | None]


def replay_events(
    conn: Connection,
    scored: Mapping[int, ScoredLead],
    model: ScoringModel,
    now: datetime,
    default_zone: ZoneInfo,
) -> Replay:
    """The behaviour points the current model gives each lead's recorded events, by rule label."""
    replay = Replay({}, {})
    by_type = scoring_rules(model)
    if not by_type or not scored:
        return replay
    plain = sorted(kind for kind, rules in by_type.items() if all(rule.where is None for rule in rules))
    conditional = sorted(kind for kind in by_type if kind not in plain)
    ids = sorted(scored)
    if plain:
        rules = {kind: [_rule(rule) for rule in by_type[kind]] for kind in plain}
        machine = {kind: [rule for rule in found if rule[3]] for kind, found in rules.items()}
        rows = _events(conn, ids, plain, "lead_id, type, occurred_at, id, machine_reason")
        read = _instant_reader(text=conn.dialect.name == "sqlite")
        _earn(replay, rows, rules, machine, read, scored, now, model, default_zone)
    if conditional:
        fields = "id, lead_id, type, occurred_at, properties, url, machine_reason, campaign_key, step_id"
        met: dict[Any, list[_Rule]] = {}
        found = _conditional(_events(conn, ids, conditional, fields), scored, by_type, now, met)
        _earn(replay, found, met, met, _as_read, scored, now, model, default_zone)
    return replay


def _instant_reader(*, text: bool) -> Callable[[Any], datetime]:
    """:func:`bulk.read_instant` for ``occurred_at`` (never NULL), for SQLite's text without
    the checks for other forms."""
    if not text:
        return cast(Callable[[Any], datetime], bulk.read_instant)
    from_text = datetime.fromisoformat

    def read(value: str) -> datetime:
        try:
            return from_text(value + "+00:00")  # stored text carries no offset
        except ValueError:  # text written by hand with its own offset
            return from_text(value).astimezone(UTC)

    return read


def _as_read(value: datetime) -> datetime:
    return value


def _rule(rule: ScoringRule) -> _Rule:
    return rule.label, rule.points, rule.max_per_day, rule.count_machine


def _conditional(
    rows: Iterable[Sequence[Any]],
    scored: Mapping[int, ScoredLead],
    by_type: Mapping[str, Sequence[ScoringRule]],
    now: datetime,
    met: dict[Any, list[_Rule]],
) -> Iterable[_Row]:
    """Events of types whose rules have a ``where``, as rows for :func:`_earn` whose type is the
    rules the event meets (entered in ``met`` before the row is handed on)."""
    read_instant, read_json = bulk.read_instant, bulk.read_json
    for event_id, lead_id, kind, occurred, properties, url, machine, campaign, step in rows:
        lead = scored.get(lead_id)
        if lead is None:
            continue
        occurred_at = read_instant(occurred)
        assert occurred_at is not None
        event = StoredEvent(
            event_id, lead_id, kind, occurred_at, read_json(properties) or {}, url, machine, campaign, step
        )
        rules = tuple(_rule(rule) for rule in rules_met(by_type[kind], event, lead, now))
        if rules:
            met.setdefault(rules, list(rules))
            yield lead_id, rules, occurred_at, event_id, None


def _earn(
    replay: Replay,
    rows: Iterable[_Row],
    rules_of: Mapping[Any, Sequence[_Rule]],
    machine_rules_of: Mapping[Any, Sequence[_Rule]],
    read: Callable[[Any], datetime],
    scored: Mapping[int, ScoredLead],
    now: datetime,
    model: ScoringModel,
    default_zone: ZoneInfo,
) -> None:
    """Sum each lead's points per rule over its events (rows lead by lead, in time order)."""
    half_life: timedelta | None = model.decay.half_life if model.decay else None
    earned, today = replay.earned, replay.today
    zones = DailyCaps(default_zone)  # for each lead's time zone, read once
    current = None
    lead: ScoredLead | None = None
    as_of = now
    sums: dict[str, float] = {}
    counts: dict[tuple[str, date], int] = {}
    zone: ZoneInfo | None = None
    lead_today: date | None = None
    for lead_id, kind, occurred, event_id, machine in rows:
        if lead_id != current:  # events come lead by lead
            current = lead_id
            lead = scored.get(lead_id)
            if lead is None:
                continue
            as_of = lead.as_of(now)
            sums = earned.setdefault(lead_id, {})
            counts = {}  # the caps count afresh: the replay is the whole history
            zone = lead_today = None
        elif lead is None:
            continue
        at = read(occurred)
        at = at if at < now else now  # a clock ahead of ours must not earn fresher points
        # decayed(): the points as they are, or faded by one factor for all of the event's rules.
        factor = 0.5 ** ((as_of - at) / half_life) if half_life is not None and as_of > at else None
        day: date | None = None
        for label, points, cap, _ in rules_of[kind] if machine is None else machine_rules_of[kind]:
            if cap is not None:
                if day is None:
                    if zone is None:
                        zone = zones.zone_of(lead)
                        lead_today = lead.as_of(now).astimezone(zone).date()
                    day = at.astimezone(zone).date()
                key = (label, day)
                taken = counts.get(key, 0)
                if taken >= cap:
                    continue
                counts[key] = taken + 1
                if day == lead_today:
                    count, _ = today.get((lead_id, label), (0, 0))
                    today[(lead_id, label)] = (count + 1, int(event_id))
            sums[label] = sums.get(label, 0) + (points * factor if factor is not None and points else points)


def _events(conn: Connection, ids: Sequence[int], types: Sequence[str], fields: str) -> list[Any]:
    """The leads' events of these types, lead by lead in time order, as driver rows."""
    # The leads pick the rows (ix_events_lead_occurred); SQLite's planner would rather take the
    # type index, which reads every lead's events of those types for each batch: the unary +
    # keeps it from that index.
    type_column = "+type" if conn.dialect.name == "sqlite" else "type"
    rows: list[Any] = []
    for which, params in lead_ranges(ids):
        rows += bulk.fetch_positional(
            conn,
            f"SELECT {fields} FROM events WHERE {which} AND {type_column} IN {bulk.markers(len(types))} "  # noqa: S608 - markers only
            "ORDER BY lead_id, occurred_at, id",
            [*params, *types],
        )
    return rows


def lead_ranges(ids: Sequence[int]) -> Iterable[tuple[str, list[int]]]:
    """Conditions on ``lead_id`` picking these (sorted) leads, in id order: one range for a batch
    of consecutive ids, IN lists for a few scattered leads (a range would read all between)."""
    if not ids:
        return
    if ids[-1] - ids[0] < 2 * len(ids):
        yield "lead_id BETWEEN :lo AND :hi", [ids[0], ids[-1]]
        return
    for start in range(0, len(ids), IN_LIST):
        chunk = list(ids[start : start + IN_LIST])
        yield f"lead_id IN {bulk.markers(len(chunk))}", chunk
