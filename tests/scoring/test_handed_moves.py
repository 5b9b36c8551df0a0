"""Score health's backtest takes the stage changes the report's journeys read, instead of reading
them again, and reads itself whatever was not handed over."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import numpy as np
import pytest
from sqlalchemy.engine import Engine

from nurture.reports import queries
from nurture.reports.instants import NEVER, micros
from nurture.reports.journeys import STAGES
from nurture.reports.queries import read_journeys
from nurture.reports.workspace_report import BacktestBeside, ReadOnce
from nurture.scoring import snapshot_stream
from nurture.scoring.backtest import evaluate
from nurture.scoring.handed_moves import HandedMoves
from nurture.scoring.snapshot_stream import read_samples
from nurture.scoring.snapshots import ModelRules, Question, Samples
from nurture.scoring.synthetic import SYNTHETIC_THRESHOLD, generate_history, synthetic_model
from nurture.scoring.synthetic_store import load_history

RULES = ModelRules.of(synthetic_model())
QUESTION = Question(outcome="sal", at="mql", horizon=timedelta(days=30))


def _same(handed: Samples, read: Samples) -> None:
    assert list(handed.left_out.items()) == list(read.left_out.items())
    assert len(handed.samples) == len(read.samples) > 50
    threshold = float(SYNTHETIC_THRESHOLD)
    assert json.dumps(evaluate(handed.samples, threshold=threshold).as_dict()) == json.dumps(
        evaluate(read.samples, threshold=threshold).as_dict()
    )
    for mine, theirs in zip(handed.samples, read.samples, strict=True):
        assert (mine.lead_id, mine.at, mine.converted, mine.answer) == (
            theirs.lead_id, theirs.at, theirs.converted, theirs.answer,
        )  # fmt: skip


def test_the_journeys_and_the_backtest_code_stages_alike() -> None:
    """The journeys give their stage codes as they are; the backtest reads them as its own."""
    assert STAGES == snapshot_stream._STAGES


def test_the_backtest_on_the_journeys_stage_changes_equals_the_one_reading_them(
    store: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    history = generate_history(seed=5, leads=500)
    with store.begin() as conn:
        load_history(conn, history)
    monkeypatch.setattr(queries, "_BLOCK_LEADS", 37)  # many blocks, across the backtest's chunks
    moves = HandedMoves()
    # The journeys' moment is earlier than the backtest's: they keep fewer changes, yet hand
    # over every one, whatever its moment, as the backtest reads them.
    journeys_now = history.now - timedelta(days=120)
    with store.connect() as conn:
        read = read_samples(conn, QUESTION, RULES, history.now, chunk=97)

    reads: list[dict[str, int]] = []
    own_read = snapshot_stream.read_columns

    def read_columns(conn: object, sql: str, columns: object, params: dict[str, int], **kw: object) -> object:
        reads.append(params)
        return own_read(conn, sql, columns, params, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(snapshot_stream, "read_columns", read_columns)
    with store.connect() as journeys_conn, store.connect() as conn:
        giver = threading.Thread(
            target=read_journeys, args=(journeys_conn, journeys_now, journeys_now, "month", moves)
        )
        giver.start()
        handed = read_samples(conn, QUESTION, RULES, history.now, chunk=97, handed=moves)
        giver.join(10)
    assert not giver.is_alive()
    _same(handed, read)
    # Only leads past the journeys' last block (none of their changes at all) were read again.
    assert all(params["high"] > moves._through for params in reads) and len(reads) <= 2
    with store.connect() as conn:  # the journeys themselves keep only the changes up to their moment
        kept, _ = read_journeys(conn, journeys_now, journeys_now, "month")
        everything, _ = read_journeys(conn, history.now, history.now, "month")
    arrived = kept.first_at[kept.first_at != NEVER]
    assert len(arrived) and arrived.max() <= micros(journeys_now)
    assert everything.first_at[everything.first_at != NEVER].max() > micros(journeys_now)


def test_stage_changes_not_handed_over_are_read_by_the_backtest(store: Engine) -> None:
    """The journeys stopped after their first block (they failed): nobody waits, the backtest
    reads the rest itself and finds the same samples."""
    history = generate_history(seed=6, leads=300)
    with store.begin() as conn:
        load_history(conn, history)
    with store.connect() as conn:
        read = read_samples(conn, QUESTION, RULES, history.now, chunk=53)
        moves = HandedMoves()
        whole = queries.read_columns(
            conn,
            "SELECT lead_id, CASE to_stage "
            + " ".join(f"WHEN '{stage}' THEN {code}" for code, stage in enumerate(STAGES))
            + " ELSE -1 END AS stage, at, id FROM stage_changes ORDER BY lead_id, at, id",
            {"lead_id": "int", "stage": "int", "at": "instant", "id": "int"},
            {},
        )
        middle = int(np.median(whole["lead_id"]))
        kept = whole["lead_id"] < middle
        moves.give({name: column[kept] for name, column in whole.items()}, middle)
        moves.close()
        assert moves.moves(middle, middle + 5) is None  # not handed over: read by the taker
        handed = read_samples(conn, QUESTION, RULES, history.now, chunk=53, handed=moves)
    _same(handed, read)


def test_handed_moves_are_let_go_of_once_taken_past_and_when_the_taker_stops() -> None:
    moves = HandedMoves()
    column = np.array([1, 1, 2, 5, 8], dtype=np.int64)
    moves.give({"lead_id": column, "stage": column, "at": column * 10, "id": column * 100}, 9)
    moves.give(
        {
            "lead_id": np.array([9, 12]),
            "stage": np.array([2, 3]),
            "at": np.array([1, 2]),
            "id": np.array([7, 8]),
        },
        13,
    )
    found = moves.moves(2, 9)
    assert found is not None
    assert found["lead_id"].tolist() == [2, 5, 8, 9] and found["id"].tolist() == [200, 500, 800, 7]
    found = moves.moves(10, 12)  # the first block is behind: let go of
    assert found is not None and found["lead_id"].tolist() == [12]
    assert len(moves._blocks) == 1
    answers: list[object] = []
    waiting = threading.Thread(target=lambda: answers.append(moves.moves(12, 20)))
    waiting.start()
    waiting.join(0.2)
    assert waiting.is_alive()  # not covered yet: the taker waits for the giver
    moves.close()
    waiting.join(5)
    assert not waiting.is_alive()
    assert answers == [None]  # beyond the last block (leads recorded since): the taker reads them
    moves.stop()
    moves.give({"lead_id": column, "stage": column, "at": column, "id": column}, 30)
    assert moves._blocks == []  # nobody takes them any more: not held


def test_the_backtests_connection_makes_the_reads_left_to_it_once_done() -> None:
    """The per-step counts: left to the backtest's connection, made there when it is done
    first, and taken by the engagement's connection without reading them again."""
    shared = BacktestBeside()
    reads: list[str] = []
    counts = ReadOnce(lambda on: reads.append(on) or f"counted on {on}")
    shared.leave(counts)
    shared.then("backtest")
    assert counts.take("engagement") == "counted on backtest"
    assert reads == ["backtest"]
    late = ReadOnce(lambda on: f"counted on {on}")
    shared.leave(late)
    assert late.take("engagement") == "counted on engagement"  # the backtest was not done: read here
    shared.then("backtest")  # begun already: nothing is read again


def test_changes_of_a_lead_gone_since_the_journeys_read_them_are_left_out(store: Engine) -> None:
    """The journeys' snapshot still has a lead erased (or merged) before the backtest read its
    leads: its changes are not given to the lead after it."""
    history = generate_history(seed=7, leads=200)
    with store.begin() as conn:
        load_history(conn, history)
    moves = HandedMoves()
    with store.connect() as conn:
        read_journeys(conn, history.now, history.now, "month", moves)
        gone = int(
            conn.exec_driver_sql(
                "SELECT s.lead_id FROM stage_changes s WHERE s.to_stage = 'mql' AND NOT EXISTS (SELECT 1 "
                "FROM stage_changes t WHERE t.lead_id = s.lead_id + 1 AND t.to_stage = 'mql') AND EXISTS "
                "(SELECT 1 FROM leads l WHERE l.id = s.lead_id + 1) ORDER BY s.lead_id LIMIT 1"
            ).scalar_one()
        )
    with store.begin() as conn:
        for table in ("score_ledger", "stage_changes", "leads"):
            column = "id" if table == "leads" else "lead_id"
            conn.exec_driver_sql(f"DELETE FROM {table} WHERE {column} = {gone}")
    with store.connect() as conn:
        read = read_samples(conn, QUESTION, RULES, history.now, chunk=41)
        handed = read_samples(conn, QUESTION, RULES, history.now, chunk=41, handed=moves)
    _same(handed, read)
