"""Writing checked rows lead by lead: PostgreSQL, and dry runs on either engine.

Each batch is one transaction: the batch's stored leads are read, merged with the file's values
in Python and written back; new leads are inserted with their first stage. Duplicates across
batches are found through :class:`SeenAddresses` (the reading side already drops those within
a batch).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, RootTransaction, func, insert, select

from nurture.leads.addresses import suppression_hash
from nurture.leads.consent import record_consents_once
from nurture.leads.merge import merge, stage_move, write_changes
from nurture.leads.origins import Origin, apply_origins
from nurture.leads.report import BatchHook, ImportReport, RowsHook, duplicate
from nurture.leads.seen import SeenAddresses
from nurture.leads.staged import EMAIL, FIELD_NAMES, ROW, Piece, StagedLead, lead_values
from nurture.leads.validate import LeadValues
from nurture.store import bulk
from nurture.store.feeds import writing
from nurture.store.schema import leads, suppressions

BATCH_SIZE = 10_000  # rows per transaction: large enough to amortise commits and WAL checkpoints
_CHUNK = 2_000  # addresses per IN list: well inside every driver's parameter limit
_EXISTING_NAMES = ("id", "email", "attributes", *FIELD_NAMES)
_EXISTING = f"SELECT {', '.join(_EXISTING_NAMES)} FROM leads"  # noqa: S608 - column names only
CREATED, UPDATED, UNCHANGED = "created", "updated", "unchanged"


@dataclass
class Written:
    """What :func:`write_leads` did, row by row and in all."""

    outcomes: list[str]  # created | updated | unchanged, in row order
    lead_ids: list[int | None]  # in row order; None for a new lead of a dry run
    created: list[int] = field(default_factory=list)
    changed: list[int] = field(default_factory=list)
    suppressed: int = 0  # rows whose address is suppressed (stored all the same, never mailed)
    # (position in the rows, column, reason) of origin values left out (nurture.leads.origins)
    left_out: list[tuple[int, str, str]] = field(default_factory=list)


def write_leads(
    conn: Connection,
    rows: Sequence[LeadValues],
    now: datetime,
    source: str,
    *,
    actor: str = "import",
    dry_run: bool = False,
) -> Written:
    """Create or update one lead per row (each address once), in ``conn``'s transaction: stored
    leads take the row's values (blanks erase nothing), new ones start at their stage. What
    follows (scoring, the MQL rule) is the caller's to start, with the ids returned."""
    emails = [lead.email for lead in rows]
    existing = _existing_leads(conn, emails)
    written = Written(outcomes=[], lead_ids=[], suppressed=_count_suppressed(conn, emails))
    new_leads: list[LeadValues] = []
    new_positions: list[int] = []
    changed: list[dict[str, Any]] = []
    stage_moves: list[dict[str, Any]] = []
    for position, lead in enumerate(rows):
        current = existing.get(lead.email)
        if current is None:
            new_leads.append(lead)
            new_positions.append(position)
            written.outcomes.append(CREATED)
            written.lead_ids.append(None)
            continue
        lead_id = int(current["id"])
        written.lead_ids.append(lead_id)
        merged = merge(current, lead, now)
        if merged is None:
            written.outcomes.append(UNCHANGED)
            continue
        written.outcomes.append(UPDATED)
        merged["b_id"] = lead_id
        changed.append(merged)
        if merged["lifecycle_stage"] != current["lifecycle_stage"]:
            stage_moves.append(
                stage_move(lead_id, current["lifecycle_stage"], merged["lifecycle_stage"], now, source, actor)
            )
    if dry_run:
        return written
    written.created = _insert(conn, new_leads, now, source, actor)
    for position, lead_id in zip(new_positions, written.created, strict=True):
        written.lead_ids[position] = lead_id
    write_changes(conn, changed, stage_moves)
    written.changed = [c["b_id"] for c in changed]
    origins = [
        Origin(position, lead_id, lead.external_id, lead.created_at)
        for position, (lead, lead_id) in enumerate(zip(rows, written.lead_ids, strict=True))
        if lead_id is not None and (lead.external_id is not None or lead.created_at is not None)
    ]
    if origins:
        written.left_out = apply_origins(conn, origins, set(written.created), now)
    return written


def _insert(
    conn: Connection, new_leads: list[LeadValues], at: datetime, source: str, actor: str
) -> list[int]:
    """Insert new leads and their first stage; their ids, in row order."""
    if not new_leads:
        return []
    now = bulk.instant(conn, at)
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
        f"SELECT id, NULL, lifecycle_stage, :at, :reason, :actor FROM leads WHERE {which} ORDER BY id"
    )  # only placeholders are formatted into the statement
    bulk.execute(
        conn,
        copy_first_stage,
        {**params, "first": ids[0], "last": ids[-1], "at": now, "reason": source, "actor": actor},
    )
    return ids


class RowWriter:
    def __init__(
        self,
        conn: Connection,
        now: datetime,
        report: ImportReport,
        source: str,
        *,
        dry_run: bool = False,
        on_batch: BatchHook | None = None,
        on_rows: RowsHook | None = None,
        batch_size: int | None = None,
    ) -> None:
        self.conn = conn
        self.now = now
        self.report = report
        self.source = source
        self.dry_run = dry_run
        self.on_batch = on_batch
        self.on_rows = on_rows
        self._named: list[int] = []
        self.batch_size = self.piece_size = batch_size or BATCH_SIZE
        self._seen: SeenAddresses | None = None
        self._transaction: RootTransaction | None = None
        self._created: list[int] = []
        self._changed: list[int] = []

    def open(self) -> None:
        self._seen = SeenAddresses(self.conn)

    def close(self) -> None:
        if self._transaction is not None:
            self._transaction.rollback()
            self._transaction = None
        if self._seen is not None:
            self._seen.drop()

    def write(self, piece: Piece) -> None:
        if self._transaction is None:
            self._transaction = self.conn.begin()
            self._created, self._changed, self._named = [], [], []
        self._write_piece(piece.leads())
        if piece.closes_batch:
            if self.on_batch and (self._created or self._changed):
                self.on_batch(self.conn, self._created, self._changed, self.now)
            if self.on_rows and self._named:
                self.on_rows(self.conn, self._named, self.now)
            self._transaction.commit()
            self._transaction = None

    def _write_piece(self, piece: list[StagedLead]) -> None:
        kept = self._first_occurrences(piece)
        if not kept:
            return
        rows = [lead_values(row) for row in kept]
        rows_numbers = [row[ROW] for row in kept]
        written = write_leads(self.conn, rows, self.now, self.source, dry_run=self.dry_run)
        report = self.report
        for position, column, reason in written.left_out:
            report.skip_field(rows_numbers[position], column, reason)
        report.suppressed += written.suppressed
        report.created += written.outcomes.count(CREATED)
        report.updated += written.outcomes.count(UPDATED)
        report.unchanged += written.outcomes.count(UNCHANGED)
        self._created += written.created
        self._changed += written.changed
        self._named += [lead_id for lead_id in written.lead_ids if lead_id is not None]
        if not self.dry_run:
            given = [
                (lead_id, consent)
                for lead, lead_id in zip(rows, written.lead_ids, strict=True)
                if lead_id is not None
                for consent in lead.consents
            ]
            record_consents_once(self.conn, given)

    def _first_occurrences(self, piece: list[StagedLead]) -> list[StagedLead]:
        """The piece's leads whose address no earlier batch had; later ones are reported."""
        assert self._seen is not None
        earlier = self._seen.earlier_rows([row[EMAIL] for row in piece])
        kept: list[StagedLead] = []
        for row in piece:
            seen_at = earlier.get(row[EMAIL])
            if seen_at is not None:
                self.report.reject(row[ROW], duplicate(row[EMAIL], seen_at))
                continue
            kept.append(row)
        self._seen.add([(row[EMAIL], row[ROW]) for row in kept])
        return kept


def _existing_leads(conn: Connection, emails: list[str]) -> dict[str, dict[str, Any]]:
    """The stored values of those addresses that are leads already, by address: ``id``, the
    standard fields and ``attributes`` (a dict). Read at the driver's level, a chunk of addresses
    per query: a batch of known leads is read on every update, and SQLAlchemy's row and JSON
    processing cost more than the query."""
    found: dict[str, dict[str, Any]] = {}
    read_json = bulk.read_json
    for start in range(0, len(emails), _CHUNK):
        chunk = emails[start : start + _CHUNK]
        query = f"{_EXISTING} WHERE email IN {bulk.markers(len(chunk))}"
        for row in bulk.fetch_positional(conn, query, chunk):
            current = dict(zip(_EXISTING_NAMES, row, strict=True))
            current["attributes"] = read_json(current["attributes"]) or {}
            found[row[1]] = current
    return found


def _count_suppressed(conn: Connection, emails: list[str]) -> int:
    if bulk.execute(conn, "SELECT 1 FROM suppressions LIMIT 1").first() is None:
        return 0
    hashes = [suppression_hash(e) for e in emails]
    query = select(func.count()).select_from(suppressions).where(suppressions.c.email_hash.in_(hashes))
    return int(conn.scalar(query) or 0)


def _insert_leads(conn: Connection, rows: list[dict[str, Any]]) -> list[int]:
    """Insert rows (values in storage form but for ``attributes``); their ids, in row order."""
    if conn.dialect.name == "sqlite":
        # Bound by position: a third cheaper per row than by name.
        positional = [
            (
                row["email"], row["email_domain"], *[row[name] for name in FIELD_NAMES],
                bulk.json_value(conn, row["attributes"]), row["now"], row["now"],
            )
            for row in rows
        ]  # fmt: skip
        bulk.executemany_rows(conn, _INSERT_LEAD, positional)
        # Within one BEGIN IMMEDIATE transaction nobody else writes, and SQLite gives each new
        # row max(rowid) + 1: the batch's ids are the consecutive run ending at the last one.
        last = int(bulk.execute(conn, "SELECT last_insert_rowid()").scalar_one())
        return list(range(last - len(rows) + 1, last + 1))
    writing(conn, "leads")  # the engine follows leads by id: see nurture.store.feeds
    statement = insert(leads).returning(leads.c.id, sort_by_parameter_order=True)
    values = [
        {**{k: v for k, v in row.items() if k != "now"}, "created_at": row["now"], "updated_at": row["now"]}
        for row in rows
    ]
    return [int(lead_id) for (lead_id,) in conn.execute(statement, values)]


# Positional (bulk.executemany_rows): the names in the order of _insert_leads' tuples.
_INSERT_LEAD = (
    f"INSERT INTO leads (email, email_domain, {', '.join(FIELD_NAMES)}, attributes, created_at, updated_at) "  # noqa: S608 - column names only
    f"VALUES (:email, :email_domain, {', '.join(':' + f for f in FIELD_NAMES)}, :attributes, :created_at, "
    ":updated_at)"
)
