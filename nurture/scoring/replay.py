"""Replay: the behaviour points the current model gives a batch of leads' recorded events.

A rescore replays every recorded event of every lead, so this runs over millions of rows and
holds no object per event. Events are summed a column at a time
(:mod:`nurture.scoring.replay_columns`). Types whose rules read nothing of the event (no
``where``) come without the event's fields. Only types with a ``where`` are read in full and
asked event by event through :func:`rules_met` (once per distinct event where the ``where``
reads only the event's fields), which says which rules each event meets before it is summed.

The figures are those of scoring each event as it came in under today's rules, to the bit: per
rule, points faded to the lead's moment of ``now`` (``points * 0.5 ** (age / half_life)``),
summed in event order; a rule's ``max_per_day`` counts its scorings per lead per local day of
the lead, afresh (the replay is the whole history). A rule belongs to one event type, so
replaying the plain types and those with a ``where`` one after the other leaves every rule's sum
and cap as they would be in one pass. ``tests/scoring/test_rescore_replay.py`` holds this against
a plain event-by-event replay.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from nurture.definitions import ScoringModel
from nurture.definitions.event_view import event_view
from nurture.scoring.events import StoredEvent, rules_met
from nurture.scoring.rules import ScoringRule, reads_event_only, scoring_rules
from nurture.scoring.state import ScoredLead
from nurture.store import bulk

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

IN_LIST = 2_000  # lead ids per IN list, for a set of leads too sparse for a range


@dataclass
class Replay:
    """What the current model gives each lead's recorded events."""

    # lead -> rule label -> the points its events earn, each faded to the lead's moment of
    # ``now``, for a replay event by event (the tests' reference); :func:`replay_events` fills
    # ``columns`` instead, and the rescore reads both
    earned: dict[int, dict[str, float]]
    # (lead, capped rule label) -> (scorings on the lead's day of ``now``, the last one's event id)
    today: dict[tuple[int, str], tuple[int, int]]
    # rule label -> (whether each lead's events earn anything under it, the points they earn),
    # for the batch's leads in id order
    columns: dict[str, tuple[NDArray[np.bool_], NDArray[np.float64]]] = field(default_factory=dict)


# A rule as the replay uses it: label, points, daily cap, whether machine events count.
RuleParts = tuple[str, int, int | None, bool]


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
        rows = _events(conn, ids, plain, "lead_id, {type}, occurred_at, id, machine_reason")
        if rows:
            # why: numpy loads when a batch is replayed; everyday commands import the rescore
            from nurture.scoring.replay_columns import earn_columns

            earn_columns(replay, rows, rules, scored, now, model, default_zone)
    if conditional:
        # The plain columns first, as earn_columns reads them, then what the `where`s read.
        fields = "lead_id, {type}, occurred_at, id, machine_reason, properties, url, campaign_key, step_id"
        rows = _events(conn, ids, conditional, fields)
        if rows:
            # why: numpy loads when a batch is replayed; everyday commands import the rescore
            from nurture.scoring.replay_columns import earn_columns

            rules = {kind: [_rule(rule) for rule in by_type[kind]] for kind in conditional}
            met = _met(rows, conditional, scored, by_type, now)
            earn_columns(replay, rows, rules, scored, now, model, default_zone, met)
    return replay


def _rule(rule: ScoringRule) -> RuleParts:
    return rule.label, rule.points, rule.max_per_day, rule.count_machine


def _met(
    rows: Sequence[Sequence[Any]],
    types: Sequence[str],
    scored: Mapping[int, ScoredLead],
    by_type: Mapping[str, Sequence[ScoringRule]],
    now: datetime,
) -> list[tuple[str, ...]]:
    """For each event of a type whose rules have a ``where``, the labels of the rules it meets.

    A type whose every ``where`` reads only named fields of the event (``'/pricing' in
    event.url``) and has a quick path is decided once per distinct event (its fields and
    properties as stored) in the batch; an event a quick path declines goes the full way, so
    failures are counted per event as always. An event of a lead outside the batch meets none."""
    read_instant, read_json = bulk.read_instant, bulk.read_json
    by_fields = {kind: all(_by_fields(rule) for rule in rules) for kind, rules in by_type.items()}
    decided: dict[tuple[Any, ...], tuple[str, ...]] = {}
    met: list[tuple[str, ...]] = []
    for lead_id, code, occurred, event_id, machine, properties, url, campaign, step in rows:
        kind = types[code]
        lead = scored.get(lead_id)
        if lead is None:
            met.append(())
            continue
        key = None
        if by_fields[kind] and (isinstance(properties, str) or properties == {}):
            key = (kind, str(properties or "{}"), url, machine is not None, campaign, step)
            labels = decided.get(key)
            if labels is not None:
                met.append(labels)
                continue
        occurred_at = read_instant(occurred)
        assert occurred_at is not None
        event = StoredEvent(
            event_id, lead_id, kind, occurred_at, read_json(properties) or {}, url, machine, campaign, step
        )
        found = _met_quickly(by_type[kind], event, lead) if key is not None else None
        if found is not None:
            assert key is not None
            labels = decided[key] = tuple(label for label, *_ in found)
        else:
            labels = tuple(rule.label for rule in rules_met(by_type[kind], event, lead, now))
        met.append(labels)
    return met


def _by_fields(rule: ScoringRule) -> bool:
    return rule.where is None or (rule.quick_where is not None and reads_event_only(rule.where))


def _met_quickly(
    rules: Sequence[ScoringRule], event: StoredEvent, lead: ScoredLead
) -> list[RuleParts] | None:
    """:func:`rules_met` by the quick paths alone; None when one declines (the sandbox decides)."""
    view = event_view(event)
    met = []
    for rule in rules:
        if event.machine_reason is not None and not rule.count_machine:
            continue
        if rule.quick_where is not None:
            try:
                holds = bool(rule.quick_where(lead.lead, view))
            except Exception:  # a missing or odd value: the sandbox decides, and explains
                return None
            if not holds:
                continue
        met.append(_rule(rule))
    return met


def _events(conn: Connection, ids: Sequence[int], types: Sequence[str], fields: str) -> list[Any]:
    """The leads' events of these types, lead by lead in time order, as driver rows; ``{type}``
    in ``fields`` reads each event's type as its position in ``types`` (a small whole number the
    driver does not build an object for, where the name would be a new string per row)."""
    # The leads pick the rows (ix_events_lead_touches); SQLite's planner would rather take the
    # type index, which reads every lead's events of those types for each batch: the unary +
    # keeps it from that index.
    type_column = "+type" if conn.dialect.name == "sqlite" else "type"
    code = bulk.positions("type", len(types))
    return fetch_for_leads(
        conn,
        ids,
        f"SELECT {fields.format(type=code)} FROM events WHERE {{leads}} "  # noqa: S608 - markers only
        f"AND {type_column} IN {bulk.markers(len(types))} ORDER BY lead_id, occurred_at, id",
        before=types,
        after=types,
    )


def fetch_for_leads(
    conn: Connection, ids: Sequence[int], sql: str, *, before: Sequence[Any] = (), after: Sequence[Any] = ()
) -> list[Any]:
    """The driver rows of ``sql`` for these (sorted) leads, in id order: ``{leads}`` in it is
    the condition on ``lead_id``, its values given between ``before`` and ``after``."""
    rows: list[Any] = []
    for which, params in _lead_ranges(ids):
        rows += bulk.fetch_positional(conn, sql.replace("{leads}", which), [*before, *params, *after])
    return rows


def _lead_ranges(ids: Sequence[int]) -> Iterable[tuple[str, list[int]]]:
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
