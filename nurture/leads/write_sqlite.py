"""Writing checked rows into SQLite in sets, through a staging table.

Why not a statement per row: the sqlite3 module gives up the GIL for every step of a statement
and must take it back after. While the reading thread parses, taking it back means waiting for
the reader's switch interval, so per-row statements on the writing thread cost several times the
row's own work. Here rows are bound a piece at a time into one multi-row INSERT into a temporary
staging table, and each batch is then a handful of set-based statements that run without the GIL
for the whole batch:

- new leads: ``INSERT ... SELECT`` from the staging table in file order, ``ON CONFLICT(email) DO
  NOTHING``. Within the batch's BEGIN IMMEDIATE transaction nobody else writes, and one statement's
  new rows get consecutive ids (max(rowid) + 1 each, or the next of sqlite_sequence were the table
  AUTOINCREMENT), so the new ids are the run ending at last_insert_rowid();
- their first stage: one ``INSERT ... SELECT`` over that run;
- ``import_rows`` (temporary: lead id -> the row of this file that first named it), appended in
  id order. A later row with the same address meets the lead in the unique e-mail index, which
  the insert probes anyway, and import_rows says which row came first. No table or set keyed by
  address grows with the file.

Rows that met a stored address (fewer inserted than staged) are sorted out in Python: a row
repeating an earlier one is reported, the others are merged into their lead as ever.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, RootTransaction

from nurture.leads.addresses import suppression_hash
from nurture.leads.consent import record_consents_once
from nurture.leads.consent_fields import consents_of_json
from nurture.leads.merge import merge, stage_move, write_changes
from nurture.leads.origins import Origin, apply_origins
from nurture.leads.report import BatchHook, ImportReport, RowsHook, duplicate
from nurture.leads.staged import FIELD_NAMES, LEAD_COLUMNS, STAGED_COLUMNS, WIDTH, Piece, lead_values
from nurture.store import bulk

# Rows per transaction. Each commit writes every page it touched, and new addresses land all over
# the e-mail index: fewer, larger transactions write those pages fewer times (at a million leads,
# 10,000-row batches spent more time committing than inserting). At ~10 µs a row this holds the
# write lock for about half a second, well inside other writers' busy timeout.
BATCH_SIZE = 50_000
PIECE_ROWS = 1900  # rows per multi-row INSERT: ~32,000 values, under SQLite's 32,766 limit
MET_SLICE = 5000  # staged rows merged at a time when they meet stored leads
IN_LIST = 500  # values per IN list, under the oldest SQLite's limit of 999 parameters
MIN_SQLITE = (3, 24, 0)  # upsert

_COLUMNS = ", ".join(STAGED_COLUMNS)
_LEAD_COLUMNS = ", ".join(LEAD_COLUMNS)
_NEW_VALUES = ", ".join(
    {
        "lifecycle_stage": "coalesce(lifecycle_stage, 'lead')",
        "attributes": "coalesce(attributes, '{}')",
    }.get(name, name)
    for name in LEAD_COLUMNS
)
_INSERT_NEW = (
    f"INSERT INTO leads ({_LEAD_COLUMNS}, created_at, updated_at) "  # noqa: S608 - column names only
    f"SELECT {_NEW_VALUES}, :now, :now FROM temp.import_staging WHERE true ORDER BY rowid "
    "ON CONFLICT (email) DO NOTHING"
)  # "WHERE true" tells SQLite's parser that ON CONFLICT is the upsert, not a join constraint
_FIRST_STAGE = (
    "INSERT INTO stage_changes (lead_id, from_stage, to_stage, at, reason, actor) "
    "SELECT id, NULL, lifecycle_stage, :now, :reason, 'import' FROM leads "
    "WHERE id BETWEEN :first AND :last ORDER BY id"
)
# When every staged row became a new lead: the k-th staged row (in rowid order, which the insert
# followed) has the k-th new id. Staged rowids are consecutive (one table, emptied per batch, only
# appended to), so the id is the rowid moved by a constant.
_REMEMBER_NEW = (
    "INSERT INTO temp.import_rows (lead_id, row_number) "
    "SELECT rowid + :first - (SELECT min(rowid) FROM temp.import_staging), row_number "
    "FROM temp.import_staging"
)
_REMEMBER_ALL = (
    "INSERT INTO temp.import_rows (lead_id, row_number) "
    "SELECT l.id, s.row_number FROM temp.import_staging s JOIN leads l ON l.email = s.email"
)
# Staged rows whose address was a lead before this batch (ids up to the largest then), with the
# stored values and, when this file named the lead before, the row that did.
_MET = (
    f"SELECT s.rowid, s.row_number, {', '.join('s.' + c for c in STAGED_COLUMNS)}, "  # noqa: S608 - column names only
    f"l.id, {', '.join('l.' + f for f in FIELD_NAMES)}, l.attributes, r.row_number "
    "FROM temp.import_staging s JOIN leads l ON l.email = s.email "
    "LEFT JOIN temp.import_rows r ON r.lead_id = l.id "
    "WHERE s.rowid BETWEEN :first AND :last AND l.id <= :before ORDER BY s.rowid"
)


# Every lead the batch's rows name (rows repeating an earlier one were taken out of staging).
_NAMED = "SELECT l.id FROM temp.import_staging s JOIN leads l ON l.email = s.email ORDER BY l.id"


_CONSENTS = (
    "SELECT l.id, s.consents FROM temp.import_staging s JOIN leads l ON l.email = s.email "
    "WHERE s.consents IS NOT NULL ORDER BY s.rowid"
)


_ORIGINS = (
    "SELECT s.row_number, s.external_id, s.created_at, l.id FROM temp.import_staging s "
    "JOIN leads l ON l.email = s.email WHERE s.external_id IS NOT NULL OR s.created_at IS NOT NULL "
    "ORDER BY s.rowid"
)


def usable(conn: Connection) -> bool:
    """Whether this connection's database can take the set-based writes."""
    return conn.dialect.name == "sqlite" and sqlite3.sqlite_version_info >= MIN_SQLITE


class SqliteWriter:
    def __init__(
        self,
        conn: Connection,
        now: datetime,
        report: ImportReport,
        source: str,
        *,
        on_batch: BatchHook | None = None,
        on_rows: RowsHook | None = None,
        batch_size: int | None = None,
    ) -> None:
        self.conn = conn
        self.now = now
        self.report = report
        self.source = source
        self.on_batch = on_batch
        self.on_rows = on_rows
        self.batch_size = batch_size or BATCH_SIZE
        driver = conn.connection.driver_connection
        limit = driver.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) if driver is not None else 999
        self.piece_size = max(1, min(PIECE_ROWS, self.batch_size, limit // WIDTH))
        self._instant = bulk.instant(conn, now)
        self._transaction: RootTransaction | None = None
        self._staged = 0
        self._statements: dict[int, str] = {}

    def open(self) -> None:
        self._drop_tables()
        self.conn.exec_driver_sql(f"CREATE TEMPORARY TABLE import_staging (row_number, {_COLUMNS})")
        self.conn.exec_driver_sql(
            "CREATE TEMPORARY TABLE import_rows (lead_id INTEGER PRIMARY KEY, row_number INTEGER NOT NULL)"
        )
        self.conn.commit()

    def close(self) -> None:
        if self._transaction is not None:
            self._transaction.rollback()
            self._transaction = None
        self._drop_tables()
        self.conn.commit()

    def _drop_tables(self) -> None:
        # The connection goes back to the pool afterwards: leave no temporary tables on it.
        self.conn.exec_driver_sql("DROP TABLE IF EXISTS temp.import_staging")
        self.conn.exec_driver_sql("DROP TABLE IF EXISTS temp.import_rows")

    def write(self, piece: Piece) -> None:
        if self._transaction is None:
            self._transaction = self.conn.begin()
            self.conn.exec_driver_sql("DELETE FROM temp.import_staging")
            self._staged = 0
        if piece.rows:
            self.conn.exec_driver_sql(self._insert_staged(piece.rows), piece.values)
            self._staged += piece.rows
        if piece.closes_batch:
            self._write_batch()
            self._transaction.commit()
            self._transaction = None

    def _insert_staged(self, rows: int) -> str:
        statement = self._statements.get(rows)
        if statement is None:
            values = ", ".join(["(" + ", ".join("?" * WIDTH) + ")"] * rows)
            statement = self._statements[rows] = f"INSERT INTO temp.import_staging VALUES {values}"  # noqa: S608 - placeholders only
        return statement

    def _write_batch(self) -> None:
        conn, report = self.conn, self.report
        before = int(bulk.execute(conn, "SELECT coalesce(max(id), 0) FROM leads").scalar_one())
        inserted = bulk.execute(conn, _INSERT_NEW, {"now": self._instant}).rowcount
        report.created += inserted
        created: list[int] = []
        if inserted:
            last = int(bulk.execute(conn, "SELECT last_insert_rowid()").scalar_one())
            created = list(range(last - inserted + 1, last + 1))
            bulk.execute(
                conn,
                _FIRST_STAGE,
                {"now": self._instant, "reason": self.source, "first": created[0], "last": last},
            )
        changed: list[int] = []
        if inserted < self._staged:
            changed = self._met_leads(before)
            bulk.execute(conn, _REMEMBER_ALL)
        elif created:
            bulk.execute(conn, _REMEMBER_NEW, {"first": created[0]})
        report.suppressed += self._count_suppressed()
        self._apply_origins(created)
        given = bulk.execute(conn, _CONSENTS).all()
        if given:
            record_consents_once(
                conn, [(int(lead_id), c) for lead_id, text in given for c in consents_of_json(text)]
            )
        if self.on_batch and (created or changed):
            self.on_batch(conn, created, changed, self.now)
        if self.on_rows:
            named = bulk.execute(conn, _NAMED).scalars().all()
            if named:
                self.on_rows(conn, [int(lead_id) for lead_id in named], self.now)

    def _met_leads(self, before: int) -> list[int]:
        """Report the rows repeating an earlier one, merge the others; the ids of changed leads.

        A slice of staged rows at a time, each read in full before its changes are written: a
        re-import meets every row, and a whole batch of merged rows at once is a lot of memory.
        """
        first, last = bulk.execute(self.conn, "SELECT min(rowid), max(rowid) FROM temp.import_staging").one()
        changed: list[int] = []
        for start in range(first, last + 1, MET_SLICE):
            slice_ = {"before": before, "first": start, "last": start + MET_SLICE - 1}
            met = bulk.execute(self.conn, _MET, slice_)
            changed += self._merge_met(met.all())
        return changed

    def _merge_met(self, met_rows: list[Any]) -> list[int]:
        report, now = self.report, self.now
        repeated: list[tuple[int]] = []
        changed: list[dict[str, Any]] = []
        stage_moves: list[dict[str, Any]] = []
        staged_end = 2 + len(STAGED_COLUMNS)
        for met in met_rows:
            staged_rowid, row, email = met[0], met[1], met[2]
            first_row = met[-1]
            if first_row is not None:
                report.reject(row, duplicate(email, first_row))
                repeated.append((staged_rowid,))
                continue
            lead_id, stored = met[staged_end], met[staged_end + 1 : -1]
            current = dict(zip(FIELD_NAMES, stored[:-1], strict=True))
            current["attributes"] = bulk.read_json(stored[-1])
            merged = merge(current, lead_values(met[1:staged_end]), now)
            if merged is None:
                report.unchanged += 1
                continue
            merged["b_id"] = lead_id
            changed.append(merged)
            if merged["lifecycle_stage"] != current["lifecycle_stage"]:
                stage_moves.append(
                    stage_move(
                        lead_id, current["lifecycle_stage"], merged["lifecycle_stage"], now, self.source
                    )
                )
        if repeated:  # rare: one statement each
            self.conn.exec_driver_sql("DELETE FROM temp.import_staging WHERE rowid = ?", repeated)
        report.updated += len(changed)
        write_changes(self.conn, changed, stage_moves)
        return [c["b_id"] for c in changed]

    def _apply_origins(self, created: list[int]) -> None:
        """External ids and start dates the batch's rows give, onto their leads."""
        found = bulk.execute(self.conn, _ORIGINS).all()
        if not found:
            return
        origins = [
            Origin(row, int(lead_id), external_id, datetime.fromisoformat(at) if at else None)
            for row, external_id, at, lead_id in found
        ]
        for row, column, reason in apply_origins(self.conn, origins, set(created), self.now):
            self.report.skip_field(row, column, reason)

    def _count_suppressed(self) -> int:
        if bulk.execute(self.conn, "SELECT 1 FROM suppressions LIMIT 1").first() is None:
            return 0
        emails = bulk.execute(self.conn, "SELECT email FROM temp.import_staging").scalars()
        hashes = [suppression_hash(e) for e in emails]
        suppressed = 0
        for start in range(0, len(hashes), IN_LIST):
            chunk = tuple(hashes[start : start + IN_LIST])
            query = f"SELECT count(*) FROM suppressions WHERE email_hash IN ({', '.join('?' * len(chunk))})"  # noqa: S608 - placeholders only
            suppressed += int(self.conn.exec_driver_sql(query, chunk).scalar_one())
        return suppressed
