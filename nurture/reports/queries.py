"""The database side of the report: read the recorded history as columns.

Stage changes, handoffs and touches come as numpy columns (:mod:`nurture.store.columns`), block by
block of leads where a table is read by the million; texts are coded by the database from the few
values there are. Changes, handoffs, events and sends after ``now`` are left out, so a report
pinned to a moment (``NURTURE_NOW``) sees the history as it stood then.
"""

from __future__ import annotations

import dataclasses
import itertools
import sys
import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime
from typing import Any, Literal

import numpy as np
from sqlalchemy import Connection, and_, func, select
from sqlalchemy import text as sql_text

from nurture.reports.balance import Moves, counted_moves
from nurture.reports.campaigns import Entries, StepFigures
from nurture.reports.handoffs import Handoffs, Vocabulary
from nurture.reports.instants import NEVER, micros
from nurture.reports.journeys import (
    NO_DEALS,
    STAGES,
    Changes,
    Deals,
    Journeys,
    build_journeys,
    joined,
    stage_code,
)
from nurture.reports.lead_facts import LeadFacts, attribute_text
from nurture.reports.recorded import Recorded
from nurture.reports.rows import StageChange
from nurture.reports.touch_columns import STEP_SEPARATOR, Touches, step_key
from nurture.scoring.handed_moves import HandedMoves
from nurture.store import bulk
from nurture.store.columns import NO_INSTANT, Arrays, ordered, read_columns, rows_of
from nurture.store.schema import CAMPAIGN_MAIL, events, messages

# A stage's code (its place in STAGES), worked out by the database for every row; -1: none.
_STAGE_CASE = (
    "CASE {column} " + " ".join(f"WHEN '{s}' THEN {code}" for code, s in enumerate(STAGES)) + " ELSE -1 END"
)


def _stage_of(column: str) -> str:
    return _STAGE_CASE.format(column=column)


def read_recorded(
    conn: Connection,
    now: datetime,
    until: datetime,
    every: str,
    since: datetime | None,
    period_end: datetime | None,
    touches: Callable[[], Touches] | None = None,
    handoffs: Callable[[], Handoffs] | None = None,
    moves_to: HandedMoves | None = None,
) -> Recorded:
    """Everything the figures read, recorded up to ``now``: ``until`` ends the balance's moves,
    ``since`` and ``period_end`` bound the enrollments counted. Read as columns (the stage changes,
    handoffs and touches of a million leads never become objects). ``touches`` gives the
    :func:`read_touches` read elsewhere (the report reads them on a connection of its own), and
    ``handoffs`` likewise the :func:`read_handoff_columns` read elsewhere, asked for once the
    journeys are read; without them they are read here. The touches are asked for (or read on
    ``conn``) when a figure first needs them (:attr:`Recorded.touches`), so ``conn`` must still be
    open then: the figures that need none are worked out while they are read beside. The stage
    changes are given to ``moves_to`` as they are read (the report's backtest takes them there)."""
    journeys, moves = read_journeys(conn, now, until, every, moves_to)
    handed = read_handoffs(conn, now, journeys) if handoffs is None else handoffs_placed(handoffs(), journeys)
    entered = campaign_entries(conn, now, since, period_end)
    return Recorded(
        journeys=journeys,
        handoffs=handed,
        read_touches=lambda: placed(
            touches() if touches is not None else read_touches(conn, now, ()), journeys
        ),
        moves=moves,
        entered=entered,
        facts=DatabaseFacts(conn, journeys.lead_id, now),
    )


def read_stages(conn: Connection, now: datetime) -> tuple[Journeys, Handoffs, LeadFacts]:
    """Only the journeys and handoffs, with the leads' facts (enough for stuck leads, with the
    owner each had at ``now``)."""
    journeys, _ = read_journeys(conn, now, now, "month")
    return journeys, read_handoffs(conn, now, journeys), DatabaseFacts(conn, journeys.lead_id, now)


def read_journeys(
    conn: Connection, now: datetime, until: datetime, every: str, moves_to: HandedMoves | None = None
) -> tuple[Journeys, Moves]:
    """Every lead's journey, and the stage balance's moves: the stage changes are read once, as
    columns, for both (moves of leads created after ``now`` count in the balance only), and
    given to ``moves_to`` as they are read (closed at the end, however it ends)."""
    try:
        return _read_journeys(conn, now, until, every, moves_to)
    finally:
        if moves_to is not None:
            moves_to.close()


def _read_journeys(
    conn: Connection, now: datetime, until: datetime, every: str, moves_to: HandedMoves | None
) -> tuple[Journeys, Moves]:
    leads = read_columns(
        conn,
        f"SELECT id, created_at, {_stage_of('lifecycle_stage')} AS stage FROM leads "  # noqa: S608 - fixed texts
        "WHERE created_at <= :now ORDER BY id",
        {"id": "int", "created_at": "instant", "stage": "int"},
        {"now": now},
        chunk_key="id",
        never_null=True,
    )
    lead_id, created, row_stage = leads["id"], leads["created_at"], leads["stage"]
    # Block by block of leads, so that only a block's stage changes are ever held; the blocks
    # cover every id changed (moves of leads created after ``now`` count in the balance).
    parts = []
    inflow: Counter[tuple[date, str]] = Counter()
    outflow: Counter[tuple[date, str]] = Counter()
    changed = next(
        _rows(
            conn,
            "SELECT (SELECT min(lead_id) FROM stage_changes), (SELECT max(lead_id) FROM stage_changes)",
            now,
        )
    )
    # With ``moves_to``, every change is read, whatever its moment, for the backtest it gives them
    # to (with their ids); the journeys keep those up to ``now``. Else only those are read.
    extra, bounds = (", id", "") if moves_to is not None else ("", " AND at <= :now")
    columns: dict[str, Literal["int", "instant"]] = {
        "lead_id": "int",
        "from_stage": "int",
        "to_stage": "int",
        "at": "instant",
    }
    if moves_to is not None:
        columns["id"] = "int"
    for start, end, low, high in _blocks(lead_id, *changed):
        changes = read_columns(
            conn,
            f"SELECT lead_id, {_stage_of('from_stage')} AS from_stage, {_stage_of('to_stage')} AS to_stage, "  # noqa: S608
            f"at{extra} FROM stage_changes WHERE lead_id >= :low AND lead_id < :high{bounds} "
            "ORDER BY lead_id, at, id",
            columns,
            {"low": low, "high": high, **({} if moves_to is not None else {"now": now})},
            chunk_key="lead_id",
            key_bounds=("low", "high"),
            never_null=True,
        )
        if moves_to is not None:
            moves_to.give(
                {
                    "lead_id": changes["lead_id"],
                    "stage": changes["to_stage"],
                    "at": changes["at"],
                    "id": changes.pop("id"),
                },
                high,
            )
            if not (up_to_now := changes["at"] <= micros(now)).all():
                changes = {name: column[up_to_now] for name, column in changes.items()}
        came, left = counted_moves(changes["from_stage"], changes["to_stage"], changes["at"], until, every)
        inflow.update(came)
        outflow.update(left)
        rows = rows_of(lead_id[start:end], changes["lead_id"])
        known = rows >= 0
        found = Changes(
            rows[known], changes["from_stage"][known], changes["to_stage"][known], changes["at"][known]
        )
        parts.append(
            build_journeys(lead_id[start:end], created[start:end], row_stage[start:end], found, NO_DEALS)
        )
        del changes, found
    # One pass over the table in its own order (on SQLite "+" keeps the indexes out: through
    # them, each of a few hundred thousand deals cost a lookup of its row), put in lead and time
    # order here: the latest amount of a lead is the one kept.
    plus = "+" if conn.dialect.name == "sqlite" else ""
    recorded = sorted(
        _rows(
            conn,
            "SELECT lead_id, to_stage, amount, currency, at, id FROM stage_changes "  # noqa: S608 - fixed texts
            f"WHERE amount IS NOT NULL AND {plus}to_stage IN ('opportunity', 'customer') "
            f"AND {plus}at <= :now",
            now,
        ),
        key=_deal_order,
    )
    deal_rows = rows_of(lead_id, np.array([r[0] for r in recorded], dtype=np.int64)).tolist()
    kept = [(row, r) for row, r in zip(deal_rows, recorded, strict=True) if row >= 0]
    deals = Deals(
        [row for row, _ in kept],
        [stage_code(r[1]) for _, r in kept],
        [r[2] for _, r in kept],
        [r[3] and _intern(r[3]) for _, r in kept],
    )
    return joined(parts, deals), (inflow, outflow)


_BLOCK_LEADS = 100_000  # leads whose stage changes are held at once


def _blocks(
    ids: np.ndarray, lowest: int | None = None, highest: int | None = None
) -> Iterator[tuple[int, int, int, int]]:
    """Blocks of :data:`_BLOCK_LEADS` of ``ids`` (ascending): the rows ``[start, end)`` and the
    keys ``[low, high)`` a block reads, which cover every id between; the first reaches down to
    ``lowest`` and the last up to ``highest`` (keys of rows without a lead, where they count)."""
    if not len(ids):  # one block all the same: the changes of leads after ``now``, or none
        yield 0, 0, lowest if lowest is not None else 0, highest + 1 if highest is not None else 0
        return
    for start in range(0, len(ids), _BLOCK_LEADS):
        end = min(start + _BLOCK_LEADS, len(ids))
        low = int(ids[start]) if start > 0 or lowest is None else min(lowest, int(ids[0]))
        high = (
            int(ids[end]) if end < len(ids) else max(int(ids[-1]), highest if highest is not None else 0) + 1
        )
        yield start, end, low, high


def _deal_order(row: tuple[Any, ...]) -> tuple[Any, ...]:
    lead_id, _, _, _, at, id_ = row
    return (lead_id, at, id_)  # stored instants compare as they sort (UTC text, or timestamptz)


def read_changes(conn: Connection, now: datetime) -> dict[int, list[StageChange]]:
    """Every lead's stage changes up to ``now``, in time order (the experiments' outcomes)."""
    found: dict[int, list[StageChange]] = defaultdict(list)
    instant, intern = bulk.instant_reader(conn), _intern
    for lead_id, old, new, at, reason, amount, currency in _rows(
        conn,
        "SELECT lead_id, from_stage, to_stage, at, reason, amount, currency FROM stage_changes "
        "WHERE at <= :now ORDER BY lead_id, at, id",
        now,
    ):
        found[lead_id].append(
            StageChange(
                lead_id, old and intern(old), intern(new), instant(at), intern(reason), amount,
                currency and intern(currency),
            )
        )  # fmt: skip
    return dict(found)


_BATCH = 10_000
_cursors = itertools.count()


def _rows(conn: Connection, sql: str, now: datetime, **instants: datetime) -> Iterator[Any]:
    """The driver's own rows of ``sql`` (``:now`` and any other ``instants`` bound), fetched in
    batches: a million leads are read here, and SQLAlchemy's per-row result processing would cost
    more than the database's work. On PostgreSQL the cursor is the server's, so the rows never
    pile up in this process."""
    params = {name: bulk.instant(conn, at) for name, at in {"now": now, **instants}.items()}
    if conn.dialect.name == "postgresql":
        cursor = conn.connection.cursor(name=f"nurture_report_{next(_cursors)}")
        for name in params:
            sql = sql.replace(f":{name}", f"%({name})s")
    else:
        cursor = conn.connection.cursor()
    try:
        cursor.execute(sql, params)
        while batch := cursor.fetchmany(_BATCH):
            yield from batch
    finally:
        cursor.close()


# One shared copy of each text: the driver makes new strings for every row, while stages,
# campaigns, steps, reps and reasons repeat across a million rows, so each is held once.
_intern = sys.intern


_CASE_LIMIT = 64  # texts a CASE codes in the database; beyond, every row would test them all


def _coded(column: str, vocabulary: Vocabulary, params: dict[str, Any]) -> str:
    """A CASE giving each text of ``column`` its code in ``vocabulary`` (-1: NULL), the texts
    bound as parameters; for a column of few texts (:data:`_CASE_LIMIT`)."""
    if not vocabulary.texts:
        return "-1"
    branches = []
    for code, text in enumerate(vocabulary.texts):
        params[f"{column}_{code}"] = text
        branches.append(f"WHEN :{column}_{code} THEN {code}")
    return f"CASE {column} {' '.join(branches)} ELSE -1 END"


def read_handoffs(conn: Connection, now: datetime, journeys: Journeys) -> Handoffs:
    """The handoffs assigned up to ``now`` in id order, each with its lead's row in ``journeys``."""
    return handoffs_placed(read_handoff_columns(conn, now), journeys)


def handoffs_placed(handoffs: Handoffs, journeys: Journeys) -> Handoffs:
    """``handoffs`` (of :func:`read_handoff_columns`) with each lead's row in ``journeys``."""
    rows = rows_of(journeys.lead_id, handoffs.lead_ids)
    return dataclasses.replace(handoffs, lead=rows, _first_acceptance=None, _masks={})  # kept per row: anew


def read_handoff_columns(conn: Connection, now: datetime) -> Handoffs:
    """The handoffs assigned up to ``now`` in id order, not yet placed among the journeys (every
    ``lead`` -1, see :func:`handoffs_placed`): read apart from the journeys, so another connection
    can read them meanwhile. One answered after ``now`` is pending then. Reps, teams and statuses
    are coded by the database from the few there are (every text the table holds, found column by
    column; read row by row when there are many), then kept to those of the handoffs read, in text
    order; reasons are free text, read only for the rejected handoffs."""
    texts = ("rep_id", "team_key", "status")
    # All of a column's texts, not only those up to ``now``: a pass of its own per column (the
    # reps' through their index) costs a quarter of one grouped by all three up to ``now``.
    vocabularies = {column: Vocabulary(sorted(_all_texts(conn, column, now))) for column in texts}
    params: dict[str, Any] = {"now": now}
    by_case = [column for column in texts if len(vocabularies[column].texts) <= _CASE_LIMIT]
    coded = "".join(f", {_coded(column, vocabularies[column], params)} AS {column}" for column in by_case)
    found = read_columns(
        conn,
        f"SELECT id, lead_id{coded}, assigned_at, accept_due_at, responded_at FROM handoffs "  # noqa: S608
        "WHERE assigned_at <= :now ORDER BY id",
        {
            "id": "int",
            "lead_id": "int",
            **dict.fromkeys(by_case, "int"),
            "assigned_at": "instant",
            "accept_due_at": "instant",
            "responded_at": "instant",
        },
        params,
        chunk_key="id",
    )
    ids = found["id"]
    for column in texts:
        if column not in by_case:
            found[column] = _texts_by_row(conn, column, now, ids, vocabularies[column])
    reasons = Vocabulary()
    reason = _placed_texts(
        ids,
        _rows(
            conn,
            "SELECT id, reason FROM handoffs WHERE status = 'rejected' AND reason IS NOT NULL "
            "AND assigned_at <= :now",
            now,
        ),
        reasons,
    ).astype(np.int32)
    for column in texts:
        found[column], vocabularies[column] = _kept(found[column], vocabularies[column])
    due, responded, status = found["accept_due_at"], found["responded_at"], found["status"]
    due[due == NO_INSTANT] = NEVER
    responded[responded == NO_INSTANT] = NEVER
    statuses = vocabularies["status"]
    late = (responded != NEVER) & (responded > micros(now))
    if late.any():
        responded[late], status[late] = NEVER, statuses.code("pending")  # answered after the report's moment
    return Handoffs(
        ids, found["lead_id"], np.full(len(ids), -1, dtype=np.int64),
        found["rep_id"].astype(np.int32), found["team_key"].astype(np.int32), status.astype(np.int32),
        found["assigned_at"], due, responded, reason, vocabularies["rep_id"], vocabularies["team_key"],
        statuses, reasons,
    )  # fmt: skip


def _all_texts(conn: Connection, column: str, now: datetime) -> list[str]:
    sql = f"SELECT DISTINCT {column} FROM handoffs WHERE {column} IS NOT NULL"  # noqa: S608 - fixed names
    return [text for (text,) in _rows(conn, sql, now)]


def _kept(codes: np.ndarray, vocabulary: Vocabulary) -> tuple[np.ndarray, Vocabulary]:
    """``codes`` and ``vocabulary`` kept to the texts the codes use (in the vocabulary's order)."""
    used = np.zeros(len(vocabulary.texts) + 1, dtype=bool)  # the last: -1, none
    used[codes] = True
    kept = np.flatnonzero(used[:-1])
    if len(kept) == len(vocabulary.texts):
        return codes, vocabulary
    renumbered = np.full(len(vocabulary.texts) + 1, -1, dtype=np.int64)
    renumbered[kept] = np.arange(len(kept))
    return renumbered[codes], Vocabulary(vocabulary.texts[code] for code in kept.tolist())


def _texts_by_row(
    conn: Connection, column: str, now: datetime, ids: np.ndarray, vocabulary: Vocabulary
) -> np.ndarray:
    """The codes of a handoff text column of many values, read row by row (ids in order)."""
    sql = f"SELECT id, {column} FROM handoffs WHERE assigned_at <= :now AND {column} IS NOT NULL"  # noqa: S608
    return _placed_texts(ids, _rows(conn, sql, now), vocabulary)


def _placed_texts(ids: np.ndarray, rows: Iterable[tuple[int, str]], vocabulary: Vocabulary) -> np.ndarray:
    """Per id of ``ids`` (ascending), the code of its text among ``rows`` (id, text); -1: none."""
    listed = list(rows)
    codes = np.full(len(ids), -1, dtype=np.int64)
    at = rows_of(ids, np.array([id_ for id_, _ in listed], dtype=np.int64))
    for row, (_, text) in zip(at.tolist(), listed, strict=True):
        if row >= 0:
            codes[row] = vocabulary.code(text)
    return codes


def campaign_entries(
    conn: Connection, now: datetime, since: datetime | None, until: datetime | None
) -> Entries:
    """Enrollments entered in the period up to ``now``, counted by the database per campaign,
    status and exit reason."""
    clauses = ["entered_at <= :now"]
    instants = {}
    if since is not None:
        clauses.append("entered_at >= :since")
        instants["since"] = since
    if until is not None:
        clauses.append("entered_at < :until")
        instants["until"] = until
    found: Entries = Counter()
    for campaign, status, exit_reason, count in _rows(
        conn,
        "SELECT campaign_key, status, exit_reason, COUNT(*) FROM enrollments "  # noqa: S608 - fixed texts
        f"WHERE {' AND '.join(clauses)} GROUP BY campaign_key, status, exit_reason",
        now,
        **instants,
    ):
        found[(campaign, status, exit_reason)] += count
    return found


# Touches count only up to a conversion (mql or a later stage), so only those of leads that
# qualified, up to their latest move to such a stage, are read: most leads never convert, and
# engagement after the last conversion would never be credited. Each lead's latest conversion is
# looked up as the leads are walked in id order (through ix_stage_changes_lead_moves), then its
# touches read in order from their indexes, so the database sorts nothing.
_CONVERSIONS_OF_L = (
    "SELECT MAX(s.at) FROM stage_changes s WHERE s.lead_id = l.id AND "
    "s.to_stage IN ('mql', 'sal', 'sql', 'opportunity', 'customer') AND s.at <= :now"
)
_LATEST_CONVERSION = f"({_CONVERSIONS_OF_L})"
_SENT = (
    "SELECT l.id AS lead_id, m.sent_at AS at FROM leads l CROSS JOIN messages m "  # noqa: S608 - fixed texts
    "ON m.lead_id = l.id WHERE l.id >= :low AND l.id < :high AND l.created_at <= :now "
    "AND m.kind = 'marketing' AND m.sent_at IS NOT NULL "
    f"AND m.sent_at <= {_LATEST_CONVERSION} ORDER BY l.id"
)
_ENGAGED = (
    "SELECT l.id AS lead_id, e.occurred_at AS at, {step} AS step FROM leads l CROSS JOIN events e "  # noqa: S608
    "ON e.lead_id = l.id WHERE l.id >= :low AND l.id < :high AND l.created_at <= :now "
    "AND e.machine_reason IS NULL "
    f"AND e.occurred_at <= {_LATEST_CONVERSION} ORDER BY l.id, e.occurred_at, e.id"
)


# PostgreSQL: each lead's latest conversion and then its touches as LATERAL subqueries, so each
# lead's are found through the indexes; planned as a join, every block of leads scanned the whole
# events table (24 million rows) into a hash join and sorted the result. OFFSET 0 keeps the
# planner from pulling a subquery up into such a join (it did, on statistics that make a scan of
# the table look cheaper than a hundred thousand index searches: 12.5 s a block against 2.0).
# The sends and the engagement are one query, so each lead's conversion is looked up once (as two,
# the sends' lookups cost a fifth of a block's time with no email sent); there is no ORDER BY:
# each lead's engagement comes in the order of its index, which PostgreSQL does not know to be
# the order asked and sorted again (another sixth), so the order is checked as read (``id``).
_PG_TOUCHES = (
    "SELECT l.id AS lead_id, t.at, t.sent, t.id, t.step FROM leads l CROSS JOIN LATERAL ("  # noqa: S608
    f"{_CONVERSIONS_OF_L}) c(last_at) CROSS JOIN LATERAL ("
    "SELECT m.sent_at AS at, 1 AS sent, 0 AS id, -1 AS step FROM messages m WHERE m.lead_id = l.id "
    "AND m.kind = 'marketing' AND m.sent_at IS NOT NULL AND m.sent_at <= c.last_at "
    "UNION ALL SELECT e.occurred_at, 0, e.id, {step} FROM events e WHERE e.lead_id = l.id "
    "AND e.machine_reason IS NULL AND e.occurred_at <= c.last_at OFFSET 0) t "
    "WHERE l.id >= :low AND l.id < :high AND l.created_at <= :now AND c.last_at IS NOT NULL"
)


def read_touches(conn: Connection, now: datetime, known_steps: Iterable[tuple[str, str]]) -> Touches:
    """Marketing emails sent and people's engagement (machine opens and clicks left out) of the
    leads that qualified, up to their latest conversion: the sends (counted only), then the
    engagements lead by lead in time order (their order tells first from last touch), block by
    block of leads. ``lead`` holds the lead ids, until :func:`placed` puts each lead's row there.

    An engagement's campaign step is coded by the database from ``known_steps`` (the program's
    steps, first) and every step engagement names (:func:`event_steps`: a step since removed from
    the program), looked up before the blocks are read."""
    reading = TouchReading(now, known_steps)
    reading.join(conn)
    return reading.result()


class TouchReading:
    """:func:`read_touches` with blocks of leads read by whichever connections join in: the
    report's second connection starts at once and its first, done with the journeys, takes the
    blocks left instead of waiting (each block comes from the snapshot of the connection that read
    it). The blocks are put together in lead order whoever read them."""

    def __init__(self, now: datetime, known_steps: Iterable[tuple[str, str]]) -> None:
        self.now = now
        self.steps = Vocabulary(step_key(campaign, step) for campaign, step in known_steps)
        self._lock = threading.Condition()
        self._blocks: list[tuple[int, int]] | None = None
        self._parts: dict[int, Touches] = {}
        self._started = 0
        self._failed: BaseException | None = None
        self._taken = False

    def join(self, conn: Connection) -> None:
        """Read blocks on ``conn`` until every block is taken (the first to join finds them)."""
        try:
            with self._lock:
                if self._blocks is None:
                    # Blocks of leads by count (ids may be sparse), each block's touches kept small.
                    ids = read_columns(
                        conn,
                        "SELECT id FROM leads WHERE created_at <= :now ORDER BY id",
                        {"id": "int"},
                        {"now": self.now},
                        chunk_key="id",
                        never_null=True,
                    )["id"]
                    # Engagement may name steps the program no longer has: all are coded, after
                    # the program's, before any block is read (the vocabulary is not changed after).
                    for campaign, step in event_steps(conn):
                        self.steps.code(step_key(campaign, step))
                    self._blocks = [(low, high) for _, _, low, high in _blocks(ids)]
                    self._lock.notify_all()
            while True:
                with self._lock:
                    if self._failed is not None or self._started >= len(self._blocks):
                        return
                    index = self._started
                    self._started += 1
                part = _touch_block(conn, self.now, self.steps, *self._blocks[index])
                with self._lock:
                    self._parts[index] = part
                    self._lock.notify_all()
        except BaseException as error:
            with self._lock:
                self._failed = self._failed or error
                self._lock.notify_all()
            raise

    def result(self) -> Touches:
        """Every block's touches in lead order, once all are read (a reader's error raised)."""
        with self._lock:
            if self._taken:
                raise RuntimeError("the touches were handed over already")
            while self._failed is None and (self._blocks is None or len(self._parts) < len(self._blocks)):
                self._lock.wait()
            if self._failed is not None:
                raise self._failed
            parts = [self._parts[index] for index in range(len(self._parts))]
            self._parts.clear()  # handed over, not kept: the lead ids as read go once placed
            self._taken = True
        # Column by column, each block's column let go of once joined: never all blocks beside
        # all of their joined copy (300 MB at ten million touches).
        kinds = {"lead": np.int64, "at": np.int64, "sent": bool, "step": np.int16}  # the types of no block
        columns = {name: [getattr(part, name) for part in parts] for name in kinds}
        del parts
        joined = {}
        for name, kind in kinds.items():
            pieces = columns.pop(name)
            joined[name] = np.concatenate(pieces) if pieces else np.zeros(0, kind)
            del pieces
        return Touches(joined["lead"], joined["at"], joined["sent"], joined["step"], self.steps)


def event_steps(conn: Connection) -> Iterator[tuple[str, str]]:
    """Every campaign step that engagement names (campaign and step both given), in order: the
    database's distinct pairs found one index search each (``ix_events_step_figures``), where a
    DISTINCT over the events read every one of them (30 million at a million leads) to find a
    program's few hundred steps. Steps whose engagement all came after the report's moment are
    among them."""

    def first(sql: str, **params: str) -> str | None:
        found = conn.execute(sql_text(sql), params).first()
        return None if found is None else found[0]

    campaign = first(
        "SELECT campaign_key FROM events WHERE campaign_key IS NOT NULL ORDER BY campaign_key LIMIT 1"
    )
    while campaign is not None:
        step = first(
            "SELECT step_id FROM events WHERE campaign_key = :campaign AND step_id IS NOT NULL "
            "ORDER BY step_id LIMIT 1",
            campaign=campaign,
        )
        while step is not None:
            yield campaign, step
            step = first(
                "SELECT step_id FROM events WHERE campaign_key = :campaign AND step_id > :step "
                "ORDER BY step_id LIMIT 1",
                campaign=campaign,
                step=step,
            )
        campaign = first(
            "SELECT campaign_key FROM events WHERE campaign_key > :campaign ORDER BY campaign_key LIMIT 1",
            campaign=campaign,
        )


def _touch_block(conn: Connection, now: datetime, steps: Vocabulary, low: int, high: int) -> Touches:
    """The touches of the leads with ids in ``[low, high)``: their sends, then their engagements
    (each lead's in time order), kept in small types. An engagement of a step not in ``steps``
    (one recorded since they were looked up) has no step: it is counted, not credited."""
    bounds: dict[str, Any] = {"now": now, "low": low, "high": high}
    if conn.dialect.name == "postgresql":
        sent, engaged = _pg_touches(conn, steps, bounds)
    else:
        sent = read_columns(
            conn,
            _SENT,
            {"lead_id": "int", "at": "instant"},
            bounds,
            chunk_key="lead_id",
            key_bounds=("low", "high"),
        )
        engaged = read_columns(
            conn,
            _ENGAGED.format(step=_step_codes(steps, bounds)),
            {"lead_id": "int", "at": "instant", "step": "int"},
            bounds,
            chunk_key="lead_id",
            key_bounds=("low", "high"),
        )
    wide = len(steps.texts) >= np.iinfo(np.int16).max
    lead = np.concatenate([sent["lead_id"], engaged["lead_id"]])
    return Touches(
        # Held until every block is read: ids in 32 bits where they fit (40 MB less at a million leads).
        lead.astype(np.int32) if low >= -(2**31) and high <= 2**31 else lead,
        np.concatenate([sent["at"], engaged["at"]]),
        np.r_[np.ones(len(sent["lead_id"]), dtype=bool), np.zeros(len(engaged["lead_id"]), dtype=bool)],
        np.r_[np.full(len(sent["lead_id"]), -1), engaged["step"]].astype(np.int32 if wide else np.int16),
        steps,
    )


def _pg_touches(conn: Connection, steps: Vocabulary, bounds: dict[str, Any]) -> tuple[Arrays, Arrays]:
    """PostgreSQL's sends and engagements of a block, read as one (:data:`_PG_TOUCHES`) and then
    parted; the engagements put in order (lead, instant, id) should they not come so."""
    found = read_columns(
        conn,
        _PG_TOUCHES.format(step=_step_codes(steps, bounds)),
        {"lead_id": "int", "at": "instant", "sent": "int", "id": "int", "step": "int"},
        bounds,
        never_null=True,
    )
    is_sent = found["sent"] == 1
    sent = {name: found[name][is_sent] for name in ("lead_id", "at")}
    engaged = ordered(
        {name: found[name][~is_sent] for name in ("lead_id", "at", "id", "step")}, "lead_id", "at", "id"
    )
    return sent, engaged


_PLACED_PIECE = 1 << 20  # touches placed at a time


def placed(touches: Touches, journeys: Journeys) -> Touches:
    """:func:`read_touches` with each lead id replaced by the lead's row in ``journeys``."""
    # A piece at a time into the rows' own width: the search's int64 temporaries for ten million
    # touches at once (a few hundred megabytes) came on top of the figures already made.
    lead: np.ndarray = np.empty(len(touches.lead), dtype=np.int32 if len(journeys) < 2**31 else np.int64)
    for begin in range(0, len(lead), _PLACED_PIECE):
        lead[begin : begin + _PLACED_PIECE] = rows_of(
            journeys.lead_id, touches.lead[begin : begin + _PLACED_PIECE]
        )
    # A lead recorded after the journeys were read (the touches come from another connection's
    # snapshot) has no row: its touches are left out, as the journeys leave it out.
    known = lead >= 0
    if known.all():  # the usual case: the columns are kept, not copied (ten million touches)
        return Touches(lead, touches.at, touches.sent, touches.step, touches.steps)
    return Touches(lead[known], touches.at[known], touches.sent[known], touches.step[known], touches.steps)


def _step_codes(steps: Vocabulary, params: dict[str, Any]) -> str:
    """SQL giving an engagement's campaign step its code in ``steps`` (names bound into
    ``params``), -1 for a step not there: a CASE on the campaign, then one on
    its steps, so each row's campaign and step are read once and compared with few names (a
    WHEN of both per step read them again for every step: 60 % of SQLite's time for the touches)."""
    by_campaign: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for code, key in enumerate(steps.texts):
        campaign, _, step = key.partition(STEP_SEPARATOR)
        by_campaign[campaign].append((code, step))
    branches = []
    for number, (campaign, codes) in enumerate(by_campaign.items()):
        params[f"c{number}"] = campaign
        inner = []
        for code, step in codes:
            params[f"s{code}"] = step
            inner.append(f"WHEN :s{code} THEN {code}")
        branches.append(f"WHEN :c{number} THEN CASE e.step_id {' '.join(inner)} ELSE -1 END")
    if not branches:
        return "-1"
    return f"CASE e.campaign_key {' '.join(branches)} ELSE -1 END"


_EMAIL_BLOCK = 50_000  # leads whose addresses the database hands over as one text


class DatabaseFacts(LeadFacts):
    """Lead texts read from the database when a figure asks for them."""

    def __init__(self, conn: Connection, lead_id: np.ndarray, now: datetime) -> None:
        self.conn, self.lead_id, self.now = conn, lead_id, now

    def _by_row(self, sql: str) -> Iterator[tuple[int, tuple[Any, ...]]]:
        """The rows of ``sql`` (a lead id first; ``:now`` is the report's moment) with the lead's
        row, leads not reported left out."""
        found = _rows(self.conn, sql, self.now)
        while batch := list(itertools.islice(found, _BATCH)):
            rows = rows_of(self.lead_id, np.array([record[0] for record in batch], dtype=np.int64))
            for row, record in zip(rows.tolist(), batch, strict=True):
                if row >= 0:
                    yield row, tuple(record[1:])

    def emails(self, rows: np.ndarray) -> list[str]:
        """The addresses of these rows, a block of leads' addresses as one text (half a million
        stuck leads' addresses, row by row, took longer than their figures)."""
        by_row: dict[int, str] = {}
        ordered = np.sort(rows)
        begin = 0
        while begin < len(ordered):
            first = int(ordered[begin])
            last = min(first + _EMAIL_BLOCK, len(self.lead_id)) - 1
            end = int(np.searchsorted(ordered, last, side="right"))
            addresses = self._block_emails(first, last)
            for row in ordered[begin:end].tolist():
                by_row[row] = addresses[row - first]
            begin = end
        return [by_row[row] for row in rows.tolist()]

    def _block_emails(self, first: int, last: int) -> list[str]:
        """The addresses of rows ``first`` to ``last`` (in id order, as the journeys are), as one
        text with the leads' ids; found row by row, by id, should an address hold the separator
        or the leads not be the journeys' (recorded or erased since: on PostgreSQL each statement
        reads a snapshot of its own)."""
        ids = self.lead_id[first : last + 1]
        params = {"low": int(ids[0]), "high": int(ids[-1]), "now": bulk.instant(self.conn, self.now)}
        within = "FROM leads WHERE id >= :low AND id <= :high AND created_at <= :now"
        if self.conn.dialect.name == "sqlite":
            sql = (
                "SELECT group_concat(id, ','), group_concat(email, char(30)) "  # noqa: S608 - fixed texts
                f"FROM (SELECT id, email {within} ORDER BY id)"
            )
        else:
            sql = (
                "SELECT string_agg(id::text, ',' ORDER BY id), string_agg(email, chr(30) ORDER BY id) "
                + within
            )
        listed, text = self.conn.execute(sql_text(sql), params).one()  # an aggregate: always one row
        addresses: list[str] = text.split("\x1e") if text else []
        if (
            listed
            and len(addresses) == len(ids)
            and np.array_equal(np.array(listed.split(","), dtype=np.int64), ids)
        ):
            return addresses
        found: dict[int, str] = dict(self.conn.execute(sql_text(f"SELECT id, email {within}"), params).all())
        return [found.get(lead, "") for lead in ids.tolist()]  # "": erased since the journeys were read

    def unhanded_owners(self) -> dict[int, str]:
        return {
            row: owner
            for row, (owner,) in self._by_row(
                "SELECT id, owner_rep_id FROM leads WHERE owner_rep_id IS NOT NULL AND NOT EXISTS "
                "(SELECT 1 FROM handoffs h WHERE h.lead_id = leads.id)"
            )
        }

    def values(self, field: str) -> list[str | None]:
        if field in ("country", "industry", "owner"):
            codes, texts = self.coded(field)
            named: list[str | None] = [*texts, None]  # code -1: no value
            return [named[code] for code in codes.tolist()]
        found: list[str | None] = [None] * len(self.lead_id)
        for row, (attributes,) in self._by_row("SELECT id, attributes FROM leads"):
            found[row] = attribute_text((bulk.read_json(attributes) or {}).get(field))
        return found

    def coded(self, field: str) -> tuple[np.ndarray, list[str | None]]:
        if field in ("country", "industry", "owner"):
            # The few values are found by one grouped pass, then each lead's is read as a code.
            column = "owner_rep_id" if field == "owner" else field
            values = Vocabulary(
                value
                for (value,) in _rows(
                    self.conn,
                    f"SELECT {column} FROM leads WHERE {column} IS NOT NULL GROUP BY {column}",  # noqa: S608
                    self.now,
                )
            )
            params: dict[str, Any] = {"now": self.now}
            coded = read_columns(
                self.conn,
                f"SELECT id, {_coded(column, values, params)} AS code FROM leads "  # noqa: S608 - fixed texts
                "WHERE created_at <= :now ORDER BY id",
                {"id": "int", "code": "int"},
                params,
                chunk_key="id",
            )
            rows = rows_of(self.lead_id, coded["id"])
            known = rows >= 0
            codes = np.full(len(self.lead_id), -1, dtype=np.int64)
            codes[rows[known]] = coded["code"][known]
            return codes, list(values.texts)
        return super().coded(field)

    def first_campaigns(self) -> dict[int, str]:
        instant = bulk.instant_reader(self.conn)
        first: dict[int, tuple[datetime, str]] = {}
        for row, (entered, campaign) in self._by_row(
            "SELECT lead_id, entered_at, campaign_key FROM enrollments WHERE entered_at <= :now"
        ):
            at = instant(entered)
            held = first.get(row)
            if held is None or at < held[0]:
                first[row] = (at, campaign)
        return {row: campaign for row, (_, campaign) in first.items()}


def _window(column: Any, since: datetime | None, until: datetime | None) -> Any:
    clauses = []
    if since is not None:
        clauses.append(column >= since)
    if until is not None:
        clauses.append(column < until)
    return and_(True, *clauses)


def step_counts(conn: Connection, since: datetime | None, until: datetime | None) -> list[StepFigures]:
    """Sends by status and engagement by type per campaign step, for messages created in the period
    (engagement: occurred in it); counted in the database, since they are plain sums."""
    steps: dict[tuple[str, str], StepFigures] = {}
    m = messages.c
    for key, step_id, kind, status, count in conn.execute(
        select(m.campaign_key, m.step_id, m.kind, m.status, func.count())
        .where(m.kind.in_(CAMPAIGN_MAIL), m.campaign_key.is_not(None), _window(m.created_at, since, until))
        .group_by(m.campaign_key, m.step_id, m.kind, m.status)
    ):
        figures = steps.setdefault((key, step_id), StepFigures(key, step_id))
        if kind == "transactional":
            figures.kind = kind
        if status in ("sent", "bounced", "failed"):
            setattr(figures, status, getattr(figures, status) + count)
    ev = events.c
    counts = (func.count(func.distinct(ev.message_id)), func.count())
    # Grouped by the machine reason itself (not whether there is one), so the rows come in the
    # order of ix_events_step_figures and the database sorts nothing but each group's messages.
    for key, step_id, type_, machine, distinct_messages, total in conn.execute(
        select(ev.campaign_key, ev.step_id, ev.type, ev.machine_reason, *counts)
        .where(ev.campaign_key.is_not(None), ev.step_id.is_not(None), _window(ev.occurred_at, since, until))
        .group_by(ev.campaign_key, ev.step_id, ev.type, ev.machine_reason)
    ):
        figures = steps.setdefault((key, step_id), StepFigures(key, step_id))
        is_machine = machine is not None
        if type_ == "email_open":
            figures.machine_opens += total if is_machine else 0
            figures.opened += 0 if is_machine else distinct_messages
        elif type_ == "email_click":
            figures.machine_clicks += total if is_machine else 0
            figures.clicked += 0 if is_machine else distinct_messages
        elif type_ == "unsubscribe":
            figures.unsubscribed += total
    return list(steps.values())
