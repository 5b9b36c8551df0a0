"""Importing leads: good rows in, bad rows reported by row number, a second run changes nothing.

Rows are validated one by one and written in batches, each batch in its own transaction, so a bad
row never stops the good ones and a crash keeps every batch already committed. Memory stays flat
however large the file: duplicates across the file are found through a temporary table, not a
set held in Python.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, select, text, update
from sqlalchemy.engine import Engine

from nurture.leads.addresses import suppression_hash
from nurture.leads.fields import STANDARD_FIELDS
from nurture.leads.sources import RawRecord, detect_format, open_counted, read_csv, read_jsonl
from nurture.leads.validate import LeadValues, RowInvalid, validate_record
from nurture.store.schema import leads, stage_changes, suppressions

BATCH_SIZE = 500
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

    def reject(self, row: int, message: str) -> None:
        self.rejected += 1
        if len(self.problems) < KEPT_PROBLEMS:
            self.problems.append(RowProblem(row, message))


@dataclass
class _Row:
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
            _create_seen_table(conn)
            try:
                for batch in _batches(self._valid_rows(first, report), self.batch_size):
                    with conn.begin():
                        self._write_batch(conn, batch, report, source)
                    if self.on_progress:
                        self.on_progress(counter.consumed, size)
            finally:
                conn.execute(text("DROP TABLE IF EXISTS import_seen"))
                conn.commit()
        return report

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

    def _write_batch(self, conn: Connection, batch: list[_Row], report: ImportReport, source: str) -> None:
        rows = _drop_duplicates(conn, batch, report)
        if not rows:
            return
        emails = [r.lead.email for r in rows]
        existing = {
            row.email: row
            for row in conn.execute(
                select(
                    leads.c.id, leads.c.email, leads.c.attributes, *[leads.c[f] for f in FIELD_NAMES]
                ).where(leads.c.email.in_(emails))
            )
        }
        hashes = [suppression_hash(e) for e in emails]
        report.suppressed += (
            conn.scalar(
                select(func.count()).select_from(suppressions).where(suppressions.c.email_hash.in_(hashes))
            )
            or 0
        )

        new_rows: list[dict[str, Any]] = []
        changed: list[dict[str, Any]] = []
        stage_moves: list[dict[str, Any]] = []
        for r in rows:
            current = existing.get(r.lead.email)
            if current is None:
                new_rows.append(self._new_lead(r.lead))
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
        report.created += len(new_rows)
        report.updated += len(changed)
        if self.dry_run:
            return

        created_ids: list[int] = []
        if new_rows:
            inserted = conn.execute(insert(leads).returning(leads.c.id, leads.c.lifecycle_stage), new_rows)
            for lead_id, stage in inserted:
                created_ids.append(lead_id)
                stage_moves.append(self._stage_change(lead_id, None, stage, source))
        if changed:
            columns: dict[str, Any] = {
                name: bindparam(name) for name in (*FIELD_NAMES, "attributes", "updated_at")
            }
            conn.execute(update(leads).where(leads.c.id == bindparam("b_id")).values(columns), changed)
        if stage_moves:
            conn.execute(insert(stage_changes), stage_moves)
        if self.on_batch:
            self.on_batch(conn, created_ids, [c["b_id"] for c in changed], self.now)

    def _new_lead(self, lead: LeadValues) -> dict[str, Any]:
        row: dict[str, Any] = dict.fromkeys(FIELD_NAMES)
        row.update(lead.fields)
        row["lifecycle_stage"] = row["lifecycle_stage"] or "lead"
        row.update(
            email=lead.email,
            email_domain=lead.email_domain,
            attributes=lead.attributes,
            created_at=self.now,
            updated_at=self.now,
        )
        return row

    def _stage_change(self, lead_id: int, old: str | None, new: str, source: str) -> dict[str, Any]:
        return {
            "lead_id": lead_id,
            "from_stage": old,
            "to_stage": new,
            "at": self.now,
            "reason": source,
            "actor": "import",
        }


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


def _drop_duplicates(conn: Connection, batch: list[_Row], report: ImportReport) -> list[_Row]:
    """Keep the first row for each address in the file; later ones are reported, not merged."""
    first_in_batch: dict[str, int] = {}
    kept: list[_Row] = []
    earlier: dict[str, int] = dict(
        conn.execute(
            text("SELECT email, row_number FROM import_seen WHERE email IN :emails").bindparams(
                bindparam("emails", expanding=True)
            ),
            {"emails": list({r.lead.email for r in batch})},
        ).all()
    )
    for r in batch:
        seen_at = earlier.get(r.lead.email) or first_in_batch.get(r.lead.email)
        if seen_at is not None:
            report.reject(r.number, f"email: {r.lead.email} already appears in row {seen_at}; row skipped")
            continue
        first_in_batch[r.lead.email] = r.number
        kept.append(r)
    if kept:
        conn.execute(
            text("INSERT INTO import_seen (email, row_number) VALUES (:email, :row_number)"),
            [{"email": r.lead.email, "row_number": r.number} for r in kept],
        )
    return kept


def _create_seen_table(conn: Connection) -> None:
    conn.execute(text("DROP TABLE IF EXISTS import_seen"))
    conn.execute(
        text("CREATE TEMPORARY TABLE import_seen (email VARCHAR(320) PRIMARY KEY, row_number INTEGER)")
    )
    conn.commit()


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
