"""The reading side of an import: a file's rows, checked, in pieces for the writer.

Bad rows are reported here by row number. So is a row repeating an address an earlier row of
the same batch had: the batch's addresses are a dict, bounded by the batch size; writers find
repeats across batches in the database.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from nurture.clock import clock_from_env
from nurture.leads.csv_rows import FieldSkipped, checked_record, row_checker
from nurture.leads.report import ImportReport, duplicate
from nurture.leads.sources import ByteCounter, read_csv, read_jsonl
from nurture.leads.staged import EMAIL, ROW, Piece, StagedLead, staged
from nurture.leads.validate import RowInvalid


def checked_rows(
    path: Path,
    kind: str,
    counter: ByteCounter,
    report: ImportReport,
    *,
    skip_fields: bool = False,
    encoding: str = "utf-8",
    now: datetime | None = None,
) -> Iterator[StagedLead]:
    """The file's storable rows, the others reported. File-level problems raise ImportFileError,
    for CSV when called, for JSON Lines at the first row. With ``skip_fields`` a row with a bad
    value other than the e-mail is stored without that value, which is reported."""
    skipped = report.skip_field if skip_fields else None
    now = now if now is not None else clock_from_env().now()
    if kind == "csv":
        return _csv_rows(path, counter, report, skipped, encoding, now)
    return _jsonl_rows(path, counter, report, skipped, encoding, now)


def _csv_rows(
    path: Path,
    counter: ByteCounter,
    report: ImportReport,
    skipped: FieldSkipped | None,
    encoding: str,
    now: datetime,
) -> Iterator[StagedLead]:
    columns, records = read_csv(path, counter, encoding)
    check = row_checker(columns, skipped, now=now)

    def rows() -> Iterator[StagedLead]:
        count = 0  # a local, added to the report at the end: this loop runs per row
        try:
            for row, cells, problem in records:
                count += 1
                if cells is None:
                    report.reject(row, problem or "cannot be read")
                    continue
                try:
                    yield check(row, cells)
                except RowInvalid as exc:
                    report.reject(row, str(exc))
        finally:
            report.rows += count

    return rows()


def _jsonl_rows(
    path: Path,
    counter: ByteCounter,
    report: ImportReport,
    skipped: FieldSkipped | None,
    encoding: str,
    now: datetime,
) -> Iterator[StagedLead]:
    for record in read_jsonl(path, counter, encoding):
        report.rows += 1
        if record.values is None:
            report.reject(record.row, record.problem or "cannot be read")
            continue
        try:
            yield staged(record.row, checked_record(record.row, record.values, skipped, now))
        except RowInvalid as exc:
            report.reject(record.row, str(exc))


def pieces(
    rows: Iterator[StagedLead], report: ImportReport, batch_size: int, piece_size: int
) -> Iterator[Piece]:
    """Rows in pieces of ``piece_size``, every ``batch_size`` kept rows closing a batch."""
    first_rows: dict[str, int] = {}
    values: list[Any] = []
    in_piece = in_batch = 0
    for lead in rows:
        row = lead[ROW]
        first = first_rows.setdefault(lead[EMAIL], row)
        if first != row:
            report.reject(row, duplicate(lead[EMAIL], first))
            continue
        values += lead
        in_piece += 1
        in_batch += 1
        if in_batch >= batch_size:
            yield Piece(tuple(values), in_piece, True)
            values, in_piece, in_batch = [], 0, 0
            first_rows.clear()
        elif in_piece >= piece_size:
            yield Piece(tuple(values), in_piece, False)
            values, in_piece = [], 0
    if in_batch:
        yield Piece(tuple(values), in_piece, True)
