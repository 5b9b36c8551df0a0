"""The replay of events whose rules read nothing of the event, a column at a time.

Part of :mod:`nurture.scoring.replay` (which see for what the figures are): moments become whole
microseconds (:mod:`nurture.scoring.instants`), each event's decay factor is worked out once for
all its rules, a capped rule keeps the first ``max_per_day`` events of each lead's local day by
one sort, and the faded points are summed per lead in event order by ``np.bincount``, which adds
its weights one after the other, as scoring adds them live.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from numpy.typing import NDArray

from nurture.definitions import ScoringModel
from nurture.scoring.caps import DailyCaps
from nurture.scoring.instants import halvings, local_days, micros, micros_column
from nurture.scoring.replay import Replay, RuleParts
from nurture.scoring.state import ScoredLead
from nurture.store.columns import rows_of


def earn_columns(
    replay: Replay,
    rows: list[Any],
    rules_of: Mapping[str, Sequence[RuleParts]],
    scored: Mapping[int, ScoredLead],
    now: datetime,
    model: ScoringModel,
    default_zone: ZoneInfo,
    met: Sequence[tuple[str, ...]] | None = None,
) -> None:
    """The events' points (driver rows beginning with lead id, type as its position in
    ``rules_of``, occurred_at, event id, machine_reason), a column at a time: per rule, the
    events it scores (those that meet its ``where``, by ``met``'s labels for each row, when it
    has one; machine events only for rules that count them; a capped rule's first
    ``max_per_day`` of each lead's local day, in event order), their points faded, summed per
    lead in event order by ``np.bincount``, into ``replay.columns``."""
    half_life = model.decay.half_life if model.decay else None
    lead_ids, kinds, occurred, event_ids, machine_reasons = list(zip(*rows, strict=True))[:5]
    leads = np.array(sorted(scored), dtype=np.int64)
    of_row = np.array(lead_ids, dtype=np.int64)
    lead = rows_of(leads, of_row)  # each row's lead, by position
    known = lead >= 0  # -1: a lead outside the batch (a range reads all ids between)
    # Each lead's moment of now (ScoredLead.as_of): now, unless its stored score is later already.
    now_us = micros(now)
    as_of = np.array(
        [
            now_us if lead.scored_at is None or not lead.scored_at > now else micros(lead.scored_at)
            for lead in map(scored.__getitem__, leads.tolist())
        ],
        dtype=np.int64,
    )
    at = np.minimum(micros_column(occurred), micros(now))  # a clock ahead of ours earns no fresher points
    ages = as_of[lead] - at
    fades = known & (ages > 0) if half_life is not None else np.zeros(len(rows), dtype=bool)
    factor = np.ones(len(rows), dtype=np.float64)
    if half_life is not None:
        factor[fades] = halvings(ages[fades], half_life)
    codes = {kind: n for n, kind in enumerate(rules_of)}
    kind = np.array(kinds, dtype=np.int64)
    machine = np.array([reason is not None for reason in machine_reasons], dtype=bool)
    meets = _meets(met) if met is not None else None
    days: NDArray[np.int64] | None = None
    for name, rules in rules_of.items():
        of_kind = known & (kind == codes[name])
        for label, points, cap, count_machine in rules:
            scores = of_kind if meets is None else of_kind & meets(label)
            scoring = np.flatnonzero(scores if count_machine else scores & ~machine)
            if cap is not None:
                if days is None:
                    days, today = _local_days(leads, lead, at, as_of, scored, default_zone)
                scoring = _first_of_each_day(scoring, lead[scoring], days[scoring], cap)
                _credit_today(
                    replay, label, scoring[days[scoring] == today[lead[scoring]]], leads, lead, event_ids
                )
            weights = np.where(fades[scoring], points * factor[scoring], float(points))
            sums = np.bincount(lead[scoring], weights=weights, minlength=len(leads)).astype(
                np.float64, copy=False
            )
            replay.columns[label] = (np.bincount(lead[scoring], minlength=len(leads)) > 0, sums)


def _meets(met: Sequence[tuple[str, ...]]) -> Callable[[str], NDArray[np.bool_]]:
    """Which rows meet a rule, by label, from each row's labels: events share a few outcomes."""
    outcomes: dict[tuple[str, ...], int] = {}
    outcome = np.fromiter(
        (outcomes.setdefault(labels, len(outcomes)) for labels in met), dtype=np.int64, count=len(met)
    )

    def meets(label: str) -> NDArray[np.bool_]:
        has = np.array([label in labels for labels in outcomes], dtype=bool)
        return has[outcome]

    return meets


def _local_days(
    leads: NDArray[np.int64],
    lead: NDArray[np.int64],
    at: NDArray[np.int64],
    as_of: NDArray[np.int64],
    scored: Mapping[int, ScoredLead],
    default_zone: ZoneInfo,
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Each event's local day in its lead's time zone, and each lead's day of its ``as_of``."""
    zones = DailyCaps(default_zone)
    # A batch's leads name a few time zones: each name is looked up once.
    names = [scored[lead_id].lead.get("timezone") for lead_id in leads.tolist()]
    zone_of = {name: zones.zone_named(name) for name in set(names)}
    named = {zone: n for n, zone in enumerate(dict.fromkeys(zone_of.values()))}
    code_of = {name: named[zone] for name, zone in zone_of.items()}
    zone_code = np.array([code_of[name] for name in names], dtype=np.int64)
    days = np.zeros(len(at), dtype=np.int64)
    today = np.zeros(len(leads), dtype=np.int64)
    for zone, n in named.items():
        events = np.flatnonzero(zone_code[lead] == n)
        days[events] = local_days(at[events], zone)
        own = np.flatnonzero(zone_code == n)
        today[own] = local_days(as_of[own], zone)
    return days, today


def _first_of_each_day(
    rows: NDArray[np.int64], lead: NDArray[np.int64], day: NDArray[np.int64], cap: int
) -> NDArray[np.int64]:
    """The rows (in event order) among the first ``cap`` of their lead's local day."""
    if not len(rows):
        return rows
    group = lead * (int(day.max() - day.min()) + 1) + (day - day.min())
    order = np.argsort(group, kind="stable")  # event order kept within a (lead, day)
    grouped = group[order]
    starts = np.flatnonzero(np.r_[True, grouped[1:] != grouped[:-1]])
    rank = np.arange(len(order)) - np.repeat(starts, np.diff(np.r_[starts, len(order)]))
    kept = np.zeros(len(rows), dtype=bool)
    kept[order] = rank < cap
    return rows[kept]


def _credit_today(
    replay: Replay,
    label: str,
    rows: NDArray[np.int64],
    leads: NDArray[np.int64],
    lead: NDArray[np.int64],
    event_ids: Sequence[int],
) -> None:
    """Count a capped rule's scorings on each lead's day of now, naming the day's last event."""
    today = replay.today
    for row in rows.tolist():
        key = (int(leads[lead[row]]), label)
        count, _ = today.get(key, (0, 0))
        today[key] = (count + 1, int(event_ids[row]))
