"""Reading lead files: CSV or JSON Lines, row by row, never the whole file at once."""

from __future__ import annotations

import contextlib
import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, NamedTuple, Protocol

from nurture.errors import NurtureError
from nurture.json_depth import TOO_DEEP, may_nest_too_deeply, nests_too_deeply
from nurture.leads.fields import STANDARD_FIELDS

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


# What --encoding accepts: UTF-8 (with or without BOM), and what German Excel saves as "CSV".
ENCODINGS = {"utf-8": "utf-8-sig", "cp1252": "cp1252", "latin-1": "latin-1"}


def _text_stream(counter: ByteCounter, encoding: str = "utf-8") -> io.TextIOWrapper:
    # Undecodable bytes are kept as surrogates so the row holding them can be named and
    # skipped, instead of the whole import stopping at the first bad byte.
    return io.TextIOWrapper(
        io.BufferedReader(counter, buffer_size=1 << 16),
        encoding=ENCODINGS[encoding],
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


def read_csv(
    path: Path, counter: ByteCounter, encoding: str = "utf-8"
) -> tuple[list[str], Iterator[CsvRecord]]:
    """The columns (from the header, read now: its problems raise here) and the rows."""
    with path.open("rb") as peek:
        sample = peek.read(4096).decode(ENCODINGS[encoding], errors="replace")
    if not sample.strip():
        raise ImportFileError(f"{path}: the file is empty; expected a header row with an 'email' column")
    stream = _text_stream(counter, encoding)
    dialect: type[csv.Dialect] | csv.Dialect = csv.excel
    # One column only, or plain commas, leaves the sniffer unsure: the default dialect reads those.
    # Only the delimiter is taken from the header line: a quote in a cell is written doubled, as
    # spreadsheets write it (the sniffer, seeing no doubled quote in a header, would say not).
    with contextlib.suppress(csv.Error):
        sniffed = csv.Sniffer().sniff(sample.split("\n", 1)[0], delimiters=",;\t")
        dialect = type(
            "Sniffed", (csv.excel,),
            {"delimiter": sniffed.delimiter, "skipinitialspace": sniffed.skipinitialspace},
        )  # fmt: skip
    csv.field_size_limit(MAX_FIELD_BYTES)
    reader = csv.reader(stream, dialect)
    try:
        header = next(reader)
    except csv.Error as exc:
        raise ImportFileError(f"{path}: row 1: {_unreadable(exc)}") from None
    except StopIteration:
        raise ImportFileError(
            f"{path}: the file is empty; expected a header row with an 'email' column"
        ) from None
    columns = _header(path, header)
    return columns, _csv_records(reader, RowEnds(path, stream, dialect), len(columns))


def _unreadable(exc: csv.Error) -> str:
    if "field limit" in str(exc):
        return f"a cell is larger than {MAX_FIELD_BYTES >> 20} MiB (is a quote left open?)"
    return f"cannot read the row: {exc}"


def _csv_records(reader: _CsvReader, ends: RowEnds, width: int) -> Iterator[CsvRecord]:
    row = 1
    try:
        while True:
            row += 1
            start = reader.line_num  # the line the row begins after; one read per row, no more
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                # The reader resumes at the next line, which may lie inside the row's quoted cell:
                # skip to where the row really ends, or text inside one cell would become rows.
                if not ends.skip_rest_of_row(start, reader.line_num):
                    yield row, None, f"{_unreadable(exc)}; the rest of the file cannot be told " \
                        "apart from that cell, so it was not read"  # fmt: skip
                    return
                yield row, None, _unreadable(exc)
                continue
            if not cells or (len(cells) == 1 and not cells[0].strip()):
                continue  # blank line
            if len(cells) != width:
                yield row, None, f"has {len(cells)} fields but the header has {width}"
                continue
            yield row, cells, None
    finally:
        ends.close()


class _CsvReader(Protocol):
    line_num: int

    def __next__(self) -> list[str]: ...


class RowEnds:
    """Finds where a CSV row the reader gave up on really ends, and skips past it.

    Python's reader, refusing a row (a cell over the size limit, as when a quote is left open),
    starts again at the next physical line, which may lie inside the row's quoted cell. The lines
    the failed row took are read again through a second handle, which only moves forward, so
    the happy path pays nothing for it; a small state machine of the dialect's quoting says
    whether the row ends with them, else lines are skipped until its quoted cell closes.
    """

    def __init__(self, path: Path, stream: Iterator[str], dialect: type[csv.Dialect] | csv.Dialect) -> None:
        self._path = path
        self._stream = stream
        self._delimiter = dialect.delimiter
        self._quote = dialect.quotechar or '"'
        self._skip_spaces = bool(dialect.skipinitialspace)
        # With an escape character or without doubled quotes a cell's end cannot be told here.
        self._readable = bool(
            dialect.quotechar and dialect.doublequote and not dialect.escapechar
            and dialect.quoting != csv.QUOTE_NONE
        )  # fmt: skip
        self._shadow: Iterator[str] | None = None
        self._shadow_at = 0  # physical lines the second handle has passed
        self._skipped = 0  # physical lines taken from the reader's stream behind its back

    def skip_rest_of_row(self, start: int, end: int) -> bool:
        """After the reader failed on the row that began after its line ``start`` and had read
        up to its line ``end``: consume the rest of that row. False when its end cannot be found
        (the quoted cell never closes, or the dialect hides it): nothing more is to be read."""
        if not self._readable:
            return False
        state = _START
        for line in self._again(start + self._skipped, end + self._skipped):
            state = _after_line(
                line, _START if state == _ENDED else state, self._delimiter, self._quote, self._skip_spaces
            )
        while state == _QUOTED:
            following = next(self._stream, None)
            if following is None:
                return False
            self._skipped += 1
            state = _after_line(following, state, self._delimiter, self._quote, self._skip_spaces)
        return True

    def _again(self, first: int, last: int) -> Iterator[str]:
        """Physical lines ``first + 1`` to ``last`` of the file, read through the second handle."""
        if self._shadow is None:
            self._shadow = _text_stream(ByteCounter(self._path.open("rb")))
        for line in self._shadow:
            self._shadow_at += 1
            if self._shadow_at > first:
                yield line
            if self._shadow_at >= last:
                return

    def close(self) -> None:
        if isinstance(self._shadow, io.TextIOWrapper):
            self._shadow.close()


_START, _UNQUOTED, _QUOTED, _QUOTE_IN_QUOTED, _ENDED = range(5)


def _after_line(line: str, state: int, delimiter: str, quote: str, skip_spaces: bool = False) -> int:
    """The quoting state at the end of ``line`` (``_ENDED`` when the row ends with it), following
    the csv module's reader for a dialect with doubled quotes (``skip_spaces``: spaces after a
    delimiter are skipped, so a quote after them still opens a quoted cell)."""
    i, size = 0, len(line)
    while i < size:
        if state == _QUOTED:
            found = line.find(quote, i)
            if found < 0:
                return _QUOTED  # the line break belongs to the cell
            state, i = _QUOTE_IN_QUOTED, found + 1
            continue
        char = line[i]
        if char in "\r\n":
            return _ENDED
        if state == _START and char == " " and skip_spaces:
            pass
        elif state in (_QUOTE_IN_QUOTED, _START):
            state = _QUOTED if char == quote else _START if char == delimiter else _UNQUOTED
        elif char == delimiter:  # unquoted: a quote inside is just a character
            state = _START
        i += 1
    return _ENDED if state != _QUOTED else _QUOTED


def _header(path: Path, header: list[str]) -> list[str]:
    known = {"email", *STANDARD_FIELDS}
    columns: list[str] = []
    for cell in header:
        name = cell.strip()
        if not _encodable(name):
            raise ImportFileError(
                f"{path}: row 1: the header is not valid UTF-8; save the file as UTF-8 or pass "
                "--encoding cp1252 (Excel on Windows) or latin-1"
            )
        lowered = name.lower().replace(" ", "_").replace("-", "_")
        columns.append(lowered if lowered in known else name)
    if "email" not in columns and "external_id" not in columns:  # rows name leads by either
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


def read_jsonl(path: Path, counter: ByteCounter, encoding: str = "utf-8") -> Iterator[RawRecord]:
    stream = _text_stream(counter, encoding)
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
