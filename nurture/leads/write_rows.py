"""Writing checked rows lead by lead: PostgreSQL, and dry runs on either engine.

Each batch is one transaction: the batch's stored leads are read, merged with the file's values
in Python and written back; new leads are inserted with their first stage. Duplicates across
batches are found through :class:`SeenAddresses` (the reading side already drops those within
a batch).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, RootTransaction, func, insert, select

from nurture.leads.addresses import suppression_hash
from nurture.leads.merge import merge, stage_move, write_changes
from nurture.leads.report import BatchHook, ImportReport, duplicate
from nurture.leads.seen import SeenAddresses
from nurture.leads.staged import EMAIL, FIELD_NAMES, ROW, Piece, StagedLead, lead_values
from nurture.leads.validate import LeadValues
from nurture.store import bulk
from nurture.store.feeds import writing
from nurture.store.schema import leads, suppressions

BATCH_SIZE = 10_000  # rows per transaction: large enough to amortise commits and WAL checkpoints


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
        batch_size: int | None = None,
    ) -> None:
        self.conn = conn
        self.now = now
        self.report = report
        self.source = source
        self.dry_run = dry_run
        self.on_batch = on_batch
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
            self._created, self._changed = [], []
        self._write_piece(piece.leads())
        if piece.closes_batch:
            if self.on_batch and (self._created or self._changed):
                self.on_batch(self.conn, self._created, self._changed, self.now)
            self._transaction.commit()
            self._transaction = None

    def _write_piece(self, piece: list[StagedLead]) -> None:
        rows = self._first_occurrences(piece)
        if not rows:
            return
        report = self.report
        emails = [lead.email for lead in rows]
        existing = _existing_leads(self.conn, emails)
        report.suppressed += _count_suppressed(self.conn, emails)

        new_leads: list[LeadValues] = []
        changed: list[dict[str, Any]] = []
        stage_moves: list[dict[str, Any]] = []
        for lead in rows:
            current = existing.get(lead.email)
            if current is None:
                new_leads.append(lead)
                continue
            merged = merge(current._mapping, lead, self.now)
            if merged is None:
                report.unchanged += 1
                continue
            merged["b_id"] = current.id
            changed.append(merged)
            if merged["lifecycle_stage"] != current.lifecycle_stage:
                stage_moves.append(
                    stage_move(
                        current.id, current.lifecycle_stage, merged["lifecycle_stage"], self.now, self.source
                    )
                )
        report.created += len(new_leads)
        report.updated += len(changed)
        if self.dry_run:
            return
        self._created += self._insert(new_leads)
        write_changes(self.conn, changed, stage_moves)
        self._changed += [c["b_id"] for c in changed]

    def _first_occurrences(self, piece: list[StagedLead]) -> list[LeadValues]:
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
        return [lead_values(row) for row in kept]

    def _insert(self, new_leads: list[LeadValues]) -> list[int]:
        """Insert new leads and their first stage."""
        return insert_new_leads(self.conn, new_leads, self.now, self.source)


def insert_new_leads(
    conn: Connection, new_leads: list[LeadValues], now_at: datetime, source: str
) -> list[int]:
    """Insert new leads with their first stage (``source`` is the stage change's reason); their ids."""
    if not new_leads:
        return []
    now = bulk.instant(conn, now_at)
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
        conn,
        copy_first_stage,
        {**params, "first": ids[0], "last": ids[-1], "at": now, "reason": source},
    )
    return ids


def existing_leads(conn: Connection, emails: list[str]) -> dict[str, Any]:
    """The stored rows (id, email, attributes and the standard fields) of those addresses that
    are leads already, by address."""
    return _existing_leads(conn, emails)


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
    writing(conn, "leads")  # the engine follows leads by id: see nurture.store.feeds
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
