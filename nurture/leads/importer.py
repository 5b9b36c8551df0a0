"""Importing leads: good rows in, bad rows reported by row number, a second run changes nothing.

Rows are validated one by one and written in batches, each batch in its own transaction, so a bad
row never stops the good ones and a crash keeps every batch already committed. Memory stays flat
however large the file: duplicates across the file are found through a temporary table, not a
set held in Python.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import Connection, bindparam, func, insert, select, text, update
from sqlalchemy.engine import Engine

from nurture.leads.addresses import suppression_hash
from nurture.leads.fields import STANDARD_FIELDS
from nurture.leads.sources import RawRecord, detect_format, open_counted, read_csv, read_jsonl
from nurture.leads.validate import LeadValues, RowInvalid, validate_record
from nurture.store import bulk
from nurture.store.schema import leads, stage_changes, suppressions

BATCH_SIZE = 10_000  # rows per transaction: large enough to amortise commits and WAL checkpoints
KEPT_PROBLEMS = 1000  # the report keeps the first ones and counts the rest
FIELD_NAMES = tuple(STANDARD_FIELDS)

# Called inside each batch's transaction with the ids of created and of changed leads, so that
# scoring and campaign entry see exactly the leads this import touched.
BatchHook = Callable[[Connection, Sequence[int], Sequence[int], datetime], None]
ProgressHook = Callable[[int, int], None]  # (bytes read, file size)


@dataclass(frozen=True)
class RowProblem:
    row: int
    message: str

    def __str__(self) -> str:
        return f"row {self.row}: {self.message}"


@dataclass
class ImportReport:
    path: Path
    dry_run: bool = False
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    suppressed: int = 0
    problems: list[RowProblem] = field(default_factory=list)
    # Rows are rejected by the reading thread (bad values) and the writing one (duplicates).
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def reject(self, row: int, message: str) -> None:
        with self._lock:
            self.rejected += 1
            if len(self.problems) < KEPT_PROBLEMS:
                self.problems.append(RowProblem(row, message))
                self.problems.sort(key=lambda p: p.row)


class _Row(NamedTuple):
    number: int
    lead: LeadValues


class LeadImporter:
    def __init__(
        self,
        engine: Engine,
        now: datetime,
        *,
        dry_run: bool = False,
        on_batch: BatchHook | None = None,
        on_progress: ProgressHook | None = None,
        batch_size: int = BATCH_SIZE,
    ) -> None:
        self.engine = engine
        self.now = now
        self.dry_run = dry_run
        self.on_batch = on_batch
        self.on_progress = on_progress
        self.batch_size = batch_size

    def run(self, path: Path, fmt: str | None = None) -> ImportReport:
        """Import ``path``; file-level problems raise ImportFileError before anything is written."""
        kind = detect_format(path, fmt)
        counter, size = open_counted(path)
        report = ImportReport(path=path, dry_run=self.dry_run)
        records = read_csv(path, counter) if kind == "csv" else read_jsonl(path, counter)
        source = f"import of {path.name}"
        with counter, self.engine.connect() as conn:
            first = _peek(records)  # raises ImportFileError for an empty file or a bad header
            seen = _SeenAddresses(conn)
            try:
                with _Pipeline(lambda batch: self._write(conn, seen, batch, report, source)) as pipeline:
                    for batch in _batches(self._valid_rows(first, report), self.batch_size):
                        pipeline.put(batch)
                        if self.on_progress:
                            self.on_progress(counter.consumed, size)
            finally:
                seen.drop()
        return report

    def _write(
        self, conn: Connection, seen: _SeenAddresses, batch: list[_Row], report: ImportReport, source: str
    ) -> None:
        with conn.begin():
            self._write_batch(conn, seen, batch, report, source)

    def _valid_rows(self, records: Iterable[RawRecord], report: ImportReport) -> Iterator[_Row]:
        for record in records:
            report.rows += 1
            if record.values is None:
                report.reject(record.row, record.problem or "cannot be read")
                continue
            try:
                yield _Row(record.row, validate_record(record.values))
            except RowInvalid as exc:
                report.reject(record.row, str(exc))

    def _write_batch(
        self, conn: Connection, seen: _SeenAddresses, batch: list[_Row], report: ImportReport, source: str
    ) -> None:
        rows = seen.first_occurrences(batch, report)
        if not rows:
            return
        emails = [r.lead.email for r in rows]
        existing = _existing_leads(conn, emails)
        report.suppressed += _count_suppressed(conn, emails)

        new_leads: list[LeadValues] = []
        changed: list[dict[str, Any]] = []
        stage_moves: list[dict[str, Any]] = []
        for r in rows:
            current = existing.get(r.lead.email)
            if current is None:
                new_leads.append(r.lead)
                continue
            merged = _merge(current._mapping, r.lead, self.now)
            if merged is None:
                report.unchanged += 1
                continue
            merged["b_id"] = current.id
            changed.append(merged)
            if merged["lifecycle_stage"] != current.lifecycle_stage:
                stage_moves.append(
                    self._stage_change(current.id, current.lifecycle_stage, merged["lifecycle_stage"], source)
                )
        report.created += len(new_leads)
        report.updated += len(changed)
        if self.dry_run:
            return

        created_ids = self._insert(conn, new_leads, source)
        if changed:
            changed.sort(key=lambda row: row["b_id"])  # rows locked in id order, as scoring does
            columns: dict[str, Any] = {
                name: bindparam(name) for name in (*FIELD_NAMES, "attributes", "updated_at")
            }
            conn.execute(update(leads).where(leads.c.id == bindparam("b_id")).values(columns), changed)
        if stage_moves:
            conn.execute(insert(stage_changes), stage_moves)
        if self.on_batch:
            self.on_batch(conn, created_ids, [c["b_id"] for c in changed], self.now)

    def _insert(self, conn: Connection, new_leads: list[LeadValues], source: str) -> list[int]:
        """Insert new leads and their first stage; the hot path of a large import."""
        if not new_leads:
            return []
        now = bulk.instant(conn, self.now)
        rows = []
        for lead in new_leads:
            row: dict[str, Any] = dict.fromkeys(FIELD_NAMES)
            row.update(lead.fields)
            row["lifecycle_stage"] = row["lifecycle_stage"] or "lead"
            row["email"] = lead.email
            row["email_domain"] = lead.email_domain
            row["attributes"] = lead.attributes
            row["now"] = now
            rows.append(row)
        ids = _insert_leads(conn, rows)
        # The new leads' ids form one run (see _insert_leads on SQLite; PostgreSQL returned them):
        # their first stage is copied inside the database, without a round trip per row.
        placeholders, params = bulk.in_list(conn, "i", ids) if conn.dialect.name == "postgresql" else ("", {})
        which = f"id IN {placeholders}" if placeholders else "id BETWEEN :first AND :last"
        copy_first_stage = (
            "INSERT INTO stage_changes (lead_id, from_stage, to_stage, at, reason, actor) "  # noqa: S608
            f"SELECT id, NULL, lifecycle_stage, :at, :reason, 'import' FROM leads WHERE {which} ORDER BY id"
        )  # only placeholders are formatted into the statement
        bulk.execute(
            conn, copy_first_stage, {**params, "first": ids[0], "last": ids[-1], "at": now, "reason": source}
        )
        return ids

    def _stage_change(self, lead_id: int, old: str | None, new: str, source: str) -> dict[str, Any]:
        return {
            "lead_id": lead_id,
            "from_stage": old,
            "to_stage": new,
            "at": self.now,
            "reason": source,
            "actor": "import",
        }


def _existing_leads(conn: Connection, emails: list[str]) -> dict[str, Any]:
    """The stored rows of those addresses that are leads already, by address."""
    placeholders, params = bulk.in_list(conn, "e", emails)
    query = f"SELECT email FROM leads WHERE email IN {placeholders}"  # noqa: S608 - placeholders only
    known = [e for (e,) in bulk.execute(conn, query, params)]
    if not known:  # the usual case for new leads: one cheap query, no row decoding
        return {}
    rows = select(leads.c.id, leads.c.email, leads.c.attributes, *[leads.c[f] for f in FIELD_NAMES])
    return {row.email: row for row in conn.execute(rows.where(leads.c.email.in_(known)))}


def _count_suppressed(conn: Connection, emails: list[str]) -> int:
    if bulk.execute(conn, "SELECT 1 FROM suppressions LIMIT 1").first() is None:
        return 0
    hashes = [suppression_hash(e) for e in emails]
    query = select(func.count()).select_from(suppressions).where(suppressions.c.email_hash.in_(hashes))
    return int(conn.scalar(query) or 0)


def _insert_leads(conn: Connection, rows: list[dict[str, Any]]) -> list[int]:
    """Insert rows (values in storage form but for ``attributes``); their ids, in row order."""
    if conn.dialect.name == "sqlite":
        for row in rows:
            row["attributes"] = bulk.json_value(conn, row["attributes"])
        bulk.executemany(conn, _INSERT_LEAD, rows)
        # Within one BEGIN IMMEDIATE transaction nobody else writes, and SQLite gives each new
        # row max(rowid) + 1: the batch's ids are the consecutive run ending at the last one.
        last = int(bulk.execute(conn, "SELECT last_insert_rowid()").scalar_one())
        return list(range(last - len(rows) + 1, last + 1))
    statement = insert(leads).returning(leads.c.id, sort_by_parameter_order=True)
    values = [
        {**{k: v for k, v in row.items() if k != "now"}, "created_at": row["now"], "updated_at": row["now"]}
        for row in rows
    ]
    return [int(lead_id) for (lead_id,) in conn.execute(statement, values)]


_INSERT_LEAD = (
    f"INSERT INTO leads (email, email_domain, {', '.join(FIELD_NAMES)}, attributes, created_at, updated_at) "  # noqa: S608 - column names only
    f"VALUES (:email, :email_domain, {', '.join(':' + f for f in FIELD_NAMES)}, :attributes, :now, :now)"
)


def _merge(current: Any, lead: LeadValues, now: datetime) -> dict[str, Any] | None:
    """The full row after applying the file's values, or None when nothing would change."""
    fields = {name: current[name] for name in FIELD_NAMES}
    attributes = dict(current["attributes"] or {})
    before = (dict(fields), dict(attributes))
    fields.update(lead.fields)
    attributes.update(lead.attributes)
    if (fields, attributes) == before:
        return None
    return {**fields, "attributes": attributes, "updated_at": now}


class _SeenAddresses:
    """The addresses this file has had so far, and in which row.

    Exact answers come from a temporary table, so memory stays flat however long the file. A
    fixed-size Bloom filter in front of it answers "certainly not seen" for almost every row
    without a query; only its rare "maybe" goes to the table.
    """

    BITS = 1 << 26  # 8 MiB: about one false "maybe" per 10,000 rows at a million rows

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.bits = bytearray(self.BITS // 8)
        conn.execute(text("DROP TABLE IF EXISTS import_seen"))
        conn.execute(
            text("CREATE TEMPORARY TABLE import_seen (email VARCHAR(320) PRIMARY KEY, row_number INTEGER)")
        )
        conn.commit()

    def _positions(self, email: str) -> tuple[int, int, int]:
        # Python's own string hash is cached on the string and stable within this process,
        # which is all the filter needs; double hashing derives three positions from it.
        h = hash(email) & 0xFFFFFFFFFFFFFFFF
        low, high = h & 0xFFFFFFFF, (h >> 32) | 1
        mask = self.BITS - 1
        return (low & mask, (low + high) & mask, (low + 2 * high) & mask)

    def _maybe_seen(self, email: str) -> bool:
        bits = self.bits
        return all(bits[p >> 3] & (1 << (p & 7)) for p in self._positions(email))

    def first_occurrences(self, batch: list[_Row], report: ImportReport) -> list[_Row]:
        """Keep the first row for each address in the file; later ones are reported, not merged."""
        maybe = list({r.lead.email for r in batch if self._maybe_seen(r.lead.email)})
        earlier: dict[str, int] = {}
        if maybe:
            placeholders, params = bulk.in_list(self.conn, "e", maybe)
            query = f"SELECT email, row_number FROM import_seen WHERE email IN {placeholders}"  # noqa: S608 - placeholders only
            earlier = dict(bulk.execute(self.conn, query, params).all())
        first_in_batch: dict[str, int] = {}
        kept: list[_Row] = []
        for r in batch:
            seen_at = earlier.get(r.lead.email) or first_in_batch.get(r.lead.email)
            if seen_at is not None:
                report.reject(
                    r.number, f"email: {r.lead.email} already appears in row {seen_at}; row skipped"
                )
                continue
            first_in_batch[r.lead.email] = r.number
            kept.append(r)
        bits = self.bits
        for r in kept:
            for p in self._positions(r.lead.email):
                bits[p >> 3] |= 1 << (p & 7)
        bulk.executemany(
            self.conn,
            "INSERT INTO import_seen (email, row_number) VALUES (:email, :row_number)",
            [{"email": r.lead.email, "row_number": r.number} for r in kept],
        )
        return kept

    def drop(self) -> None:
        if self.conn.in_transaction():
            self.conn.rollback()
        self.conn.execute(text("DROP TABLE IF EXISTS import_seen"))
        self.conn.commit()


class _Pipeline:
    """Writes batches on a second thread while the next batch is read and checked.

    The database driver releases the GIL while it works, so on two cores reading and writing
    overlap. The queue holds at most two batches: memory stays bounded. A failure on the
    writing side stops the reading side and is raised from ``put`` or on exit.
    """

    def __init__(self, write: Callable[[list[_Row]], None]) -> None:
        self._write = write
        self._queue: queue.Queue[list[_Row] | None] = queue.Queue(maxsize=2)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._drain, name="lead-import-writer", daemon=True)

    def __enter__(self) -> _Pipeline:
        self._thread.start()
        return self

    def _drain(self) -> None:
        while (batch := self._queue.get()) is not None:
            if self._error is None:
                try:
                    self._write(batch)
                except BaseException as exc:
                    self._error = exc

    def put(self, batch: list[_Row]) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(batch)

    def __exit__(self, *exc_info: object) -> None:
        self._queue.put(None)
        self._thread.join()
        if self._error is not None and exc_info[0] is None:
            raise self._error


def _peek(records: Iterator[RawRecord]) -> Iterator[RawRecord]:
    """Read the first record now, so file-level errors surface before any writing starts."""
    try:
        first = next(records)
    except StopIteration:
        return iter(())

    def chained() -> Iterator[RawRecord]:
        yield first
        yield from records

    return chained()


def _batches(rows: Iterable[_Row], size: int) -> Iterator[list[_Row]]:
    batch: list[_Row] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
