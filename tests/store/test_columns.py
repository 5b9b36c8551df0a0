"""Whole columns read into numpy equal, value for value, what the driver's rows read one by one give."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import psycopg
import pytest
from sqlalchemy import Connection, insert
from sqlalchemy.engine import Engine

from nurture.store import bulk, columns
from nurture.store.columns import NO_INSTANT, micros, ordered, read_columns
from nurture.store.engine import reading
from nurture.store.schema import leads

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
EDGES = [
    datetime(1, 1, 1, tzinfo=UTC),
    datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(1970, 1, 1, tzinfo=UTC),
    datetime(1900, 2, 28, 12, 0, 0, 1, tzinfo=UTC),
    datetime(2000, 2, 29, 0, 0, tzinfo=UTC),
    datetime(2024, 2, 29, 23, 59, 59, tzinfo=UTC),
    datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
]
# Texts SQLite may hold when written by hand, and the instant each stands for.
HAND_WRITTEN = [
    "2025-03-01 10:00:00",
    "2025-03-01T10:00:00.123456",
    "2025-03-01 12:00:00+02:00",
    "2025-03-01 12:00:00.123456+02:00",
    "2025-03-01 10:00:00.5",
    "2025-03-01 07:30:00.250-02:30",
    "1969-12-31 23:59:59",
    "2025-03-01 10:00:00,25",  # a comma: this chunk cannot be split at commas
]
# Hand-written texts as long as the stored form: they come in its place, and the row reader reads them.
AS_LONG = ["2025-03-01T10:00:00.123456", "2025-03-01 12:00:00.123+02", "2025-03-01 10:00:00.000000"]


@pytest.fixture
def conn(store: Engine) -> Iterator[Connection]:
    with store.begin() as connection:
        timestamp = "TIMESTAMP WITH TIME ZONE" if store.dialect.name == "postgresql" else "DATETIME"
        connection.exec_driver_sql(
            f"CREATE TEMPORARY TABLE probe (id INTEGER PRIMARY KEY, k BIGINT, n BIGINT, at {timestamp}, "
            f"later {timestamp}, r FLOAT, t VARCHAR(20))"
        )
        yield connection


def _random_instant(rnd: random.Random) -> datetime:
    if rnd.random() < 0.1:
        return rnd.choice(EDGES)
    base = datetime(rnd.choice([1, 1900, 1960, 2025, 2025, 2025, 3000, 9000]), 1, 1, tzinfo=UTC)
    value = base + timedelta(seconds=rnd.randrange(0, 365 * 86400 * 900))
    if value.year > 9999:
        value = EDGES[-1]
    return value if rnd.random() < 0.3 else value.replace(microsecond=rnd.randrange(1_000_000))


def _fill(conn: Connection, count: int, seed: int, *, nulls: bool = True) -> None:
    rnd = random.Random(seed)
    rows = []
    for i in range(1, count + 1):
        key = None if nulls and rnd.random() < 0.02 else rnd.randrange(0, 1_000_000)
        number = rnd.choice(
            [rnd.randrange(-(2**63), 2**63), rnd.randrange(-1000, 1000), rnd.randrange(10**15)]
        )
        later = None if nulls and rnd.random() < 0.3 else _random_instant(rnd)
        rows.append(
            {
                "id": i,
                "k": key,
                "n": None if nulls and rnd.random() < 0.1 else number,
                "at": bulk.instant(conn, _random_instant(rnd)),
                "later": bulk.instant(conn, later),
            }
        )
    bulk.executemany(conn, "INSERT INTO probe (id, k, n, at, later) VALUES (:id, :k, :n, :at, :later)", rows)


def _expected(
    conn: Connection, sql: str, kinds: dict[str, str], null: int, params: Any = None
) -> dict[str, list[int]]:
    """The row-by-row read: the driver's values, instants through bulk.instant_reader."""
    read = bulk.instant_reader(conn)
    found: dict[str, list[int]] = {name: [] for name in kinds}
    for row in bulk.execute(conn, sql, params):
        for name, kind in kinds.items():
            value = getattr(row, name)
            if kind == "int":
                found[name].append(null if value is None else value)
            else:
                found[name].append(NO_INSTANT if value is None else micros(read(value)))
    return found


def _check(
    conn: Connection, sql: str, kinds: Any, null: int = columns.NO_INT, **options: Any
) -> dict[str, Any]:
    arrays = read_columns(conn, sql, kinds, null=null, **options)
    expected = _expected(conn, sql, kinds, null, options.get("params"))
    for name in kinds:
        assert arrays[name].dtype == np.int64
        assert arrays[name].tolist() == expected[name], name
    return arrays


KINDS = {"id": "int", "k": "int", "n": "int", "at": "instant", "later": "instant"}
ORDERED = "SELECT id, k, n, at, later FROM probe ORDER BY k, at, id"


@pytest.mark.parametrize("chunked", [False, True])
def test_random_values_read_as_the_driver_reads_them(conn: Connection, chunked: bool) -> None:
    _fill(conn, 600, seed=1)
    _check(conn, ORDERED, KINDS, chunk_key="k" if chunked else None)
    _check(conn, ORDERED, KINDS, null=-1, chunk_key="k" if chunked else None)


def test_more_rows_than_a_chunk_come_in_order(conn: Connection, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(columns, "CHUNK_ROWS", 64)
    monkeypatch.setattr(columns, "_BLOCK_ROWS", 16)
    _fill(conn, 3000, seed=2)
    arrays = _check(conn, ORDERED, KINDS, chunk_key="k")  # in the driver's order, row for row
    if conn.dialect.name == "sqlite":  # the query's order, NULL keys first: nothing to sort
        assert ordered(arrays, "k", "at", "id")["k"] is arrays["k"]
    # Without NULLs nor numbers too long for numpy, the chunks take their fast paths.
    conn.exec_driver_sql("DELETE FROM probe")
    _fill(conn, 3000, seed=3, nulls=False)
    bulk.execute(conn, "UPDATE probe SET n = n % 100000")
    _check(conn, ORDERED, KINDS, chunk_key="k")


def test_a_copy_stream_parsed_every_two_rows(conn: Connection, monkeypatch: pytest.MonkeyPatch) -> None:
    """PostgreSQL's rows (62 bytes each here) parsed every 100 bytes gathered, each block read in
    place: hundreds of blocks, read as the driver reads the rows."""
    if conn.dialect.name != "postgresql":
        pytest.skip("only PostgreSQL streams its rows through COPY")
    monkeypatch.setattr(columns, "_BLOCK", 100)
    _fill(conn, 700, seed=4)
    _check(conn, ORDERED, KINDS)


NARROW = (
    "SELECT id, CAST(n % 30000 AS SMALLINT) AS small, CAST(k AS INTEGER) AS middle, n, at "
    "FROM probe ORDER BY id"
)
NARROW_KINDS = {"id": "int", "small": "int", "middle": "int", "n": "int", "at": "instant"}


def test_a_query_never_null_reads_its_integers_in_their_own_widths(
    conn: Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Copied as it is on PostgreSQL: two-, four- and eight-byte integers side by side, every
    value as the driver reads it, rows split between blocks of the stream too."""
    monkeypatch.setattr(columns, "_BLOCK", 100)
    _fill(conn, 500, seed=5, nulls=False)
    _check(conn, NARROW, NARROW_KINDS, chunk_key="id", never_null=True)


@pytest.mark.parametrize(
    ("column", "field", "row"),
    [("k", "middle", 150), ("at", "at", 150), ("at", "at", 300), ("n", "n", 1)],
    ids=["a middle column", "the last column", "the last row's last column", "the first row"],
)
def test_a_null_in_a_query_said_never_null_fails_the_read(
    conn: Connection, column: str, field: str, row: int
) -> None:
    """Never read as some number: on PostgreSQL the row is of another shape, or the stream ends
    within one (SQLite reads it as NULL, whatever the caller said)."""
    _fill(conn, 300, seed=6, nulls=False)
    bulk.execute(conn, f"UPDATE probe SET {column} = NULL WHERE id = {row}")
    if conn.dialect.name != "postgresql":
        found = read_columns(conn, NARROW, NARROW_KINDS, chunk_key="id", never_null=True)
        assert found[field][row - 1] == (NO_INSTANT if field == "at" else columns.NO_INT)
        return
    with pytest.raises(ValueError, match=r"another shape|within a row|trailer"):
        read_columns(conn, NARROW, NARROW_KINDS, never_null=True)


def test_a_query_never_null_must_give_the_columns_asked_in_their_order(conn: Connection) -> None:
    if conn.dialect.name != "postgresql":
        pytest.skip("only PostgreSQL copies the query as it is")
    _fill(conn, 10, seed=7, nulls=False)
    with pytest.raises(ValueError, match="not those asked"):
        read_columns(conn, "SELECT at, id FROM probe", {"id": "int", "at": "instant"}, never_null=True)
    with pytest.raises(ValueError, match="not those asked"):
        read_columns(conn, "SELECT id, k, at FROM probe", {"id": "int", "at": "instant"}, never_null=True)


def test_the_whole_rows_of_a_block_are_parsed_in_place_and_the_rest_kept() -> None:
    """The server sends whole rows, but a block that ends within one (or with the stream's
    trailer) parses the rows before it and hands back the bytes after them."""
    kinds: dict[str, columns.Kind] = {"a": "int", "b": "int"}
    row = columns._row_type([8, 8])
    rows = np.zeros(3, dtype=row)
    rows["count"], rows["l0"], rows["l1"] = 2, 8, 8
    rows["v0"], rows["v1"] = [1, 2, 3], [-4, 5, 2**40]
    data = rows.tobytes()
    parts: dict[str, list[np.ndarray]] = {"a": [], "b": []}
    left = columns._copy_rows(data[:-10], row, kinds, parts)  # two rows and most of the third
    assert left == data[2 * row.itemsize : -10]
    trailer = b"\xff\xff"
    assert columns._copy_rows(left + data[-10:] + trailer, row, kinds, parts) == trailer
    assert [np.concatenate(parts[name]).tolist() for name in kinds] == [[1, 2, 3], [-4, 5, 2**40]]


def test_parameters_are_bound_in_stored_form(conn: Connection) -> None:
    _fill(conn, 300, seed=4)
    sql = "SELECT id, at FROM probe WHERE at <= :now AND k >= :low ORDER BY k, at, id"
    params = {"now": NOW, "low": 1000}
    arrays = _check(conn, sql, {"id": "int", "at": "instant"}, chunk_key=None, params=params)
    assert 0 < len(arrays["id"]) < 300
    assert (arrays["at"] <= micros(NOW)).all()
    sqlite_chunks = read_columns(
        conn, sql.replace("SELECT id,", "SELECT k, id,"), {"id": "int"}, params, chunk_key="k"
    )
    assert sqlite_chunks["id"].tolist() == arrays["id"].tolist()


@pytest.mark.parametrize(
    ("low", "high"), [(0, 1_000_000), (250_000, 250_001), (-5, 40), (999_990, 2**62), (7, 7)]
)
def test_a_query_that_bounds_its_key_reads_its_chunks_through_its_own_bounds(
    conn: Connection, monkeypatch: pytest.MonkeyPatch, low: int, high: int
) -> None:
    """Chunks bound through the query's own parameters: the same rows as the query read whole,
    across gaps in the keys (sparse keys, an empty range), never a row outside the bounds."""
    monkeypatch.setattr(columns, "CHUNK_ROWS", 32)
    _fill(conn, 1500, seed=11)
    sql = "SELECT id, k, n, at, later FROM probe WHERE k >= :low AND k < :high ORDER BY k, at, id"
    params = {"low": low, "high": high}
    arrays = _check(conn, sql, KINDS, chunk_key="k", key_bounds=("low", "high"), params=params)
    assert ((arrays["k"] >= low) & (arrays["k"] < high)).all()


def test_an_empty_result(conn: Connection) -> None:
    for chunk_key in (None, "k"):
        arrays = read_columns(conn, ORDERED, KINDS, chunk_key=chunk_key)
        assert {name: array.tolist() for name, array in arrays.items()} == {name: [] for name in KINDS}


def test_all_null_and_all_one_width(conn: Connection) -> None:
    bulk.executemany(
        conn,
        "INSERT INTO probe (id, k, n, at, later) VALUES (:id, :k, NULL, :at, NULL)",
        [{"id": i, "k": 5, "at": bulk.instant(conn, NOW + timedelta(seconds=i))} for i in range(1, 50)],
    )
    arrays = _check(conn, ORDERED, KINDS, chunk_key="k")
    assert arrays["later"].tolist() == [NO_INSTANT] * 49


def test_sqlite_text_written_by_hand(conn: Connection) -> None:
    if conn.dialect.name != "sqlite":
        pytest.skip("PostgreSQL stores instants, never text")
    rows = [{"id": i + 1, "k": i, "at": text} for i, text in enumerate(HAND_WRITTEN)]
    rows += [{"id": 100 + i, "k": 50 + i, "at": bulk.instant(conn, at)} for i, at in enumerate(EDGES)]
    bulk.executemany(conn, "INSERT INTO probe (id, k, at) VALUES (:id, :k, :at)", rows)
    arrays = _check(conn, ORDERED, KINDS, chunk_key="k")
    assert arrays["at"][2] == micros(datetime(2025, 3, 1, 10, tzinfo=UTC))
    # Without the comma, the other forms are read from the packed text, each by the row reader.
    conn.exec_driver_sql("DELETE FROM probe WHERE at LIKE '%,%'")
    _check(conn, ORDERED, KINDS, chunk_key="k")
    conn.exec_driver_sql("DELETE FROM probe")
    bulk.executemany(
        conn, "INSERT INTO probe (id, k, at) VALUES (:id, :k, :at)",
        [{"id": i, "k": i, "at": text} for i, text in enumerate(AS_LONG)],
    )  # fmt: skip
    arrays = _check(conn, ORDERED, KINDS, chunk_key="k")
    assert arrays["at"][1] == micros(datetime(2025, 3, 1, 10, 0, 0, 123000, tzinfo=UTC))


def test_a_malformed_instant_is_an_error_as_in_the_row_reader(conn: Connection) -> None:
    if conn.dialect.name != "sqlite":
        pytest.skip("PostgreSQL never stores a malformed instant")
    for text in ("2025-02-30 10:00:00.000000", "1900-02-29 10:00:00.000000", "2025-01-01 24:00:00.000000"):
        conn.exec_driver_sql("DELETE FROM probe")
        conn.exec_driver_sql("INSERT INTO probe (id, k, at) VALUES (1, 1, :at)", {"at": text})
        with pytest.raises(ValueError):
            _expected(conn, ORDERED, {"at": "instant"}, 0)
        for chunk_key in (None, "k"):
            with pytest.raises(ValueError):
                read_columns(conn, ORDERED, {"at": "instant"}, chunk_key=chunk_key)


def test_a_value_that_is_no_integer_is_an_error(conn: Connection) -> None:
    conn.exec_driver_sql(
        "INSERT INTO probe (id, k, r, t, at) VALUES (1, 1, 2.5, 'twelve', '2025-01-01 00:00:00.000000')"
    )
    for column in ("r", "t"):
        for chunk_key in (None, "k"):
            with pytest.raises(ValueError):
                read_columns(conn, f"SELECT k, {column} AS v FROM probe", {"v": "int"}, chunk_key=chunk_key)


def test_a_reading_transaction(store: Engine) -> None:
    """The report reads inside nurture.store.engine.reading: COPY and chunks run in it."""
    with store.begin() as writer:
        for i in range(3):
            created = NOW - timedelta(days=i, microseconds=i)
            writer.execute(
                insert(leads).values(
                    email=f"{i}@example.com", email_domain="example.com", attributes={}, created_at=created,
                    updated_at=created,
                )
            )  # fmt: skip
    sql = "SELECT id, created_at FROM leads WHERE created_at < :now ORDER BY id"
    with reading(store).begin() as conn:
        for chunk_key in (None, "id"):
            arrays = _check(
                conn, sql, {"id": "int", "created_at": "instant"}, chunk_key=chunk_key, params={"now": NOW}
            )
            assert len(arrays["id"]) == 2


def test_ordered_sorts_only_when_needed() -> None:
    rnd = np.random.default_rng(5)
    lead = rnd.integers(0, 50, 2000)
    at = rnd.integers(-(10**12), 10**12, 2000)
    at[::7] = NO_INSTANT
    row = np.arange(2000)
    order = np.lexsort((row, at, lead))
    sorted_arrays = {"lead": lead[order], "at": at[order], "row": row[order]}
    assert ordered(sorted_arrays, "lead", "at")["lead"] is sorted_arrays["lead"]
    shuffled = ordered({"lead": lead, "at": at, "row": row}, "lead", "at")
    for name in sorted_arrays:
        assert shuffled[name].tolist() == sorted_arrays[name].tolist()  # stable: row order kept within ties


def test_a_query_failing_midway_through_copy_is_an_error(store: Engine) -> None:
    if store.dialect.name != "postgresql":
        pytest.skip("only PostgreSQL streams its rows through COPY")
    with store.connect() as conn:
        transaction = conn.begin()
        conn.exec_driver_sql("CREATE TEMPORARY TABLE probe (id INTEGER PRIMARY KEY)")
        conn.exec_driver_sql("INSERT INTO probe SELECT generate_series(1, 20000)")
        with pytest.raises(psycopg.Error, match="division by zero"):
            read_columns(conn, "SELECT id FROM probe WHERE 1 / (id - 15000) <> 7 ORDER BY id", {"id": "int"})
        transaction.rollback()


NUMBERS = [
    [-(2**63), 2**63 - 1, -(10**18), 10**18],  # 19 and 20 bytes
    [2**63 - 1, 10**18, 4 * 10**18],  # all 19 bytes
    [-(2**63), -5 * 10**18],  # all 20 bytes
    [10**17, -(10**16)],  # 18 bytes: beyond float's exact whole numbers
    [-9, -1, -5],
]


@pytest.mark.parametrize("numbers", NUMBERS)
def test_integers_of_one_width_at_the_edges(conn: Connection, numbers: list[int]) -> None:
    """Every value as wide (the fast path), at 19 and 20 bytes, signed, or beyond float's exactness."""
    bulk.executemany(
        conn,
        "INSERT INTO probe (id, k, n, at) VALUES (:id, 1, :n, :at)",
        [{"id": i, "n": n, "at": bulk.instant(conn, NOW)} for i, n in enumerate(numbers)],
    )
    arrays = _check(conn, "SELECT k, n FROM probe ORDER BY id", {"n": "int"}, chunk_key="k")
    assert arrays["n"].tolist() == numbers
