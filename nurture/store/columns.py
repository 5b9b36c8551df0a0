"""Reading a SELECT's integer and instant columns straight into numpy arrays.

The report reads a million leads' history: some 5.5 million stage changes, ten million engagement
events and two million handoffs. Through the driver that is one Python tuple per row and one
object per value, about a microsecond a row before any work is done. Here the database hands over
whole columns at a time and numpy turns them into int64 arrays:

- **PostgreSQL**: ``COPY (SELECT ...) TO STDOUT (FORMAT BINARY)``. Every output column is made
  eight bytes wide in SQL (``COALESCE(col::int8, null)``; instants stay ``timestamptz``, whose
  binary form is int64 microseconds since 2000-01-01), so every row has the same width and 2 MiB
  of rows at a time are one numpy structured array (big-endian fields); a row split between two
  blocks waits for the next. A query whose columns are never NULL (``never_null``) is copied as
  it is, each integer in its own width (rows still all of one width). The server sends each
  row as a message of its own: those libpq has already received are taken from it directly
  (psycopg's own iteration costs 0.4 µs a row more), psycopg waiting only when none is there.
  Rows arrive in exactly the order of the query, which runs once, whatever its size. psycopg
  binds COPY's parameters into its text itself. The columns' types are checked first
  (``LIMIT 0``): a float is never rounded to an integer.
- **SQLite**: each column of a chunk of rows comes back as one text, ``group_concat(col, ',')``
  (an integer in SQLite's own decimal text, an instant as the stored ``YYYY-MM-DD
  HH:MM:SS.ffffff``), read as bytes and parsed by numpy, 4,096 rows at a time so that its
  temporaries stay in the processor's cache: digits by position when every value has the same
  width (the common case: ids of one range, stored instants), else grouped by width at the
  separators' positions; instants with a vectorised days-from-civil. Every instant not in the
  stored fixed form (text written by hand with its own offset, without microseconds, with a
  ``T``, or an impossible date) goes through :func:`nurture.store.bulk.read_instant`, the
  row-by-row reader, which reads or refuses it: nothing is guessed. A chunk whose text cannot be
  split at its commas (a comma inside a value) is read row by row. ``group_concat`` skips NULLs:
  a column found with fewer values than rows is read again with NULL as '' (and so for the
  chunks after it), ``count(col)`` telling NULL from a stored ''.

Measured with ``benchmarks/bench_columns.py`` (2 cores, shared with other benchmarks: load 1.4
to 2.5): 2,000,000 stage changes of a migrated database read as ``lead_id, at, id ... WHERE
at <= :now ORDER BY lead_id, at, id``, in µs per row, best of 3:

    =============================================  ======  ==========
    method                                         SQLite  PostgreSQL
    =============================================  ======  ==========
    driver rows (fetchmany, instants as today)      2.08     3.83
    driver rows, integers only (no datetimes)       1.39     2.80
    read_columns                                    0.69     0.61
    =============================================  ======  ==========

(a second run, the load rising to 3.3: 2.56, 1.87 and 0.87 on SQLite; 3.70, 3.07 and 0.94 on
PostgreSQL.)

Tried and left (prototypes over the same 2 million rows, under a load of 3 to 5, so only their
ratios count): on SQLite, fixed-width packing in SQL, ``printf('%010d%010d', ...) || at`` 0.85
and ``substr('0000000000' || x, -10)`` 1.1 to 1.2 µs a row for the SQL alone, against 0.55 to
0.7 for plain ``group_concat`` per column (``count(*)`` alone: 0.35 to 0.5); each function
SQLite calls per row costs 0.04 to 0.1 µs, which numpy's parsing undercuts. On PostgreSQL,
``string_agg(int8send(col))`` and ``array_send(array_agg(col))`` per key range (1.1 to 1.5 µs a
row, in an order PostgreSQL does not promise), and COPY through psycopg's iteration (1.1 to 1.6).

What callers must know:

- **Chunks (SQLite)**: one text per column must not hold ten million rows, so SQLite reads in
  ranges of ``chunk_key`` (an integer output column of the query, e.g. ``lead_id``), about
  :data:`CHUNK_ROWS` rows each: ``WHERE key >= lo AND key < hi`` is put around the query, and
  SQLite pushes it into the query, so a chunk costs only its own rows when an index serves the
  key (it must be a plain column the query could filter on, not an expression nor an
  aggregate's result, else every chunk scans the whole query). Rows whose key is NULL are read
  first, as one chunk. A query that keeps its key within bounds of its own (``key_bounds``: a
  block of leads, say) is read by binding each chunk's range to those parameters instead: with
  a second pair of bounds around it, SQLite searched its index by the block's and filtered each
  chunk's rows out of the whole block (three times the work for a block of ten chunks). The
  first key is found with ``LIMIT 1`` and, after an empty range, whether
  any key lies beyond: cheap when the query's ORDER BY starts with the key and an index serves
  it, a whole sort otherwise. Without ``chunk_key`` SQLite reads through the
  driver, row by row (exact, bounded memory, at the baseline's speed). PostgreSQL ignores it.
- **Order**: PostgreSQL keeps the query's order exactly. On SQLite the rows of a chunk are in the
  order the query produced them (SQLite 3.40 feeds ``group_concat`` in its subquery's order,
  though no document promises it), and chunks follow one another in ascending key: the query's
  order when its ORDER BY starts with the key, ascending. Callers that need an order check it
  with :func:`ordered`, which costs a few vector comparisons and sorts (stably) only when needed
  (it puts NULLs, the smallest int64, first: as SQLite orders them, where PostgreSQL's
  ascending order puts them last).
- **Memory**: no Python object per row on SQLite's chunked path; on PostgreSQL only libpq's
  buffer of each row message, appended to a block and let go at once. A chunk's text is a few
  megabytes; the arrays of each column are joined at the end, so for a moment a column is held
  twice (80 MB for ten million rows).
- **NULL**: an instant's NULL is :data:`NO_INSTANT`; an integer's NULL is the ``null`` argument
  (:data:`NO_INT` unless given). On PostgreSQL NULLs are replaced in SQL, so a stored integer
  equal to ``null`` reads the same as NULL, and a stored ``-infinity`` reads as
  :data:`NO_INSTANT`; a query said to be ``never_null`` is not wrapped, and a NULL in it fails
  the read there (SQLite reads it as above, whatever the caller said).
- **Errors**: a value the row-by-row read could not turn into an int64 or a datetime (a real or
  text in an integer column, an instant outside years 1-9999, a malformed text) raises
  ``ValueError`` (or the row reader's own error) instead of being read as some number.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import Connection

from nurture.store import bulk

Kind = Literal["int", "instant"]
Arrays = dict[str, NDArray[np.int64]]

NO_INSTANT: int = int(np.iinfo(np.int64).min)  # a NULL instant
NO_INT: int = NO_INSTANT  # a NULL integer, unless the caller chooses another value
CHUNK_ROWS = 65_536  # SQLite rows per chunk: a few megabytes of text and numpy temporaries

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_MIN_INSTANT = (datetime(1, 1, 1, tzinfo=UTC) - EPOCH) // _MICROSECOND
_MAX_INSTANT = (datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC) - EPOCH) // _MICROSECOND
_NAMED = re.compile(r"(?<![:\w]):(\w+)")
_INT64_MAX = int(np.iinfo(np.int64).max)


def read_columns(
    conn: Connection,
    sql: str,
    columns: Mapping[str, Kind],
    params: Mapping[str, Any] | None = None,
    *,
    chunk_key: str | None = None,
    key_bounds: tuple[str, str] | None = None,
    null: int = NO_INT,
    never_null: bool = False,
) -> Arrays:
    """One int64 array per entry of ``columns`` (output names of ``sql`` and their kinds), rows
    in the order described in the module's docstring. ``sql`` is a SELECT with ``:name``
    parameters; datetimes among ``params`` are bound in the engine's stored form. An instant is
    read as microseconds since 1970-01-01 UTC (NULL: :data:`NO_INSTANT`), an integer as itself
    (NULL: ``null``). ``chunk_key`` names an integer column SQLite reads in ranges of;
    ``key_bounds`` names the two integer parameters (low, inclusive; high, exclusive) with which
    ``sql`` itself keeps ``chunk_key`` in a range: SQLite then reads its ranges by binding them,
    and ``sql`` must be ordered by ``chunk_key`` first (the next key is the first row's).
    ``never_null``: the query's output columns are ``columns``, in their order, and none is ever
    NULL; PostgreSQL then copies the query itself, each integer in its own width (no SELECT
    around it to make every value eight bytes: a tenth of the server's time for a query that
    hands over millions of rows), and a NULL fails the read there (``ValueError``; SQLite, which
    has nothing to save by it, reads a NULL as ever)."""
    if not columns:
        raise ValueError("read_columns: no column asked for")
    for name, kind in columns.items():
        if kind not in ("int", "instant") or not re.fullmatch(r"\w+", name):
            raise ValueError(f"read_columns: column {name!r} of kind {kind!r}")
    bound = {
        key: bulk.instant(conn, value) if isinstance(value, datetime) else value
        for key, value in (params or {}).items()
    }
    if conn.dialect.name == "postgresql":
        return _read_postgres(conn, sql, columns, bound, null, never_null)
    if chunk_key is None:
        return _read_rows(conn, sql, columns, bound, null)
    if not re.fullmatch(r"\w+", chunk_key):
        raise ValueError(f"read_columns: chunk_key {chunk_key!r}")
    if key_bounds is not None:
        return _read_sqlite_bounded(conn, sql, columns, bound, chunk_key, key_bounds, null)
    return _read_sqlite_chunks(conn, sql, columns, bound, chunk_key, null)


def ordered(arrays: Mapping[str, NDArray[np.int64]], *keys: str) -> dict[str, NDArray[np.int64]]:
    """``arrays`` with their rows in ascending order of ``keys`` (the first key first): the same
    arrays when already so (checked with vector comparisons of neighbours), else all of them
    reordered by one stable sort, so rows equal in every key keep their order. NULL instants
    (:data:`NO_INSTANT`) sort first, as SQLite orders NULLs."""
    found = dict(arrays)
    if not keys or not found or len(found[keys[0]]) < 2:
        return found
    wrong = np.zeros(len(found[keys[0]]) - 1, dtype=bool)
    tied = np.ones_like(wrong)
    for key in keys:
        column = found[key]
        wrong |= tied & (column[1:] < column[:-1])
        tied &= column[1:] == column[:-1]
    if not wrong.any():
        return found
    order = np.lexsort([found[key] for key in reversed(keys)])  # lexsort sorts stably
    return {name: column[order] for name, column in found.items()}


def rows_of(keys: NDArray[np.int64], wanted: NDArray[np.int64]) -> NDArray[np.int64]:
    """The position of each of ``wanted`` among ``keys`` (ascending, each once), -1 where it is
    not among them: a lead's row among the leads read, say, for the rows of another read."""
    if len(keys) == 0:
        return np.full(len(wanted), -1, dtype=np.int64)
    rows = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
    return np.where(keys[rows] == wanted, rows, -1)


def micros(value: datetime) -> int:
    """An aware datetime as microseconds since 1970-01-01 UTC, exactly."""
    return (value - EPOCH) // _MICROSECOND


# --- the row-by-row read: SQLite without chunk_key, a chunk SQLite cannot pack, the baseline


def _read_rows(
    conn: Connection, sql: str, columns: Mapping[str, Kind], params: Mapping[str, Any], null: int
) -> Arrays:
    names = list(columns)
    listed = ", ".join(f'q."{name}"' for name in names)
    return _rows_query(conn, f"SELECT {listed} FROM ({sql}) AS q", columns, params, null)  # noqa: S608 - names checked


def _rows_query(
    conn: Connection, sql: str, columns: Mapping[str, Kind], params: Mapping[str, Any], null: int
) -> Arrays:
    read = bulk.instant_reader(conn)
    kinds = list(columns.values())
    parts: list[list[int]] = [[] for _ in kinds]
    cursor = conn.connection.cursor()
    try:
        cursor.execute(sql, dict(params))
        while batch := cursor.fetchmany(10_000):
            for i, kind in enumerate(kinds):
                values = [row[i] for row in batch]
                parts[i].extend(_exact_ints(values, null) if kind == "int" else _exact_instants(values, read))
    finally:
        cursor.close()
    return {name: np.array(part, dtype=np.int64) for name, part in zip(columns, parts, strict=True)}


def _exact_ints(values: list[Any], null: int) -> list[int]:
    found = []
    for value in values:
        if value is None:
            found.append(null)
        elif type(value) is int:
            found.append(value)
        else:
            raise ValueError(f"read_columns: {value!r} is not an integer")
    return found


def _exact_instants(values: list[Any], read: Any) -> list[int]:
    found = []
    for value in values:
        if value is None:
            found.append(NO_INSTANT)
        elif isinstance(value, str | datetime):
            found.append(micros(read(value)))
        else:
            raise ValueError(f"read_columns: {value!r} is not an instant")
    return found


# --- SQLite: columns as comma-separated text, chunk by chunk of key ranges


class _Unpackable(Exception):  # a signal, not an error: read this chunk row by row
    pass


class _HasNulls(Exception):  # a signal: read this chunk again with NULLs marked
    pass


def _read_sqlite_chunks(
    conn: Connection, sql: str, columns: Mapping[str, Kind], params: dict[str, Any], key: str, null: int
) -> Arrays:
    probe = f'SELECT q."{key}" FROM ({sql}) AS q WHERE q."{key}" IS NOT NULL LIMIT 1'  # noqa: S608
    first = _first_key(conn, probe, params, key)
    if first is None:  # no rows, or only rows without a key: the driver reads them
        return _read_rows(conn, sql, columns, params, null)
    nullable: set[str] = set()
    parts: dict[str, list[NDArray[np.int64]]] = {name: [] for name in columns}
    # Rows without a key first (SQLite orders NULLs first); a query of their own, since an OR in
    # the first range's condition would make SQLite scan the whole index for it.
    _sqlite_chunk(conn, sql, columns, params, f'q."{key}" IS NULL', nullable, null, parts)
    low: int | None = None  # the first range has no lower bound
    span = 1024
    while True:
        high = first + span if low is None else low + span
        where, bounds = _range(key, low, high)
        rows = _sqlite_chunk(conn, sql, columns, {**params, **bounds}, where, nullable, null, parts)
        if high > _INT64_MAX:
            break
        if rows == 0 and not _any_from(conn, sql, key, high, params):
            break
        low = high
        span = _next_span(span, rows)
    return _joined(parts)


def _read_sqlite_bounded(
    conn: Connection,
    sql: str,
    columns: Mapping[str, Kind],
    params: dict[str, Any],
    key: str,
    bounds: tuple[str, str],
    null: int,
) -> Arrays:
    """The chunks of a query that bounds its key itself, each read with narrower bounds bound:
    with a second pair of bounds around the query, SQLite searched its index by the query's own
    (the whole block) and filtered each chunk's rows out of them, three times the work. The first
    key, and the next after an empty chunk, are looked up (the query is ordered by its key)."""
    low_name, high_name = bounds
    low, end = int(params[low_name]), int(params[high_name])
    probe = f'SELECT q."{key}" FROM ({sql}) AS q LIMIT 1'  # noqa: S608 - names checked
    nullable: set[str] = set()
    parts: dict[str, list[NDArray[np.int64]]] = {name: [] for name in columns}
    span, rows = 1024, 0
    while low < end:
        if rows == 0:  # the first chunk, or a gap in the keys: go to the next key there is
            found = _first_key(conn, probe, {**params, low_name: low, high_name: end}, key)
            if found is None:
                break
            low = found
        high = min(end, low + span)
        chunk = {**params, low_name: low, high_name: high}
        rows = _sqlite_chunk(conn, sql, columns, chunk, "", nullable, null, parts)
        low = high
        span = _next_span(span, rows)
    return _joined(parts)


def _first_key(conn: Connection, probe: str, params: Mapping[str, Any], key: str) -> int | None:
    """The key of the first row ``probe`` gives (None: no row); an error if it is no integer."""
    found = _fetch_one(conn, probe, params)
    if found is None:
        return None
    if type(found[0]) is not int:
        raise ValueError(f"read_columns: chunk_key {key!r} holds {found[0]!r}, not an integer")
    return int(found[0])


def _next_span(span: int, rows: int) -> int:
    """The next chunk's key span, grown or shrunk towards :data:`CHUNK_ROWS` rows (at most 4x)."""
    return max(1, int(span * min(4.0, max(0.25, CHUNK_ROWS / max(rows, 1)))))


def _joined(parts: dict[str, list[NDArray[np.int64]]]) -> Arrays:
    return {name: np.concatenate(found) if found else np.empty(0, np.int64) for name, found in parts.items()}


def _range(key: str, low: int | None, high: int) -> tuple[str, dict[str, int]]:
    bounds = {}
    clauses = []
    if low is not None:
        clauses.append(f'q."{key}" >= :nurture_low')
        bounds["nurture_low"] = low
    if high <= _INT64_MAX:
        clauses.append(f'q."{key}" < :nurture_high')
        bounds["nurture_high"] = high
    return " AND ".join(clauses) or f'q."{key}" IS NOT NULL', bounds


def _any_from(conn: Connection, sql: str, key: str, low: int, params: Mapping[str, Any]) -> bool:
    """Whether any row has a key of ``low`` or more (asked only after an empty chunk)."""
    probe = f'SELECT 1 FROM ({sql}) AS q WHERE q."{key}" >= :nurture_low LIMIT 1'  # noqa: S608
    return _fetch_one(conn, probe, {**params, "nurture_low": low}) is not None


def _fetch_one(conn: Connection, sql: str, params: Mapping[str, Any]) -> Any:
    cursor = conn.connection.cursor()
    try:
        cursor.execute(sql, dict(params))
        return cursor.fetchone()
    finally:
        cursor.close()


def _sqlite_chunk(
    conn: Connection,
    sql: str,
    columns: Mapping[str, Kind],
    params: Mapping[str, Any],
    where: str,
    nullable: set[str],
    null: int,
    parts: dict[str, list[NDArray[np.int64]]],
) -> int:
    """Read the rows of one key range into ``parts``; their number."""
    while True:
        packs = []
        for name in columns:
            if name in nullable:  # '' stands for NULL; count() tells it from a stored ''
                packs.append(
                    f"CAST(group_concat(ifnull(q.\"{name}\", ''), ',') AS BLOB), count(q.\"{name}\")"
                )
            else:  # group_concat skips NULLs: fewer values than rows shows there were some
                packs.append(f"CAST(group_concat(q.\"{name}\", ',') AS BLOB), 0")
        within = f"(SELECT * FROM ({sql}) AS q WHERE {where})" if where else f"({sql})"  # noqa: S608
        query = f"SELECT count(*), {', '.join(packs)} FROM {within} AS q"  # noqa: S608
        found = _fetch_one(conn, query, params)
        rows = int(found[0])
        try:
            arrays = {}
            for i, (name, kind) in enumerate(columns.items()):
                text, present = found[1 + 2 * i], found[2 + 2 * i]
                known = rows - int(present) if name in nullable else None
                try:
                    parse = _parse_ints if kind == "int" else _parse_instants
                    arrays[name] = parse(text, rows, known, null)
                except _HasNulls:
                    nullable.add(name)
                    raise
        except _HasNulls:
            continue
        except _Unpackable:
            listed = ", ".join(f'q."{name}"' for name in columns)
            chunk = f"SELECT {listed} FROM ({sql}) AS q" + (f" WHERE {where}" if where else "")  # noqa: S608
            arrays = _rows_query(conn, chunk, columns, params, null)
        for name, array in arrays.items():
            parts[name].append(array)
        return rows


def _tokens(
    text: bytes | None, rows: int, nulls: int | None
) -> tuple[NDArray[np.uint8], NDArray[np.int64], NDArray[np.int64]]:
    """The bytes of one packed column and where each row's value starts and ends in them.
    ``nulls`` is the number of NULLs when they were marked as '' (else None: they were left out)."""
    raw = np.frombuffer(text or b"", dtype=np.uint8)
    commas = np.flatnonzero(raw == 44)
    values = 0 if text is None else len(commas) + 1
    if values < rows and nulls is None:
        raise _HasNulls
    if values != rows:  # a comma inside a text value
        raise _Unpackable
    starts = np.empty(rows, dtype=np.int64)
    ends = np.empty(rows, dtype=np.int64)
    if rows:
        starts[0], ends[-1] = 0, len(raw)
        starts[1:], ends[:-1] = commas + 1, commas
    return raw, starts, ends


def _uniform(text: bytes | None, rows: int, width: int) -> NDArray[np.uint8] | None:
    """The rows as a (rows, width) matrix when every value is ``width`` bytes, else None."""
    if not text or len(text) != rows * (width + 1) - 1:
        return None
    raw = np.frombuffer(text, dtype=np.uint8)
    if rows > 1 and not (raw[width :: width + 1] == 44).all():
        return None
    if rows > 1 and np.count_nonzero(raw == 44) != rows - 1:
        return None  # a comma inside a value: its neighbours are not where they seem
    padded = np.empty(rows * (width + 1), dtype=np.uint8)
    padded[:-1] = raw
    return padded.reshape(rows, width + 1)[:, :width]


# SQLite writes integers as [-]digits. Up to 15 digits are one matrix product in float64: every
# partial sum is a whole number below 2**53, so exact. Longer ones are added up in int64.
_POWERS = 10.0 ** np.arange(14, -1, -1)
# numpy's temporaries for this many rows stay in the processor's cache: parsing in blocks of them
# is several times faster than whole chunks at once (0.08 against 0.6 µs a row for instants).
_BLOCK_ROWS = 4096


def _blockwise(parse: Any, matrix: NDArray[np.uint8]) -> Any:
    """``parse`` applied to ``matrix`` block of rows by block, its results joined."""
    found = [
        parse(matrix[block : block + _BLOCK_ROWS]) for block in range(0, max(len(matrix), 1), _BLOCK_ROWS)
    ]
    if len(found) == 1:
        return found[0]
    if isinstance(found[0], tuple):
        return tuple(np.concatenate(part) for part in zip(*found, strict=True))
    return np.concatenate(found)


def _parse_ints(text: bytes | None, rows: int, nulls: int | None, null: int) -> NDArray[np.int64]:
    if rows == 0:
        return np.empty(0, np.int64)
    first = text.find(b",") if text else -1
    width = first if first > 0 else len(text or b"")
    matrix = _uniform(text, rows, width)
    if matrix is not None:  # every value as wide: the common case (ids of one range)
        if width >= 19:
            starts = np.arange(rows, dtype=np.int64) * (width + 1)
            return _long_ints(bytes(text or b""), starts, starts + width, null)
        values: NDArray[np.int64] = _blockwise(_digits_value, matrix)
        return values
    raw, starts, ends = _tokens(text, rows, nulls)
    lengths = ends - starts
    counts = np.bincount(lengths)
    if counts[0] != (nulls or 0):
        raise ValueError("read_columns: an empty text in an integer column")
    values = np.full(rows, null, dtype=np.int64)
    for length in np.flatnonzero(counts[1:]) + 1:  # a few widths: each read as one matrix
        chosen = np.flatnonzero(lengths == length)
        if length >= 19:
            values[chosen] = _long_ints(bytes(text or b""), starts[chosen], ends[chosen], null)
        else:
            for block in range(0, len(chosen), _BLOCK_ROWS):
                some = chosen[block : block + _BLOCK_ROWS]
                values[some] = _digits_value(raw[starts[some, None] + np.arange(length)])
    return values


def _digits_value(matrix: NDArray[np.uint8]) -> NDArray[np.int64]:
    """The integers written in the rows of ``matrix`` (``[-]digits``, all of one width up to 18)."""
    width = matrix.shape[1]
    digits = matrix - np.uint8(48)
    signed = matrix[:, 0] == 45
    if (
        digits[:, 1:].max(initial=0) > 9
        or ((digits[:, 0] > 9) & ~signed).any()
        or (signed.any() and width < 2)
    ):
        raise ValueError("read_columns: a value that is not an integer")
    if signed.any():
        digits[signed, 0] = 0
    if width <= 15:
        magnitude = (digits.astype(np.float64) @ _POWERS[15 - width :]).astype(np.int64)
    else:
        magnitude = np.zeros(len(matrix), dtype=np.int64)
        for column in range(width):  # at most 18 digits: no overflow
            magnitude = magnitude * 10 + digits[:, column]
    return np.where(signed, -magnitude, magnitude)


def _long_ints(
    text: bytes, starts: NDArray[np.int64], ends: NDArray[np.int64], null: int
) -> NDArray[np.int64]:
    values = []
    for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
        token = text[start:end]
        if not token:
            values.append(null)
        elif re.fullmatch(rb"-?[0-9]+", token):
            values.append(int(token))
        else:
            raise ValueError(f"read_columns: {token!r} is not an integer")
    return np.array(values, dtype=np.int64)  # an OverflowError beyond int64


# Positions in YYYY-MM-DD HH:MM:SS.ffffff: the separators, and the digits' weights in the year,
# month, day, second of the day and microsecond (one matrix product reads all five).
_FIXED = 26
_SEPARATORS = {4: b"-", 7: b"-", 10: b" ", 13: b":", 16: b":", 19: b"."}
_SEPARATOR_AT = np.array(list(_SEPARATORS), dtype=np.intp)
_SEPARATOR_IS = np.frombuffer(b"".join(_SEPARATORS.values()), dtype=np.uint8)
_DIGIT_AT = np.array([i for i in range(_FIXED) if i not in _SEPARATORS], dtype=np.intp)
_WEIGHTS = np.zeros((5, len(_DIGIT_AT)))
for _row, _places in enumerate(
    (
        {0: 1000, 1: 100, 2: 10, 3: 1},
        {5: 10, 6: 1},
        {8: 10, 9: 1},
        {11: 36000, 12: 3600, 14: 600, 15: 60, 17: 10, 18: 1},
        {20: 100000, 21: 10000, 22: 1000, 23: 100, 24: 10, 25: 1},
    )
):
    for _at, _weight in _places.items():
        _WEIGHTS[_row, list(_DIGIT_AT).index(_at)] = _weight
_MINUTE_TENS, _SECOND_TENS = list(_DIGIT_AT).index(14), list(_DIGIT_AT).index(17)
# Days before each month's first in a year counted from March (so a leap day comes last), and
# each month's length in a common year.
_FROM_MARCH = np.array([0, 306, 337, 0, 31, 61, 92, 122, 153, 184, 214, 245, 275], dtype=np.int64)
_MONTH_DAYS = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)


def _parse_instants(text: bytes | None, rows: int, nulls: int | None, _null: int) -> NDArray[np.int64]:
    values = np.full(rows, NO_INSTANT, dtype=np.int64)
    if rows == 0:
        return values
    matrix = _uniform(text, rows, _FIXED)
    where = np.arange(rows)
    others: list[tuple[int, bytes]] = []
    if matrix is None:
        raw, starts, ends = _tokens(text, rows, nulls)
        lengths = ends - starts
        if np.count_nonzero(lengths == 0) != (nulls or 0):
            raise _Unpackable  # a stored '': the row reader says what it makes of it
        where = np.flatnonzero(lengths == _FIXED)
        matrix = raw[starts[where, None] + np.arange(_FIXED)]
        blob = bytes(text or b"")
        odd = np.flatnonzero((lengths != _FIXED) & (lengths != 0)).tolist()
        others = [(i, blob[starts[i] : ends[i]]) for i in odd]
    parsed, form = _blockwise(_fixed_instants, matrix)
    values[where[form]] = parsed[form]
    for wrong in np.flatnonzero(~form).tolist():  # a form numpy does not read: the row reader does
        others.append((int(where[wrong]), matrix[wrong].tobytes()))
    for row, value in others:
        values[row] = micros(_read_text(value))
    return values


def _fixed_instants(matrix: NDArray[np.uint8]) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
    """Rows of ``YYYY-MM-DD HH:MM:SS.ffffff`` as microseconds since 1970, and which rows are in
    that form with a real date and time (the others' microseconds are meaningless)."""
    digits = matrix[:, _DIGIT_AT] - np.uint8(48)
    form = digits.max(axis=1) <= 9
    form &= (matrix[:, _SEPARATOR_AT] == _SEPARATOR_IS).all(axis=1)
    form &= (digits[:, _MINUTE_TENS] <= 5) & (digits[:, _SECOND_TENS] <= 5)  # minutes, seconds < 60
    year, month, day, second, micro = (_WEIGHTS @ digits.astype(np.float64).T).astype(np.int64)
    form &= (year >= 1) & (month >= 1) & (month <= 12) & (day >= 1) & (second < 86400)
    month = np.where(form, month, 1)
    form &= day <= _MONTH_DAYS[month] + (month == 2)  # a 29 February: is it a leap year?
    for leap in np.flatnonzero(form & (month == 2) & (day == 29)).tolist():
        form[leap] = year[leap] % 4 == 0 and (year[leap] % 100 != 0 or year[leap] % 400 == 0)
    # Days from 1970-01-01: whole years from 0000-03-01 with their leap days, then the day in
    # the year begun in March (H. Hinnant's days_from_civil, for years from 0 on).
    shifted = year - (month <= 2)
    days = (
        shifted * 365 + (shifted >> 2) - shifted // 100 + shifted // 400 + _FROM_MARCH[month] + day - 719469
    )
    parsed = (days * 86400 + second) * 1_000_000 + micro
    return parsed, form


def _read_text(value: bytes) -> datetime:
    at = bulk.read_instant(value.decode("utf-8"))
    if at is None:  # not reached: read_instant returns None only for None
        raise ValueError("read_columns: a NULL where an instant was read")
    return at


# --- PostgreSQL: COPY ... TO STDOUT (FORMAT BINARY)

_PG_INTS = {20, 21, 23}  # int8, int2, int4
_PG_INSTANTS = {1184, 1114}  # timestamptz, timestamp
_PG_WIDTHS = {20: 8, 21: 2, 23: 4, 1184: 8, 1114: 8}  # bytes of each in the binary form
_PG_EPOCH = (datetime(2000, 1, 1, tzinfo=UTC) - EPOCH) // _MICROSECOND
_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
# The stream is parsed every 2 MiB: below glibc's threshold for a block of its own mapping (the
# report sets it at 4 MiB), so the bytes gathered, again and again, come from its heaps, reused.
# At 4 MiB each block's bytes were a new mapping, and writing them faulted in every page afresh:
# a million faults, a fifth of the report's CPU on PostgreSQL.
_BLOCK = 1 << 21


def _read_postgres(
    conn: Connection,
    sql: str,
    columns: Mapping[str, Kind],
    params: Mapping[str, Any],
    null: int,
    never_null: bool,
) -> Arrays:
    driver = conn.connection.driver_connection
    assert driver is not None
    # psycopg binds COPY's parameters itself, into the text: only then are '%' doubled.
    query = _NAMED.sub(r"%(\1)s", sql.replace("%", "%%")) if params else sql
    bound = dict(params) if params else None
    cursor = driver.cursor()
    try:
        copy_sql, row = _copy_statement(cursor, query, columns, bound, null, never_null)
        parts: dict[str, list[NDArray[np.int64]]] = {name: [] for name in columns}
        pending = bytearray()
        header = False
        with cursor.copy(copy_sql, bound) as copy:
            for data in _copy_data(copy, driver.pgconn):
                pending += data
                if len(pending) >= _BLOCK:
                    if not header:
                        pending, header = _header(pending), True
                    pending = _copy_rows(pending, row, columns, parts)
        if not header:
            pending = _header(pending)
        if bytes(pending[-2:]) != b"\xff\xff":
            raise ValueError("read_columns: the COPY stream ended without its trailer")
        if _copy_rows(pending[:-2], row, columns, parts):
            raise ValueError("read_columns: the COPY stream ended within a row")
    finally:
        cursor.close()
    return _joined(parts)


def _copy_data(copy: Any, pgconn: Any) -> Iterator[Any]:
    """The rows of a COPY TO as they arrive. The server sends each row as a message of its own;
    psycopg's iteration takes each through its wait loop (some 0.3 µs), so the rows libpq has
    already received are taken straight from it, and psycopg waits only when none has."""
    # why: psycopg loads only for PostgreSQL databases
    import psycopg

    take = pgconn.get_copy_data
    while True:
        size, data = take(1)  # 1: never block
        if size > 0:
            yield data
        elif size == 0:  # nothing received yet: psycopg waits, and takes the end if it comes
            if not (data := copy.read()):
                return
            yield data
        else:  # the end of the data: the COPY's own result follows
            result = pgconn.get_result()
            while pgconn.get_result() is not None:
                pass
            if result is None or result.status != psycopg.pq.ExecStatus.COMMAND_OK:
                message = result.get_error_message() if result is not None else "no result"
                raise psycopg.DatabaseError(f"read_columns: COPY failed: {message}")
            return


def _copy_statement(
    cursor: Any, query: str, columns: Mapping[str, Kind], params: Any, null: int, never_null: bool
) -> tuple[str, np.dtype[Any]]:
    """COPY of ``query`` and the type of its rows: every column made eight bytes wide, or, with
    ``never_null``, the query itself (its columns checked to be those asked, in order). The
    columns' types are checked first (a numeric or a float must not be rounded to an integer
    unseen)."""
    cursor.execute(f"SELECT * FROM ({query}) AS q LIMIT 0", params)  # noqa: S608
    types = {column.name: column.type_code for column in cursor.description or ()}
    for name, kind in columns.items():
        if name not in types:
            raise ValueError(f"read_columns: the query has no column {name!r}")
        if types[name] not in (_PG_INTS if kind == "int" else _PG_INSTANTS):
            raise ValueError(f"read_columns: column {name!r} (type oid {types[name]}) is not {kind}")
    if never_null:
        if list(types) != list(columns):
            raise ValueError(
                f"read_columns: the query's columns {list(types)} are not those asked, {list(columns)}"
            )
        widths = [_PG_WIDTHS[types[name]] for name in columns]
        return f"COPY ({query}) TO STDOUT (FORMAT BINARY)", _row_type(widths)
    outputs = [
        f'COALESCE(q."{name}"::int8, {int(null)})'
        if kind == "int"
        else f"COALESCE(q.\"{name}\", '-infinity')"
        for name, kind in columns.items()
    ]
    copied = f"SELECT {', '.join(outputs)} FROM ({query}) AS q"  # noqa: S608
    return f"COPY ({copied}) TO STDOUT (FORMAT BINARY)", _row_type([8] * len(columns))


def _row_type(widths: list[int]) -> np.dtype[Any]:
    """A binary COPY row of values ``widths`` bytes wide: their count, then each one's length and value."""
    return np.dtype(
        [("count", ">i2")]
        + [f for i, width in enumerate(widths) for f in ((f"l{i}", ">i4"), (f"v{i}", f">i{width}"))]
    )


def _copy_rows(
    data: bytearray,
    row: np.dtype[Any],
    columns: Mapping[str, Kind],
    parts: dict[str, list[NDArray[np.int64]]],
) -> bytearray:
    """Parse the whole rows (of type ``row``) at the start of ``data`` into ``parts``; the bytes
    left over. A NULL (length -1, no value) is a row of another shape: never read as a value."""
    whole = len(data) // row.itemsize * row.itemsize
    block = np.frombuffer(data, dtype=row, count=whole // row.itemsize)  # read in place: no copy
    if (block["count"] != len(columns)).any():
        raise ValueError("read_columns: COPY rows of another shape than asked")
    for i, (name, kind) in enumerate(columns.items()):
        if (block[f"l{i}"] != row[f"v{i}"].itemsize).any():
            raise ValueError("read_columns: COPY rows of another shape than asked")
        parts[name].append(_pg_column(block[f"v{i}"], kind))
    return data[whole:]


def _header(data: bytearray) -> bytearray:
    if bytes(data[:11]) != _SIGNATURE:
        raise ValueError("read_columns: not a binary COPY stream")
    extension = int.from_bytes(data[15:19], "big")
    return data[19 + extension :]


def _pg_column(raw: NDArray[Any], kind: Kind) -> NDArray[np.int64]:
    values = raw.astype(np.int64)
    if kind == "int":
        return values
    missing = values == NO_INSTANT  # -infinity: NULL, as COALESCE made it
    present = values[~missing]
    if present.size and (
        present.min() < _MIN_INSTANT - _PG_EPOCH or present.max() > _MAX_INSTANT - _PG_EPOCH
    ):
        raise ValueError("read_columns: an instant outside years 1 to 9999")
    values += np.int64(_PG_EPOCH)
    values[missing] = NO_INSTANT
    return values
