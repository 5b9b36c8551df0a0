"""Enrollments in the database: claiming due work, loading what decisions need, recording them.

Due work is found through the partial index on ``due_at`` of active enrollments and claimed in
keyset order, ``FOR UPDATE SKIP LOCKED`` on PostgreSQL so several workers share it; on SQLite the
batch's ``BEGIN IMMEDIATE`` makes the claim exclusive. Claim, decisions and their effects commit
together: a crash loses nothing and repeats nothing.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, func, select

from nurture.delivery.message_ids import new_message_id
from nurture.engine.plan import Finish, Park
from nurture.leads.addresses import suppression_hash
from nurture.leads.condition_view import LEAD_COLUMNS, lead_for_conditions
from nurture.store import bulk
from nurture.store.schema import enrollments


@dataclass(frozen=True)
class DueEnrollment:
    id: int
    lead_id: int
    campaign_key: str
    campaign_version: str
    step_id: str
    step_started_at: datetime
    due_at: datetime


def claim_due(conn: Connection, now: datetime, limit: int) -> list[DueEnrollment]:
    """The next due enrollments, locked for this transaction (others skip them)."""
    query = _CLAIM + (" FOR UPDATE SKIP LOCKED" if conn.dialect.name == "postgresql" else "")
    rows = bulk.fetch_positional(conn, query, (bulk.instant(conn, now), limit))
    return [DueEnrollment(r[0], r[1], r[2], r[3], r[4], _instant(r[5]), _instant(r[6])) for r in rows]


_CLAIM = (
    "SELECT id, lead_id, campaign_key, campaign_version, step_id, step_started_at, due_at FROM enrollments "
    "WHERE status = 'active' AND due_at <= :now ORDER BY due_at, id LIMIT :limit"
)


def _instant(value: Any) -> datetime:
    instant = bulk.read_instant(value)
    assert instant is not None  # the claim only selects rows where it is set
    return instant


def load_leads(conn: Connection, lead_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """Leads by id, as conditions see them."""
    ids = sorted(set(lead_ids))
    if not ids:
        return {}
    query = f"SELECT {', '.join(LEAD_COLUMNS)} FROM leads WHERE id IN {bulk.markers(len(ids))}"  # noqa: S608
    leads = (lead_for_conditions(values) for values in bulk.fetch_positional(conn, query, ids))
    return {lead["id"]: lead for lead in leads}


# A workspace-wide suppression that transactional mail passes: the person left every *marketing*
# email ("leave all" on the unsubscribe page, an imported unsubscribe list), not the confirmations
# and access details they ask for. Hard bounces, complaints, erasure and the operator's own
# suppressions stop every email.
MARKETING_ONLY_SUPPRESSIONS = frozenset({"unsubscribe"})


def stops(reason: str, kind: str) -> bool:
    """Whether a workspace-wide suppression for ``reason`` stops an email of ``kind``
    (``marketing`` or ``transactional``, or nurture's own ``opt_in_confirmation``)."""
    if kind == "opt_in_confirmation":
        # A double opt-in confirmation may reach an address that unsubscribed or was erased: the
        # person asked for it again, and only following its link lifts their earlier choice.
        # Bounced and complained addresses never get it.
        return reason not in ("unsubscribe", "forgotten")
    return kind != "transactional" or reason not in MARKETING_ONLY_SUPPRESSIONS


def suppressed(conn: Connection, emails: Iterable[str]) -> dict[str, str]:
    """Which of these addresses may not be mailed, and why (unsubscribe, bounce, complaint, ...)."""
    by_hash = {suppression_hash(e): e for e in emails}
    if not by_hash:
        return {}
    hashes = list(by_hash)
    query = f"SELECT email_hash, reason FROM suppressions WHERE email_hash IN {bulk.markers(len(hashes))}"  # noqa: S608
    return {by_hash[h]: reason for h, reason in bulk.fetch_positional(conn, query, hashes)}


def recent_sends(conn: Connection, lead_ids: Sequence[int], since: datetime) -> list[tuple[int, datetime]]:
    """Marketing emails queued or sent to these leads since ``since`` (for the frequency cap)."""
    if not lead_ids:
        return []
    ids = sorted(set(lead_ids))
    query = (
        "SELECT lead_id, created_at FROM messages WHERE kind = 'marketing' AND created_at > :since "  # noqa: S608
        "AND status IN ('queued', 'claimed', 'sending', 'sent', 'unknown') "
        f"AND lead_id IN {bulk.markers(len(ids))}"
    )
    rows = bulk.fetch_positional(conn, query, [bulk.instant(conn, since), *ids])
    return [(int(lead_id), _instant(at)) for lead_id, at in rows]


@dataclass(frozen=True)
class QueuedSend:
    lead_id: int
    enrollment_id: int
    campaign_key: str
    step_id: str
    to_address: str
    kind: str = "marketing"  # or transactional (messages.kind)
    variant: str | None = None  # the send step's variant for this lead, when the step has variants
    variant_source: str | None = None  # split (the experiment chose it) | winner


def queue_sends(conn: Connection, sends: Sequence[QueuedSend], now: datetime, message_domain: str) -> None:
    """Put sends in the outbox. A send step already queued for an enrollment is not queued again:
    the unique (enrollment, step) constraint decides, whatever ran before."""
    _write_sends(conn, [(s, None) for s in sends], "queued", now, message_domain)


def keep_unsent(
    conn: Connection, unsent: Sequence[tuple[QueuedSend, str]], now: datetime, message_domain: str
) -> None:
    """Keep send steps that must not go out as ``suppressed`` messages with their reasons: each step
    counts as done for its enrollment, and the reason is shown where the lead's emails are."""
    _write_sends(conn, unsent, "suppressed", now, message_domain)


def _write_sends(
    conn: Connection,
    sends: Sequence[tuple[QueuedSend, str | None]],
    status: str,
    now: datetime,
    message_domain: str,
) -> None:
    at = bulk.instant(conn, now)
    due = at if status == "queued" else None
    bulk.executemany_rows(  # rows as tuples, bound by position: this runs for every send of a tick
        conn,
        "INSERT INTO messages (lead_id, enrollment_id, campaign_key, step_id, kind, to_address, message_id, "
        "status, attempts, last_error, next_attempt_at, created_at, variant, variant_source) VALUES "
        "(:lead_id, :enrollment_id, :campaign_key, :step_id, :kind, :to_address, :message_id, :status, "
        "0, :error, :due, :created_at, :variant, :variant_source) ON CONFLICT (enrollment_id, step_id) "
        "DO NOTHING",
        [
            (
                s.lead_id,
                s.enrollment_id,
                s.campaign_key,
                s.step_id,
                s.kind,
                s.to_address,
                new_message_id(message_domain, now),
                status,
                why,
                due,
                at,
                s.variant,
                s.variant_source,
            )
            for s, why in sends
        ],
    )


def record_outcomes(
    conn: Connection,
    outcomes: Sequence[tuple[DueEnrollment, Park | Finish]],
    now: datetime,
    versions: dict[str, str],
) -> None:
    """Where each enrollment stands now (parked at a step until a time, or ended), and under
    which version of its campaign it was placed there."""
    stored: dict[datetime, Any] = {}  # a batch shares a few instants (now, the next send day)

    def instant(value: datetime) -> Any:
        if value not in stored:
            stored[value] = bulk.instant(conn, value)
        return stored[value]

    at = instant(now)
    parked = [
        (
            o.step_id,
            instant(o.started_at),
            instant(o.due_at),
            versions.get(due.campaign_key, due.campaign_version),
            due.id,
        )
        for due, o in outcomes
        if isinstance(o, Park)
    ]
    ended = [(o.status, o.reason[:500], at, due.id) for due, o in outcomes if isinstance(o, Finish)]
    bulk.executemany_rows(
        conn,
        "UPDATE enrollments SET step_id = :step_id, step_started_at = :started, due_at = :due, "
        "campaign_version = :version WHERE id = :id",
        parked,
    )
    bulk.executemany_rows(
        conn,
        "UPDATE enrollments SET status = :status, exit_reason = :reason, ended_at = :at, due_at = NULL "
        "WHERE id = :id",
        ended,
    )


def end_enrollments_of_lead(
    conn: Connection,
    lead_id: int,
    reason: str,
    now: datetime,
    *,
    only: Collection[str] | None = None,
    sparing: Collection[str] = (),
) -> int:
    """End the active enrollments of a lead at once (unsubscribe, suppression, erasure): of every
    campaign, or ``only`` of these, never of those ``sparing`` names."""
    e = enrollments.c
    query = enrollments.update().where(e.lead_id == lead_id, e.status == "active")
    if only is not None:
        if not only:
            return 0
        query = query.where(e.campaign_key.in_(sorted(only)))
    if sparing:
        query = query.where(e.campaign_key.not_in(sorted(sparing)))
    result = conn.execute(query.values(status="exited", exit_reason=reason, ended_at=now, due_at=None))
    return int(result.rowcount or 0)


def nudge_leads(conn: Connection, lead_ids: Iterable[int], now: datetime) -> None:
    """Make these leads' active enrollments due now, so a wait-until or exit_when sees fresh news."""
    ids = sorted(set(lead_ids))
    if not ids:
        return
    e = enrollments.c
    conn.execute(
        enrollments.update()
        .where(e.lead_id.in_(ids), e.status == "active", e.due_at > now)
        .values(due_at=now)
    )


@dataclass(frozen=True)
class PastEnrollment:
    active: bool
    ended_at: datetime | None


def history(conn: Connection, lead_ids: Sequence[int], campaign_key: str) -> dict[int, list[PastEnrollment]]:
    """Earlier enrollments of these leads in one campaign (for re-entry decisions)."""
    e = enrollments.c
    found: dict[int, list[PastEnrollment]] = {}
    if not lead_ids:
        return found
    query = select(e.lead_id, e.status, e.ended_at).where(
        and_(e.lead_id.in_(sorted(set(lead_ids))), e.campaign_key == campaign_key)
    )
    for lead_id, status, ended_at in conn.execute(query):
        found.setdefault(int(lead_id), []).append(PastEnrollment(status == "active", ended_at))
    return found


def active_count(conn: Connection) -> int:
    return int(
        conn.scalar(select(func.count()).select_from(enrollments).where(enrollments.c.status == "active"))
        or 0
    )
