"""Every lead at its snapshot, rebuilt from the ledger in one streamed pass with arrays.

The same definitions as :func:`nurture.scoring.snapshots.sample_of` (snapshot moment, score faded
to it with no look-ahead, outcome within the horizon, features per rule, the first sales answer),
computed for a chunk of leads at a time on arrays instead of lead by lead: moments become whole
microseconds and stage, kind and rule names small codes, a column at a time, and the sums per lead
and per (lead, rule) are ``np.bincount`` over the chunk. Memory is the chunk's rows plus the
columns of the result (some dozens of bytes a lead).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import Connection

from nurture.scoring.handed_moves import HandedMoves
from nurture.scoring.sample_columns import EPOCH, NO_ANSWER, SampleColumns, micros
from nurture.scoring.snapshots import FUNNEL, ModelRules, Question, Samples, snapshot_delay
from nurture.store import bulk
from nurture.store.columns import read_columns, rows_of

CHUNK = 20_000  # leads per round: their rows in Python are the peak of memory
_NEVER = np.iinfo(np.int64).max
_KINDS = ("fit", "behavior", "rescore")  # the kinds whose lines are a rule's (features)
_ANSWERING = ("sal", "sql", "recycled", "disqualified")
_STAGES = (*FUNNEL, "recycled", "disqualified")  # codes: a funnel stage's position, then these
ACCEPTED, NO_REASON = "accepted", "no reason given"


def _moment_sql(conn: Connection, column: str) -> str:
    """SQL reading ``column`` (an instant) in the form :func:`_moments` turns into numbers."""
    if conn.dialect.name == "postgresql":
        return f"CAST(EXTRACT(EPOCH FROM {column}) * 1000000 AS BIGINT)"
    return column  # SQLite's text 'YYYY-MM-DD HH:MM:SS.ffffff' (UTC): numpy reads it faster


def _moments(values: Sequence[Any]) -> NDArray[np.int64]:
    """Stored instants (microseconds already, or SQLite's UTC text) as microseconds since 1970."""
    if not values or not isinstance(values[0], str):
        return np.array(values, dtype=np.int64)
    try:
        return np.array(values, dtype="datetime64[us]").astype(np.int64)
    except ValueError:  # text written by hand with an offset of its own
        return np.array([micros(bulk.read_instant(v) or EPOCH) for v in values], dtype=np.int64)


def _codes(column: str, names: Sequence[str]) -> str:
    """SQL giving each of ``names`` (bound as :p) its position in them, anything else -1: the
    database compares names faster than Python looks them up (a CASE on the column reads it
    once a row, where a WHEN comparing it per name read it again for each)."""
    return bulk.positions(column, len(names), "-1") if names else "-1"


def _column(rows: Sequence[Any], index: int, dtype: Any = np.int64) -> NDArray[Any]:
    return np.array([row[index] for row in rows], dtype=dtype)


def read_samples(
    conn: Connection,
    question: Question,
    rules: ModelRules,
    now: datetime,
    *,
    chunk: int = CHUNK,
    handed: HandedMoves | None = None,
) -> Samples:
    """Every lead of the store at its snapshot (as columns), and the leads left out by why.
    ``handed``: the stage changes as another reader gives them (the report's journeys), taken
    from there where it has them and read here where it has not."""
    try:
        return _read_samples(conn, question, rules, now, chunk, handed)
    finally:
        if handed is not None:
            handed.stop()


def _read_samples(
    conn: Connection,
    question: Question,
    rules: ModelRules,
    now: datetime,
    chunk: int,
    handed: HandedMoves | None,
) -> Samples:
    parts: list[SampleColumns] = []
    left_out: Counter[str] = Counter()
    after = 0
    width = len(rules.labels)
    leads_sql = f"SELECT id, {_moment_sql(conn, 'created_at')} FROM leads WHERE id > :p ORDER BY id LIMIT :p"  # noqa: S608 - constants
    ledger_sql = (
        f"SELECT lead_id, {_codes('kind', _KINDS)}, {_codes('rule', rules.labels)}, points, "  # noqa: S608 - constants
        f"{_moment_sql(conn, 'at')} FROM score_ledger WHERE lead_id BETWEEN :p AND :p"
    )
    # The moves come as columns (five million of them for a million leads); a reason is read
    # only for the few moves that turn out to be a lead's first answer.
    stage_case = " ".join(f"WHEN '{stage}' THEN {code}" for code, stage in enumerate(_STAGES))
    moves_sql = (
        f"SELECT lead_id, CASE to_stage {stage_case} ELSE -1 END AS stage, at, id "  # noqa: S608 - constants
        "FROM stage_changes WHERE lead_id >= :low AND lead_id < :high ORDER BY lead_id, at, id"
    )
    while True:
        leads = bulk.fetch_positional(conn, leads_sql, [after, chunk])
        if not leads:
            break
        ids = _column(leads, 0)
        created = _moments([row[1] for row in leads])
        lo, hi = int(ids[0]), int(ids[-1])
        ledger = bulk.fetch_positional(conn, ledger_sql, [*_KINDS, *rules.labels, lo, hi])
        moves = handed.moves(lo, hi) if handed is not None else None
        if moves is not None:
            moves = _of_leads(moves, ids)
        else:
            moves = read_columns(
                conn,
                moves_sql,
                {"lead_id": "int", "stage": "int", "at": "instant", "id": "int"},
                {"low": lo, "high": hi + 1},
                chunk_key="lead_id",
                key_bounds=("low", "high"),
                never_null=True,
            )
        part, reasons = _chunk(conn, ids, created, ledger, moves, question, rules, micros(now), width)
        parts.append(part)
        left_out.update(reasons)  # in the order leads first gave each reason, as one by one
        after = hi
    return Samples(SampleColumns.joined(parts, width), left_out)


def _of_leads(moves: dict[str, NDArray[np.int64]], ids: NDArray[np.int64]) -> dict[str, NDArray[np.int64]]:
    """The handed ``moves`` of the leads ``ids`` (ascending) only: they come from another
    connection's snapshot, where a lead erased or merged since may still have changes."""
    known = rows_of(ids, moves["lead_id"]) >= 0
    return moves if known.all() else {name: column[known] for name, column in moves.items()}


def _chunk(
    conn: Connection,
    ids: NDArray[np.int64],
    created: NDArray[np.int64],
    ledger: list[Any],
    moves: dict[str, NDArray[np.int64]],
    question: Question,
    rules: ModelRules,
    now: int,
    width: int,
) -> tuple[SampleColumns, dict[str, int]]:
    n = len(ids)
    # Stage moves: code (FUNNEL position, then recycled, disqualified), moment, reason.
    m_lead = np.searchsorted(ids, moves["lead_id"])
    m_stage = moves["stage"]
    m_at = moves["at"]
    mql = FUNNEL.index("mql")
    mql_at = np.full(n, _NEVER, dtype=np.int64)
    is_mql = m_stage == mql
    np.minimum.at(mql_at, m_lead[is_mql], m_at[is_mql])
    delay = snapshot_delay(question.at)
    if delay is None:
        at = mql_at.copy()
        never = mql_at == _NEVER
    else:
        at = created + micros_of(delay)
        never = np.zeros(n, dtype=bool)
    end = np.where(never, _NEVER, at + micros_of(question.horizon))
    pending = ~never & (end > now)
    keep = ~never & ~pending
    reasons: dict[str, int] = {}
    for why, rows in sorted(
        (("never an MQL", never), ("horizon not over yet", pending)), key=lambda item: _first(item[1])
    ):
        if rows.any():
            reasons[why] = int(rows.sum())
    # Converted: a move to the outcome stage or a later one of the funnel by the horizon's end.
    outcome = FUNNEL.index(question.outcome)
    reached = (m_stage >= outcome) & (m_stage < len(FUNNEL)) & (m_at <= end[m_lead])
    converted = np.bincount(m_lead[reached], minlength=n) > 0
    handed_over = mql_at <= end
    answer, names = _answers(conn, moves["id"], m_lead, m_stage, m_at, mql_at, end)
    score, features = _ledger(ledger, ids, at, rules, width)
    return (
        SampleColumns(
            ids[keep], at[keep], score[keep], converted[keep], features[keep], handed_over[keep],
            answer[keep], names,
        ),
        reasons,
    )  # fmt: skip


def micros_of(span: timedelta) -> int:
    return span // timedelta(microseconds=1)


def _first(rows: NDArray[np.bool_]) -> int:
    found = np.flatnonzero(rows)
    return int(found[0]) if len(found) else len(rows)


def _answers(
    conn: Connection,
    move_ids: NDArray[np.int64],
    m_lead: NDArray[np.int64],
    m_stage: NDArray[np.int64],
    m_at: NDArray[np.int64],
    mql_at: NDArray[np.int64],
    end: NDArray[np.int64],
) -> tuple[NDArray[np.int32], list[str]]:
    """Each lead's first sales answer after its first MQL moment, by the horizon's end: accepted
    (sal, sql) or the reason of a recycle or disqualification."""
    n = len(mql_at)
    answering = np.isin(m_stage, [FUNNEL.index("sal"), FUNNEL.index("sql"), len(FUNNEL), len(FUNNEL) + 1])
    candidates = np.flatnonzero(answering & (m_at >= mql_at[m_lead]) & (m_at <= end[m_lead]))
    answer = np.full(n, NO_ANSWER, dtype=np.int32)
    if not len(candidates):
        return answer, []
    # Moves come ordered by lead and time: the first candidate of each lead is its answer.
    leads, first = np.unique(m_lead[candidates], return_index=True)
    chosen = candidates[first]
    refused = m_stage[chosen] >= len(FUNNEL)
    # Each answer's name as a code: 0 accepted, 1 no reason given, then the other reasons found.
    given = _reasons(conn, move_ids[chosen[refused]])
    code_of = {ACCEPTED: 0, NO_REASON: 1}
    for reason in given.values():
        if reason:  # '' names none
            code_of.setdefault(reason, len(code_of))
    keys = np.zeros(len(chosen), dtype=np.int64)
    keys[refused] = [code_of[given.get(move) or NO_REASON] for move in move_ids[chosen[refused]].tolist()]
    # Names numbered in the order the chunk's leads first give them, as one by one.
    present, first_given = np.unique(keys, return_index=True)
    order = present[np.argsort(first_given)]
    number = np.zeros(len(code_of), dtype=np.int32)
    number[order] = np.arange(len(order), dtype=np.int32)
    answer[leads] = number[keys]
    labels = list(code_of)
    return answer, [labels[key] for key in order.tolist()]


def _reasons(conn: Connection, move_ids: NDArray[np.int64]) -> dict[int, str]:
    """The reasons recorded with these stage changes (recycled or disqualified), by id: one
    query for all of them, the ids bound as one value (a JSON array on SQLite, an array's text
    on PostgreSQL), each found through the primary key. Reading every refusal of the chunk's leads
    and keeping these few took a fifth of the backtest at a million leads; an IN list of
    hundreds of parameters was parsed anew by the driver every time."""
    if not len(move_ids):
        return {}
    wanted = move_ids.tolist()
    if conn.dialect.name == "postgresql":  # as text: the driver's own list took a microsecond an id
        sql = "SELECT id, reason FROM stage_changes WHERE id = ANY(CAST(:p AS int8[])) AND reason IS NOT NULL"
        ids = "{" + ",".join(map(str, wanted)) + "}"
    else:
        sql = (
            "SELECT id, reason FROM stage_changes WHERE id IN (SELECT value FROM json_each(:p)) "
            "AND reason IS NOT NULL"
        )
        ids = json.dumps(wanted)
    return {move: reason for move, reason in bulk.fetch_positional(conn, sql, [ids])}


def _ledger(
    ledger: list[Any], ids: NDArray[np.int64], at: NDArray[np.int64], rules: ModelRules, width: int
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The score at the snapshot (fit lines as written, the others faded to it) and each rule's
    feature, from the ledger lines up to the snapshot."""
    n = len(ids)
    if not ledger:
        return np.zeros(n, dtype=np.float64), _features(np.zeros((n, width), dtype=np.float64), rules)
    lead = np.searchsorted(ids, _column(ledger, 0))
    kind = _column(ledger, 1)
    rule = _column(ledger, 2)
    points = _column(ledger, 3, np.float64)
    when = _moments([row[4] for row in ledger])
    snap = at[lead]
    counted = when <= snap
    faded = points.copy()
    if rules.half_life is not None:
        half_life = micros_of(rules.half_life)
        fades = (kind != 0) & (when < snap) & (points != 0)
        faded[fades] = points[fades] * 0.5 ** ((snap[fades] - when[fades]) / half_life)
    score = np.asarray(np.bincount(lead[counted], weights=faded[counted], minlength=n), dtype=np.float64)
    own = counted & (kind >= 0) & (rule >= 0)
    held = np.asarray(
        np.bincount(lead[own] * width + rule[own], weights=faded[own], minlength=n * width), dtype=np.float64
    )
    return score, _features(held.reshape(n, width), rules)


def _features(held: NDArray[np.float64], rules: ModelRules) -> NDArray[np.float64]:
    """A fit rule: 1 when its lines hold points; a behaviour rule: its points held / its points."""
    found = np.zeros_like(held)
    for j, (kind, points) in enumerate(zip(rules.kinds, rules.points, strict=True)):
        if kind == "fit":
            found[:, j] = np.abs(held[:, j]) > 1e-9
        elif points:
            found[:, j] = held[:, j] / points
    return found
