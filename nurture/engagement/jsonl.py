"""Importing events from a JSON Lines file: one event per line, bad lines reported by number.

Lines are checked one by one and stored in batches, each batch in its own transaction: a bad line
never stops the good ones, and a crash keeps every batch already committed. Every line is one
event with an identity, its ``id`` or else a key made from what it says (type, address, the time
it gives, URL and properties): running the same file again records nothing and says so, and a file
that stopped half-way can simply be imported again.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Engine

from nurture.collector import frozen_heap
from nurture.engagement.record import RecordResult, UnknownLeads, record_events
from nurture.engagement.surrogates import UNPAIRED_SURROGATE, has_unpaired_surrogate, may_hold_surrogates
from nurture.json_depth import TOO_DEEP, may_nest_too_deeply, nests_too_deeply

if TYPE_CHECKING:
    from nurture.facts import WhatFollows

# Events per transaction. Writes land all over the events and ledger indexes; a larger batch
# writes each touched index page (and each lead's score) once for more events: at 20,000 rather
# than 5,000 the database does about a quarter less work per event, while the write lock is held
# for about a second per batch.
BATCH_SIZE = 20_000
KEPT_PROBLEMS = 1_000
MAX_LINE_BYTES = 1024 * 1024


@dataclass(frozen=True)
class LineProblem:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass
class EventImportReport:
    path: Path
    lines: int = 0  # non-blank lines read
    stored: int = 0
    duplicates: int = 0
    anonymous: int = 0
    machine: int = 0
    rejected: int = 0
    problems: list[LineProblem] = field(default_factory=list)

    def reject(self, line: int, message: str) -> None:
        self.rejected += 1
        if len(self.problems) < KEPT_PROBLEMS:
            self.problems.append(LineProblem(line, message))

    def summary(self) -> str:
        """The line ``nurture events import`` ends with."""
        return (
            f"imported {self.path.name}: {self.lines} events, {self.stored} stored "
            f"({self.anonymous} for addresses not yet leads, {self.machine} machine-made), "
            f"{self.duplicates} already recorded, {self.rejected} rejected"
        )

    def as_json(self) -> dict[str, Any]:
        """``nurture events import --json``: the counts and each rejected line."""
        return {
            "file": str(self.path),
            "lines": self.lines,
            "stored": self.stored,
            "anonymous": self.anonymous,
            "machine": self.machine,
            "already_recorded": self.duplicates,
            "rejected": self.rejected,
            "problems": [{"line": p.line, "message": p.message} for p in self.problems],
            "problems_not_shown": max(self.rejected - len(self.problems), 0),
        }


def import_events_file(
    engine: Engine,
    then: WhatFollows | None,
    path: Path,
    now: datetime,
    *,
    unknown_leads: UnknownLeads = "keep",
    batch_size: int = BATCH_SIZE,
) -> EventImportReport:
    """Store every good line of a JSON Lines file; report the others by line number."""
    report = EventImportReport(path)
    items: list[Any] = []
    line_numbers: list[int] = []
    with frozen_heap():
        for number, item in _read(path, report):
            items.append(item)
            line_numbers.append(number)
            if len(items) >= batch_size:
                _store(engine, then, items, line_numbers, now, unknown_leads, report)
                items, line_numbers = [], []
        if items:
            _store(engine, then, items, line_numbers, now, unknown_leads, report)
    report.problems.sort(key=lambda p: p.line)
    return report


def _read(path: Path, report: EventImportReport) -> Iterator[tuple[int, Any]]:
    decoder = json.JSONDecoder()
    decode = decoder.decode
    scan = decoder.scan_once  # type: ignore[attr-defined]  # set in JSONDecoder.__init__; not in the stubs
    with path.open("rb") as stream:
        for number, raw in enumerate(stream, start=1):
            if not raw.strip():
                continue
            report.lines += 1
            if len(raw) > MAX_LINE_BYTES:
                report.reject(number, f"longer than {MAX_LINE_BYTES // 1024} KiB")
                continue
            try:
                text = raw.decode("utf-8").strip().removeprefix("\ufeff")
            except UnicodeDecodeError:
                report.reject(number, "not UTF-8 text")
                continue
            # The scanner alone, for a line that is one JSON value and nothing else; any other
            # line goes through decode(), which skips whitespace and words the error.
            try:
                item, end = scan(text, 0)
            except (StopIteration, json.JSONDecodeError, RecursionError):
                end = -1
            if end != len(text):
                try:
                    item = decode(text)
                except json.JSONDecodeError as exc:
                    report.reject(number, f"not valid JSON: {exc.msg} (column {exc.colno})")
                    continue
                except RecursionError:
                    report.reject(number, TOO_DEEP)
                    continue
            if may_nest_too_deeply(raw) and nests_too_deeply(item):
                report.reject(number, TOO_DEEP)
                continue
            if may_hold_surrogates(raw) and has_unpaired_surrogate(item):
                report.reject(number, UNPAIRED_SURROGATE)
                continue
            yield number, item


def _store(
    engine: Engine,
    then: WhatFollows | None,
    items: list[Any],
    line_numbers: list[int],
    now: datetime,
    unknown_leads: UnknownLeads,
    report: EventImportReport,
) -> None:
    with engine.begin() as conn:
        result: RecordResult = record_events(
            conn, then, items, now, unknown_leads=unknown_leads, key_by_content=True, consent_source="import"
        )
    report.stored += result.stored
    report.duplicates += result.duplicates
    report.anonymous += result.anonymous
    report.machine += result.machine
    for error in result.errors:
        report.reject(line_numbers[error.index], str(error))
