"""A rescore batch's behaviour points, held and due, compared a column at a time.

Part of :mod:`nurture.scoring.rescore` (which see for what is compared). A batch reads about ten
ledger lines a lead and replays as many events; asked lead by lead and rule by rule, the
comparison cost more than reading them. Here the batch's leads are rows (in id order) and the
behaviour rules' labels columns: the ledger's lines are faded a column at a time (moments as
whole microseconds, :mod:`nurture.scoring.instants`) and summed per lead and rule in time order by
``np.bincount``, which adds its weights one after the other as the lead-by-lead sum does, so every
figure is the same to the bit. Fit lines, about one a lead, are summed as they come.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import Connection

from nurture.scoring.instants import halvings, micros, micros_column
from nurture.scoring.replay import Replay, fetch_for_leads
from nurture.scoring.rescore import EPSILON
from nurture.store import bulk
from nurture.store.columns import rows_of

Changes = list[tuple[str, float]]  # (rule label, points to add), in label order


@dataclass
class Held:
    """What the ledger holds for a batch's leads (by position in id order)."""

    fit: list[dict[str, float] | None]  # each fit rule's lines summed, None for a lead with none
    columns: dict[str, int]  # behaviour rule label -> column
    behaviour: NDArray[np.float64]  # (leads, columns): each rule's lines faded to now, summed
    there: NDArray[np.bool_]  # (leads, columns): whether the lead has a line of the rule at all


def read_held(
    conn: Connection,
    ids: Sequence[int],
    leads: NDArray[np.int64],
    now: datetime,
    half_life: timedelta | None,
    columns: dict[str, int],
) -> Held:
    """The ledger lines of ``ids`` summed per lead and rule (``leads``: the rows, sorted ids);
    ``columns`` starts with the model's behaviour labels and gains any other the ledger names."""
    # Each line's rule as its column when the model has it (a small whole number the driver
    # builds no object for), else by name: -1 and the label.
    labels = list(columns)
    if labels:
        code = bulk.positions("rule", len(labels), otherwise="-1")
        other = f"CASE WHEN rule IN {bulk.markers(len(labels))} THEN NULL ELSE rule END"
    else:
        code, other = "-1", "rule"
    # Read at the driver's level: a rescore reads every ledger line of every lead. In time
    # order, so the faded lines of a rule add up the same on every engine.
    rows = fetch_for_leads(
        conn,
        ids,
        f"SELECT lead_id, kind = 'fit', {code}, {other}, points, at FROM score_ledger "  # noqa: S608 - markers only
        "WHERE {leads} AND kind IN ('fit', 'behavior', 'rescore') ORDER BY lead_id, at, id",
        before=[*labels, *labels],
    )
    fit: list[dict[str, float] | None] = [None] * len(leads)
    if not rows or not len(leads):
        width = len(columns)
        return Held(fit, columns, np.zeros((len(leads), width)), np.zeros((len(leads), width), dtype=bool))
    lead_ids, fit_flags, codes, rules, points, instants = zip(*rows, strict=True)
    of_row = np.array(lead_ids, dtype=np.int64)
    lead = rows_of(leads, of_row)
    known = lead >= 0  # -1: a range reads the lines of ids between that are not the batch's
    is_fit = np.array(fit_flags, dtype=bool)
    for row in np.flatnonzero(known & is_fit).tolist():  # in time order, as the lead-by-lead sum
        sums = fit[int(lead[row])]
        if sums is None:
            sums = fit[int(lead[row])] = {}
        rule = rules[row] if codes[row] < 0 else labels[codes[row]]
        sums[rule] = sums.get(rule, 0.0) + float(points[row])
    behaviour = np.flatnonzero(known & ~is_fit)
    value = np.array(points, dtype=np.float64)[behaviour]
    if half_life is not None and len(behaviour):
        # decayed(): a line worth something, stated before now, fades by its age.
        ages = micros(now) - micros_column(instants)[behaviour]
        fading = np.flatnonzero((value != 0) & (ages > 0))
        value[fading] = value[fading] * halvings(ages[fading], half_life)
    code_of = np.array(codes, dtype=np.int64)[behaviour]
    for n in np.flatnonzero(code_of < 0).tolist():  # a rule the model does not have: a column of its own
        code_of[n] = columns.setdefault(rules[int(behaviour[n])], len(columns))
    width = len(columns)
    cell = lead[behaviour] * width + code_of
    size = len(leads) * width
    summed = np.bincount(cell, weights=value, minlength=size).astype(np.float64, copy=False)
    there = (np.bincount(cell, minlength=size) > 0).reshape(len(leads), width)
    return Held(fit, columns, summed.reshape(len(leads), width), there)


def behaviour_changes(
    held: Held, replay: Replay, leads: NDArray[np.int64], position: Mapping[int, int]
) -> dict[int, Changes]:
    """Per lead position with any: the behaviour rules whose replayed points differ from what
    the ledger holds, and by how much, in label order (a rule on only one side counts as zero on
    the other): ``_changes`` of :mod:`nurture.scoring.rescore` for every lead at once."""
    columns = held.columns
    due = np.zeros(held.behaviour.shape, dtype=np.float64)
    due_there = np.zeros(held.behaviour.shape, dtype=bool)
    for label, (there, sums) in replay.columns.items():
        column = columns[label]
        due[:, column] = sums
        due_there[:, column] = there
    for lead_id, earned in replay.earned.items():
        row = position.get(lead_id)
        if row is not None:
            for label, points in earned.items():
                due[row, columns[label]] = points
                due_there[row, columns[label]] = True
    # points - held.get(label, 0.0) for a rule due, 0.0 - points for one only held
    change = np.where(due_there, due - held.behaviour, 0.0 - held.behaviour)
    labels = sorted(columns)
    order = [columns[label] for label in labels]
    change = change[:, order]
    rows, cells = np.nonzero((due_there | held.there)[:, order] & (np.abs(change) > EPSILON))
    found: dict[int, Changes] = {}
    for row, cell, points in zip(rows.tolist(), cells.tolist(), change[rows, cells].tolist(), strict=True):
        changes = found.get(row)
        if changes is None:
            changes = found[row] = []
        changes.append((labels[cell], points))
    return found
