"""Reading lead files: CSV or JSON Lines, row by row, never the whole file at once."""

from __future__ import annotations

import contextlib
import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, NamedTuple

from nurture.errors import NurtureError
from nurture.json_depth import TOO_DEEP, may_nest_too_deeply, nests_too_deeply

MAX_FIELD_BYTES = 1 << 20  # one cell; protects memory against a runaway quote


class ImportFileError(NurtureError):
    """The file as a whole cannot be read (missing, empty, no e-mail column, unknown format)."""


class RawRecord(NamedTuple):
    """One line of a JSON Lines file."""

    row: int  # JSON Lines count lines
    values: dict[str, Any] | None  # None when the row could not be read at all
    problem: str | None = None


class ByteCounter(io.RawIOBase):
    """Counts bytes as they are read, so progress is shown without knowing the row count."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self.consumed = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        chunk = self._raw.read(len(buffer))
        size = len(chunk)
        buffer[:size] = chunk
        self.consumed += size
        return size

    def close(self) -> None:
        self._raw.close()
        super().close()


def detect_format(path: Path, explicit: str | None = None) -> str:
    if explicit:
        return explicit
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if suffix in (".csv", ".txt", ".tsv"):
        return "csv"
    raise ImportFileError(f"{path}: cannot tell the format from {suffix!r}; use .csv or .jsonl (or --format)")


def open_counted(path: Path) -> tuple[ByteCounter, int]:
    try:
        size = path.stat().st_size
        handle = path.open("rb")
    except OSError as exc:
        raise ImportFileError(f"{path}: {exc.strerror or exc}") from None
    return ByteCounter(handle), size


def _text_stream(counter: ByteCounter) -> io.TextIOWrapper:
    # Undecodable bytes are kept as surrogates so the row holding them can be named and
    # skipped, instead of the whole import stopping at the first bad byte.
    return io.TextIOWrapper(
        io.BufferedReader(counter, buffer_size=1 << 16),
        encoding="utf-8-sig",
        errors="surrogateescape",
        newline="",
    )


def not_utf8_column(values: dict[str, Any]) -> str | None:
    """The first column whose text was not valid UTF-8, if any."""
    for key, value in values.items():
        if isinstance(value, str) and not _encodable(value):
            return key
        if not _encodable(key):
            return "(header)"
    return None


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# (row as a spreadsheet counts it, the header being row 1; the cells, exactly one per column, or
# None when the row cannot be read; the problem then). A plain tuple: one is made per row.
CsvRecord = tuple[int, list[str] | None, str | None]


def read_csv(path: Path, counter: ByteCounter) -> tuple[list[str], Iterator[CsvRecord]]:
    """The columns (from the header, read now: its problems raise here) and the rows."""
    with path.open("rb") as peek:
        sample = peek.read(4096).decode("utf-8-sig", errors="replace")
    if not sample.strip():
        raise ImportFileError(f"{path}: the file is empty; expected a header row with an 'email' column")
    stream = _text_stream(counter)
    dialect: type[csv.Dialect] | csv.Dialect = csv.excel
    # One column only, or plain commas, leaves the sniffer unsure: the default dialect reads those.
    with contextlib.suppress(csv.Error):
        dialect = csv.Sniffer().sniff(sample.split("\n", 1)[0], delimiters=",;\t")
    csv.field_size_limit(MAX_FIELD_BYTES)
    reader = csv.reader(stream, dialect)
    try:
        header = next(reader)
    except csv.Error as exc:
        raise ImportFileError(f"{path}: row 1: {exc}") from None
    except StopIteration:
        raise ImportFileError(
            f"{path}: the file is empty; expected a header row with an 'email' column"
        ) from None
    columns = _header(path, header)
    return columns, _csv_records(reader, len(columns))


def _csv_records(reader: Iterator[list[str]], width: int) -> Iterator[CsvRecord]:
    row = 1
    while True:
        row += 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield row, None, f"cannot read the row: {exc}"
            continue
        if not cells or (len(cells) == 1 and not cells[0].strip()):
            continue  # blank line
        if len(cells) != width:
            yield row, None, f"has {len(cells)} fields but the header has {width}"
            continue
        yield row, cells, None


def _header(path: Path, header: list[str]) -> list[str]:
    from nurture.leads.fields import STANDARD_FIELDS

    known = {"email", *STANDARD_FIELDS}
    columns: list[str] = []
    for cell in header:
        name = cell.strip()
        if not _encodable(name):
            raise ImportFileError(f"{path}: row 1: the header is not valid UTF-8; save the file as UTF-8")
        lowered = name.lower().replace(" ", "_").replace("-", "_")
        columns.append(lowered if lowered in known else name)
    if "email" not in columns:
        found = ", ".join(repr(c) for c in columns) or "nothing"
        raise ImportFileError(f"{path}: row 1: the header has no 'email' column (found {found})")
    seen: set[str] = set()
    for name in columns:
        if not name:
            raise ImportFileError(f"{path}: row 1: a header cell is empty")
        if name in seen:
            raise ImportFileError(f"{path}: row 1: the column {name!r} appears twice")
        seen.add(name)
    return columns


def read_jsonl(path: Path, counter: ByteCounter) -> Iterator[RawRecord]:
    stream = _text_stream(counter)
    any_line = False
    for number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        any_line = True
        if not _encodable(line):
            yield RawRecord(number, None, "is not valid UTF-8; save the file as UTF-8")
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            yield RawRecord(number, None, f"is not valid JSON ({exc.msg} at column {exc.colno})")
            continue
        except RecursionError:
            yield RawRecord(number, None, f"is {TOO_DEEP}")
            continue
        if may_nest_too_deeply(line) and nests_too_deeply(value):
            yield RawRecord(number, None, f"is {TOO_DEEP}")
            continue
        if not isinstance(value, dict):
            yield RawRecord(number, None, "is not a JSON object")
            continue
        yield RawRecord(number, value)
    if not any_line:
        raise ImportFileError(f"{path}: the file is empty; expected one JSON object per line")
