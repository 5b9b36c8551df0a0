"""Importing leads: good rows in, bad rows reported by row number, a second run changes nothing.

The reading thread parses and checks rows (reading.py, csv_rows.py) and hands them over in
pieces; a writing thread stores them in batches, each batch in its own transaction, so a bad row
never stops the good ones and a crash keeps every batch already committed. SQLite takes set-based
writes through a staging table (write_sqlite.py); PostgreSQL and dry runs go lead by lead
(write_rows.py). Memory stays flat however large the file: the pipeline holds a few pieces, and
repeated addresses are found through the database, not a set held in Python.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Connection
from sqlalchemy.engine import Engine

from nurture.collector import collector_paused
from nurture.leads import write_sqlite
from nurture.leads.named_rows import with_addresses
from nurture.leads.pipeline import LeadWriter, Pipeline
from nurture.leads.reading import checked_rows, pieces
from nurture.leads.report import BatchHook, ImportReport, ProgressHook, RowProblem, RowsHook
from nurture.leads.sources import detect_format, open_counted
from nurture.leads.staged import StagedLead
from nurture.leads.validate import validate_record
from nurture.leads.write_rows import RowWriter, write_leads

UpsertStatus = Literal["created", "updated", "unchanged"]


@dataclass(frozen=True)
class Upserted:
    """What :meth:`LeadImporter.upsert` did to one lead."""

    lead_id: int
    status: UpsertStatus


__all__ = ["BatchHook", "ImportReport", "LeadImporter", "ProgressHook", "RowProblem", "RowsHook", "Upserted"]


class LeadImporter:
    def __init__(
        self,
        engine: Engine,
        now: datetime,
        *,
        dry_run: bool = False,
        on_batch: BatchHook | None = None,
        on_progress: ProgressHook | None = None,
        on_rows: RowsHook | None = None,  # every lead a batch names, e.g. for the file's consent
        batch_size: int | None = None,  # rows per transaction; None: what suits the writer
        skip_fields: bool = False,  # --on-error skip-field: store rows without their bad values
        encoding: str = "utf-8",  # or cp1252, latin-1 (see sources.ENCODINGS)
    ) -> None:
        self.engine = engine
        self.now = now
        self.dry_run = dry_run
        self.on_batch = on_batch
        self.on_progress = on_progress
        self.on_rows = on_rows
        self.batch_size = batch_size
        self.skip_fields = skip_fields
        self.encoding = encoding

    def run(self, path: Path, fmt: str | None = None) -> ImportReport:
        """Import ``path``; file-level problems raise ImportFileError before anything is written."""
        kind = detect_format(path, fmt)
        counter, size = open_counted(path)
        report = ImportReport(path=path, dry_run=self.dry_run)
        with counter, collector_paused():
            rows = _peek(
                with_addresses(
                    checked_rows(
                        path,
                        kind,
                        counter,
                        report,
                        skip_fields=self.skip_fields,
                        encoding=self.encoding,
                        now=self.now,
                    ),
                    self.engine,
                    report,
                )
            )
            with self.engine.connect() as conn:
                writer = self._writer(conn, report, f"import of {path.name}")
                writer.open()
                try:
                    with Pipeline(writer) as pipeline:
                        for piece in pieces(rows, report, writer.batch_size, writer.piece_size):
                            pipeline.put(piece)
                            if self.on_progress:
                                self.on_progress(counter.consumed, size)
                finally:
                    writer.close()
        return report

    def upsert(self, conn: Connection, record: dict[str, Any], source: str) -> Upserted:
        """Create or update one lead from ``record`` (the columns of a leads file, ``email``
        required) in the caller's transaction, as a file's row would be: blank values erase
        nothing, a new lead starts with its first stage, and ``on_batch`` (what follows) is told
        of the lead created or changed. :class:`RowInvalid` names the first bad column."""
        lead = validate_record(record)
        written = write_leads(conn, [lead], self.now, source, actor=source)
        (lead_id,) = written.lead_ids
        assert lead_id is not None  # not a dry run: a new lead has its id
        if self.on_batch is not None and (written.created or written.changed):
            self.on_batch(conn, written.created, written.changed, self.now)
        status: UpsertStatus = written.outcomes[0]  # type: ignore[assignment]
        return Upserted(lead_id, status)

    def _writer(self, conn: Connection, report: ImportReport, source: str) -> LeadWriter:
        if not self.dry_run and write_sqlite.usable(conn):
            return write_sqlite.SqliteWriter(
                conn, self.now, report, source, on_batch=self.on_batch, on_rows=self.on_rows,
                batch_size=self.batch_size,
            )  # fmt: skip
        return RowWriter(
            conn,
            self.now,
            report,
            source,
            dry_run=self.dry_run,
            on_batch=self.on_batch,
            on_rows=self.on_rows,
            batch_size=self.batch_size,
        )


def _peek(rows: Iterator[StagedLead]) -> Iterator[StagedLead]:
    """Read the first row now, so file-level errors surface before any writing starts."""
    try:
        first = next(rows)
    except StopIteration:
        return iter(())

    def chained() -> Iterator[StagedLead]:
        yield first
        yield from rows

    return chained()
