"""``nurture history import``: the past of leads brought from another tool, with its real dates.

A CSV or JSON Lines file, one row per fact, about leads already imported (named by ``email`` or
``external_id``):

- a **stage change** has ``to`` (and ``from``, ``at``, ``reason``, ``actor``, ``amount``,
  ``currency``): it is added to the lead's stage history, where the funnel, velocity and the
  score backtest read it;
- an **engagement event** has ``type`` (and ``at`` or ``occurred_at``, ``url``, ``id``; other
  columns are its properties): it is recorded as an event of its time and earns the points it
  earned then.

Every row is checked on its own and a bad one is reported as ``FILE:row N:field: reason``, never
stopping the good ones. A lead whose history starts before it was imported is moved back to its
real start (``created_at``), so cohorts count it when it began. Importing the
file again records nothing: a stage change is the same when its lead, stages and time are, an
event by its id or what it says. History is a record, not a replay: nothing is sent, no rep is
notified of an MQL of the past, no campaign is entered or left (:mod:`nurture.lifecycle.history`):
its events are stored marked ``from_history``, which event entries and waiting leads pass over.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, or_, select, update
from sqlalchemy.engine import Engine

from nurture.engagement.record import record_events
from nurture.errors import NurtureError
from nurture.leads.addresses import InvalidAddress, normalise_email
from nurture.store.schema import LIFECYCLE_STAGES, events, leads, stage_changes

if TYPE_CHECKING:
    from nurture.facts import WhatFollows

BATCH_SIZE = 5_000
KEPT_PROBLEMS = 1_000
STAGE_COLUMNS = frozenset({"to", "from", "at", "reason", "actor", "amount", "currency"})
NAMING = frozenset({"email", "external_id"})
DEFAULT_REASON = "history import"
DEFAULT_ACTOR = "history"


class HistoryFileError(NurtureError):
    """The file as a whole cannot be read."""


@dataclass(frozen=True)
class HistoryProblem:
    row: int
    field: str | None
    message: str

    def __str__(self) -> str:
        return (
            f"row {self.row}: {self.field}: {self.message}"
            if self.field
            else f"row {self.row}: {self.message}"
        )


@dataclass
class HistoryReport:
    path: Path
    rows: int = 0
    stage_changes: int = 0
    events: int = 0
    already_recorded: int = 0
    leads_moved_back: int = 0  # leads whose history began before they were imported
    rejected: int = 0
    problems: list[HistoryProblem] = field(default_factory=list)

    def reject(self, row: int, field_name: str | None, message: str) -> None:
        self.rejected += 1
        if len(self.problems) < KEPT_PROBLEMS:
            self.problems.append(HistoryProblem(row, field_name, message))

    def summary(self) -> str:
        return (
            f"imported {self.path.name}: {self.rows} rows, {self.stage_changes} stage changes and "
            f"{self.events} events recorded, {self.already_recorded} already recorded, "
            f"{self.rejected} rejected; {self.leads_moved_back} leads now start at their first recorded date"
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "file": str(self.path), "rows": self.rows, "stage_changes": self.stage_changes,
            "events": self.events, "already_recorded": self.already_recorded,
            "leads_moved_back": self.leads_moved_back, "rejected": self.rejected,
            "problems": [{"row": p.row, "field": p.field, "message": p.message} for p in self.problems],
            "problems_not_shown": max(self.rejected - len(self.problems), 0),
        }  # fmt: skip


class RowInvalid(ValueError):
    def __init__(self, field_name: str | None, message: str) -> None:
        super().__init__(message)
        self.field = field_name
        self.message = message


@dataclass(frozen=True)
class StageRow:
    row: int
    email: str | None
    external_id: str | None
    from_stage: str | None
    to_stage: str
    at: datetime
    reason: str
    actor: str
    amount: float | None
    currency: str | None


@dataclass(frozen=True)
class EventRow:
    row: int
    email: str | None
    external_id: str | None
    item: dict[str, Any]  # as record_events takes it, the address still to be resolved
    at: datetime


def import_history(engine: Engine, then: WhatFollows | None, path: Path, now: datetime) -> HistoryReport:
    """Record every good row of a history file; report the others by row and field."""
    report = HistoryReport(path)
    batch: list[StageRow | EventRow] = []
    for number, values in _rows(path):
        report.rows += 1
        try:
            batch.append(check_row(number, values, now))
        except RowInvalid as exc:
            report.reject(number, exc.field, exc.message)
            continue
        if len(batch) >= BATCH_SIZE:
            _store(engine, then, batch, now, report)
            batch = []
    if batch:
        _store(engine, then, batch, now, report)
    report.problems.sort(key=lambda p: p.row)
    return report


def _rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    suffix = path.suffix.lower()
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise HistoryFileError(f"{path}: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise HistoryFileError(f"{path}: not UTF-8 text") from None
    if suffix in (".jsonl", ".ndjson", ".json"):
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except (json.JSONDecodeError, RecursionError) as exc:
                yield number, {"__problem__": f"not valid JSON: {getattr(exc, 'msg', exc)}"}
                continue
            yield number, value if isinstance(value, dict) else {"__problem__": "a row is a JSON object"}
    elif suffix in (".csv", ".tsv", ".txt"):
        first = text.split("\n", 1)[0]
        delimiter = "\t" if suffix == ".tsv" else (";" if first.count(";") > first.count(",") else ",")
        reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
        if not reader.fieldnames or not NAMING & set(reader.fieldnames):
            raise HistoryFileError(f"{path}: the header needs an 'email' or 'external_id' column")
        for values in reader:
            # A row as a spreadsheet numbers it: the header is row 1.
            yield reader.line_num, {k: v for k, v in values.items() if k is not None and v not in (None, "")}
    else:
        raise HistoryFileError(f"{path}: cannot tell the format from {suffix!r}; use .csv or .jsonl")


def check_row(number: int, values: dict[str, Any], now: datetime) -> StageRow | EventRow:
    """One row -> a stage change or an event, or :class:`RowInvalid` naming the field."""
    if "__problem__" in values:
        raise RowInvalid(None, str(values["__problem__"]))
    email = _email(values.get("email"))
    external_id = _text(values, "external_id", 200)
    if email is None and external_id is None:
        raise RowInvalid("email", "is required (or external_id)")
    has_stage, has_type = "to" in values, "type" in values
    if has_stage == has_type:
        raise RowInvalid(
            None, "a row is a stage change (with 'to') or an event (with 'type'), not both or neither"
        )
    given = values.get("at", values.get("occurred_at"))
    at = _instant(given, now, "at" if "at" in values else "occurred_at")
    if has_stage:
        return StageRow(
            number, email, external_id, _stage(values.get("from"), "from", optional=True),
            _stage(values.get("to"), "to") or "", at, _text(values, "reason", 500) or DEFAULT_REASON,
            _text(values, "actor", 200) or DEFAULT_ACTOR, *_deal(values),
        )  # fmt: skip
    item = {k: v for k, v in values.items() if k not in NAMING | {"at", "occurred_at"}}
    item["occurred_at"] = at.isoformat()
    return EventRow(number, email, external_id, item, at)


def _email(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise RowInvalid("email", "must be text")
    try:
        return normalise_email(value)
    except InvalidAddress as exc:
        raise RowInvalid("email", str(exc)) from None


def _text(values: dict[str, Any], name: str, limit: int) -> str | None:
    value = values.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise RowInvalid(name, "must be text")
    text = str(value).strip()
    if len(text) > limit or "\n" in text:
        raise RowInvalid(name, f"is one line of at most {limit} characters")
    return text or None


def _stage(value: Any, name: str, *, optional: bool = False) -> str | None:
    if value is None or value == "":
        if optional:
            return None
        raise RowInvalid(name, "is required")
    stage = str(value).strip().lower()
    if stage not in LIFECYCLE_STAGES:
        raise RowInvalid(
            name, f"{str(value)[:40]!r} is not a lifecycle stage (one of {', '.join(LIFECYCLE_STAGES)})"
        )
    return stage


def _instant(value: Any, now: datetime, name: str) -> datetime:
    if value is None or value == "":
        raise RowInvalid("at", "is required: history has real dates")
    if not isinstance(value, str):
        raise RowInvalid(name, "must be an ISO-8601 date and time")
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
    except ValueError:
        raise RowInvalid(name, f"{value[:60]!r} is not an ISO-8601 date and time") from None
    instant = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    if instant > now:
        raise RowInvalid(name, f"{value[:60]!r} is in the future: history is what happened")
    return instant


def _deal(values: dict[str, Any]) -> tuple[float | None, str | None]:
    raw, currency = values.get("amount"), _text(values, "currency", 3)
    if raw is None or raw == "":
        if currency is not None:
            raise RowInvalid("currency", "goes with an amount")
        return None, None
    try:
        amount = float(raw) if not isinstance(raw, bool) else math.nan
    except (TypeError, ValueError):
        amount = math.nan
    if not math.isfinite(amount) or amount < 0:
        raise RowInvalid("amount", f"{str(raw)[:40]!r} is not an amount of money")
    if currency is not None and (len(currency) != 3 or not currency.isalpha()):
        raise RowInvalid("currency", f"{currency!r} is not a currency code (e.g. EUR)")
    return amount, currency.upper() if currency else None


def _store(
    engine: Engine,
    then: WhatFollows | None,
    batch: list[StageRow | EventRow],
    now: datetime,
    report: HistoryReport,
) -> None:
    with engine.begin() as conn:
        found = _leads(conn, batch)
        named: list[tuple[StageRow | EventRow, int]] = []
        for row in batch:
            lead = (
                found.get(("email", row.email)) if row.email else found.get(("external_id", row.external_id))
            )
            if lead is None:
                field_name = "email" if row.email else "external_id"
                report.reject(
                    row.row, field_name, f"no lead {row.email or row.external_id}; import the leads first"
                )
                continue
            lead_id, lead_email, external_id = lead
            if row.email and row.external_id and external_id is not None and external_id != row.external_id:
                report.reject(row.row, "external_id", f"{lead_email} has external_id {external_id!r}")
                continue
            named.append((row, lead_id))
        stages = [(row, lead_id) for row, lead_id in named if isinstance(row, StageRow)]
        _store_stages(conn, stages, report)
        emails = {lead_id: email for (_, _), (lead_id, email, _) in found.items()}
        _store_events(conn, then, [(r, i) for r, i in named if isinstance(r, EventRow)], emails, now, report)
        report.leads_moved_back += _move_starts_back(conn, named)
        if then is not None and named:
            then.leads_changed(conn, sorted({lead_id for _, lead_id in named}), now)


def _leads(
    conn: Connection, batch: list[StageRow | EventRow]
) -> dict[tuple[str, str | None], tuple[int, str, str | None]]:
    emails = sorted({r.email for r in batch if r.email})
    external = sorted({r.external_id for r in batch if not r.email and r.external_id})
    found: dict[tuple[str, str | None], tuple[int, str, str | None]] = {}
    l = leads.c  # noqa: E741 - the table's columns
    for start in range(0, max(len(emails), len(external)), 1000):
        query = select(l.id, l.email, l.external_id).where(
            or_(l.email.in_(emails[start : start + 1000]), l.external_id.in_(external[start : start + 1000]))
        )
        for lead_id, email, external_id in conn.execute(query):
            found[("email", email)] = (int(lead_id), email, external_id)
            if external_id is not None:
                found[("external_id", external_id)] = (int(lead_id), email, external_id)
    return found


def _store_stages(conn: Connection, stages: list[tuple[StageRow, int]], report: HistoryReport) -> None:
    if not stages:
        return
    c = stage_changes.c
    stored: set[tuple[int, str | None, str, datetime]] = set()
    lead_ids = sorted({lead_id for _, lead_id in stages})
    for start in range(0, len(lead_ids), 1000):
        query = select(c.lead_id, c.from_stage, c.to_stage, c.at).where(
            c.lead_id.in_(lead_ids[start : start + 1000])
        )
        stored.update((int(r.lead_id), r.from_stage, r.to_stage, r.at) for r in conn.execute(query))
    new_rows = []
    for row, lead_id in stages:
        identity = (lead_id, row.from_stage, row.to_stage, row.at)
        if identity in stored:
            report.already_recorded += 1
            continue
        stored.add(identity)
        new_rows.append(
            {"lead_id": lead_id, "from_stage": row.from_stage, "to_stage": row.to_stage, "at": row.at,
             "reason": row.reason, "actor": row.actor, "amount": row.amount, "currency": row.currency}
        )  # fmt: skip
    if new_rows:
        conn.execute(stage_changes.insert(), new_rows)
    report.stage_changes += len(new_rows)


def _store_events(
    conn: Connection,
    then: WhatFollows | None,
    rows: list[tuple[EventRow, int]],
    emails: dict[int, str],
    now: datetime,
    report: HistoryReport,
) -> None:
    if not rows:
        return
    items = [{**row.item, "email": emails[lead_id]} for row, lead_id in rows]
    result = record_events(
        conn, then, items, now, unknown_leads="refuse", key_by_content=True, consent_source="import"
    )
    # Marked in the same transaction, so no tick ever sees them as news (see nurture.engine.entry).
    for start in range(0, len(result.event_ids), 1000):
        chunk = result.event_ids[start : start + 1000]
        conn.execute(update(events).where(events.c.id.in_(chunk)).values(from_history=True))
    report.events += result.stored
    report.already_recorded += result.duplicates
    for error in result.errors:
        report.reject(rows[error.index][0].row, error.field, error.message)


def _move_starts_back(conn: Connection, named: list[tuple[StageRow | EventRow, int]]) -> int:
    """Leads whose history begins before they were imported start at their first recorded date
    (``created_at``), so cohorts count them when they began. The stage the import recorded stays
    as it was: it says where the lead stood when it was imported."""
    earliest: dict[int, datetime] = {}
    for row, lead_id in named:
        if lead_id not in earliest or row.at < earliest[lead_id]:
            earliest[lead_id] = row.at
    moved = 0
    for lead_id, at in sorted(earliest.items()):
        moving = update(leads).where(leads.c.id == lead_id, leads.c.created_at > at).values(created_at=at)
        moved += conn.execute(moving).rowcount
    return moved
