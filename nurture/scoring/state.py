"""Leads as scoring sees them: their score parts, loaded once per batch and written back in bulk."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from nurture.definitions import Condition
from nurture.leads.condition_view import LEAD_COLUMNS, lead_for_conditions
from nurture.scoring.ledger import decayed
from nurture.scoring.rules import lead_fields_read
from nurture.store import bulk

CHUNK = 2_000  # ids per IN list: well inside every driver's parameter limit
# What scoring reads of every lead it touches; the rest of a lead is read only when a condition
# needs it (most MQL rules read the score alone).
_LIGHT_COLUMNS = (
    "id", "email", "email_domain", "country", "timezone", "lifecycle_stage", "owner_rep_id", "score",
    "fit_score", "behavior_score",
)  # fmt: skip
LIGHT_FIELDS = frozenset(("owner" if c == "owner_rep_id" else c) for c in _LIGHT_COLUMNS[1:])


def _select(columns: Sequence[str]) -> tuple[tuple[str, ...], str]:
    """Names as conditions see them (the owner is `lead.owner`) and the SELECT reading them."""
    names = tuple("owner" if c == "owner_rep_id" else c for c in columns[1:])
    return names, f"SELECT {', '.join(columns)}, behavior_scored_at FROM leads"  # noqa: S608 - constants


_LIGHT_NAMES, _LIGHT_SELECT = _select(_LIGHT_COLUMNS)
_COMPLETE_SELECT = _select(LEAD_COLUMNS)[1]
# Columns a view holds as the driver returns them, which a light view can take on as they are.
_PLAIN_COLUMNS = frozenset(LEAD_COLUMNS) - {
    "owner_rep_id", "unsubscribed_at", "attributes", "created_at", "updated_at"
}  # fmt: skip
_SCORE_FIELDS = ("score", "fit_score", "behavior_score")
# Stages from which a lead can become an MQL: recycled leads qualify again when they warm up.
MQL_ELIGIBLE = frozenset({"subscriber", "lead", "recycled"})


@dataclass(slots=True)
class ScoredLead:
    """One lead's score parts; ``behavior`` is the value as of ``scored_at``."""

    id: int
    lead: dict[str, Any]  # as conditions see it (lead_for_conditions), maybe light
    fit: float
    behavior: float
    scored_at: datetime | None
    score: float
    complete: bool = True  # False: `lead` holds only LIGHT_FIELDS

    @property
    def stage(self) -> str:
        return str(self.lead["lifecycle_stage"])

    def as_of(self, now: datetime) -> datetime:
        """The moment a new score is stated at: ``now``, unless the stored one is later already
        (a replica whose clock runs behind must not wind a score back)."""
        return self.scored_at if self.scored_at is not None and self.scored_at > now else now

    def behavior_at(self, now: datetime, half_life: timedelta | None) -> float:
        return decayed(self.behavior, self.scored_at, now, half_life)


def load_scored_leads(
    conn: Connection,
    lead_ids: Iterable[int],
    *,
    lock: bool,
    complete: bool = False,
    also: tuple[str, ...] = (),
) -> dict[int, ScoredLead]:
    """The leads with these ids; with ``lock`` their rows stay locked (PostgreSQL) until commit.

    Rows are locked in id order, the order every writer of several leads uses, so two batches
    sharing leads wait for each other instead of deadlocking. Without ``complete`` only the
    fields in :data:`LIGHT_FIELDS` are read, and the plain ``also`` (:func:`fields_for`; use
    :func:`complete_views` for the rest). Rows are
    read at the driver's level: events and imports arrive by the ten thousand and this is on
    their path.
    """
    return {
        lead_id: ScoredLead(
            lead_id,
            view,
            float(view["fit_score"]),
            float(view["behavior_score"]),
            scored_at,
            float(view["score"]),
            complete,
        )
        for lead_id, view, scored_at in _read(conn, lead_ids, complete=complete, lock=lock, also=also)
    }


def complete_views(conn: Connection, scored: Iterable[ScoredLead]) -> None:
    """Give these leads every field conditions may read (their rows are locked already)."""
    missing = {lead.id: lead for lead in scored if not lead.complete}
    for lead_id, view, _ in _read(conn, missing, complete=True, lock=False):
        lead = missing[lead_id]
        # The score parts computed in this batch are newer than the row's.
        view.update({name: lead.lead[name] for name in _SCORE_FIELDS})
        lead.lead, lead.complete = view, True


def _read(
    conn: Connection, lead_ids: Iterable[int], *, complete: bool, lock: bool, also: tuple[str, ...] = ()
) -> Iterator[tuple[int, dict[str, Any], datetime | None]]:
    ids = sorted(set(lead_ids))
    names: tuple[str, ...] = ()  # a complete row becomes the view as a whole
    if complete:
        select_sql = _COMPLETE_SELECT
    elif also:
        names, select_sql = _select((*_LIGHT_COLUMNS, *also))
    else:
        names, select_sql = _LIGHT_NAMES, _LIGHT_SELECT
    lock_sql = " FOR UPDATE" if lock and conn.dialect.name == "postgresql" else ""
    read_instant = bulk.read_instant
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        query = f"{select_sql} WHERE id IN {bulk.markers(len(chunk))} ORDER BY id{lock_sql}"
        for row in bulk.fetch_positional(conn, query, chunk):
            view = lead_for_conditions(row[:-1]) if complete else dict(zip(names, row[1:-1], strict=True))
            yield int(row[0]), view, read_instant(row[-1])


def fields_for(conditions: Iterable[Condition]) -> tuple[str, ...] | None:
    """The columns to read besides the light ones so that these conditions see every lead field
    they read; None when they need the complete view (a field read as a whole or by a computed
    name, or one the view converts: owner, unsubscribed, attributes and the moments)."""
    needed: set[str] = set()
    for condition in conditions:
        fields = lead_fields_read(condition)
        if fields is None:
            return None
        needed.update(fields)
    needed -= LIGHT_FIELDS
    if not needed <= _PLAIN_COLUMNS:
        return None
    return tuple(sorted(needed))


def light_view_suffices(condition: Condition) -> bool:
    """Whether a condition can be decided on the light view of a lead."""
    fields = lead_fields_read(condition)
    return fields is not None and set(fields) <= LIGHT_FIELDS


@dataclass(frozen=True)
class ScoreUpdate:
    lead_id: int
    fit: float
    behavior: float  # as of `at`
    score: float
    at: datetime


# Positional (bulk.executemany_rows): every name appears once, in the order of the row tuples.
_WRITE_SCORES = (
    "UPDATE leads SET fit_score = :fit, behavior_score = :behavior, behavior_scored_at = :at, score = :score "
    "WHERE id = :id"
)
_TOUCH_SCORES = _WRITE_SCORES.replace(" WHERE", ", updated_at = :updated_at WHERE")


def _instants(conn: Connection) -> Callable[[datetime], Any]:
    """``bulk.instant`` remembering its answers: a batch's lines mostly share one moment."""
    cache: dict[datetime, Any] = {}
    convert = bulk.instants(conn)

    def instant(value: datetime) -> Any:
        stored = cache.get(value)
        if stored is None:
            stored = cache[value] = convert(value)
        return stored

    return instant


def write_scores(conn: Connection, updates: Sequence[ScoreUpdate], *, touch: bool = True) -> None:
    """Store new score parts; ``touch`` marks the leads updated at the same moment."""
    instant = _instants(conn)
    rows: list[tuple[Any, ...]] = []
    for u in updates:
        at = instant(u.at)
        rows.append(
            (u.fit, u.behavior, at, u.score, at, u.lead_id)
            if touch
            else (u.fit, u.behavior, at, u.score, u.lead_id)
        )
    bulk.executemany_rows(conn, _TOUCH_SCORES if touch else _WRITE_SCORES, rows)


# Score parts as written, the leads touched: (fit, behaviour, at, score, at, lead_id), ``at`` in
# storage form (``bulk.instants``).
ScoreRow = tuple[float, float, Any, float, Any, int]


def write_score_rows(conn: Connection, rows: Sequence[ScoreRow]) -> None:
    """:func:`write_scores` (touching the leads) for rows built as plain tuples: the rescore
    writes tens of thousands a batch."""
    bulk.executemany_rows(conn, _TOUCH_SCORES, rows)


@dataclass(frozen=True)
class LedgerLine:
    lead_id: int
    points: float
    kind: str
    rule: str
    reason: str
    at: datetime
    event_id: int | None = None


# Ledger rows as written: (lead_id, points, kind, rule, event_id, reason, at in storage form).
LedgerRow = tuple[int, float, str, str, int | None, str, Any]
_INSERT_LEDGER = (
    "INSERT INTO score_ledger (lead_id, points, kind, rule, event_id, reason, at) "
    "VALUES (:lead_id, :points, :kind, :rule, :event_id, :reason, :at)"
)


def write_ledger(conn: Connection, lines: Sequence[LedgerLine]) -> None:
    """Append ledger lines in one driver call."""
    instant = _instants(conn)
    write_ledger_rows(
        conn, [(x.lead_id, x.points, x.kind, x.rule, x.event_id, x.reason, instant(x.at)) for x in lines]
    )


def write_ledger_rows(conn: Connection, rows: Sequence[LedgerRow]) -> None:
    """Append ledger lines given as plain tuples, ``at`` already in storage form
    (``bulk.instants``): the behaviour scorer writes one per event and builds them as it goes."""
    bulk.executemany_rows(conn, _INSERT_LEDGER, rows)
