"""The database side of the report: read the recorded history once, as plain rows.

Each table is read in one pass ordered so rows arrive grouped per lead; nothing is computed here.
Changes, handoffs, events and sends after ``now`` are left out, so a report pinned to a moment
(``NURTURE_NOW``) sees the history as it stood then.
"""

from __future__ import annotations

import itertools
import sys
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping
from datetime import date, datetime
from operator import attrgetter, itemgetter
from typing import Any

from sqlalchemy import Connection, and_, func, select

from nurture.reports.balance import Moves
from nurture.reports.campaigns import StepFigures
from nurture.reports.journeys import Journey, journey
from nurture.reports.rows import Enrollment, Handoff, History, Lead, StageChange, Touch
from nurture.store import bulk
from nurture.store.schema import CAMPAIGN_MAIL, events, messages


def read_history(conn: Connection, now: datetime) -> History:
    """Leads with their journeys, handoffs and enrollments recorded up to ``now``. The stage changes
    are read lead by lead into the journeys and let go (:func:`stage_moves` counts them for the
    balance, :func:`read_changes` reads them for experiments); the touches are read lead by lead
    while the report is made (:func:`touches_by_lead`): neither is ever held all at once."""
    leads = _leads(conn, now)
    return History(
        leads=leads,
        changes={},
        handoffs=_handoffs(conn, now),
        enrollments=_enrollments(conn, now),
        touches={},
        touch_stream=touches_by_lead(conn, now),
        journeys=_journeys(conn, leads, now),
    )


def read_stages(conn: Connection, now: datetime) -> History:
    """Only leads with their journeys, and handoffs (enough for stuck leads, with the owner each
    had at ``now``)."""
    leads = _leads(conn, now)
    return History(
        leads=leads,
        changes={},
        handoffs=_handoffs(conn, now),
        enrollments=[],
        touches={},
        journeys=_journeys(conn, leads, now),
    )


def read_changes(conn: Connection, now: datetime) -> dict[int, list[StageChange]]:
    """Every lead's stage changes up to ``now``, in time order."""
    found: dict[int, list[StageChange]] = defaultdict(list)
    for change in _changes(conn, now):
        found[change.lead_id].append(change)
    return dict(found)


def _journeys(conn: Connection, leads: Mapping[int, Lead], now: datetime) -> list[Journey]:
    """Each lead's journey (``leads`` in ascending id order), built as its stage changes arrive."""
    found = []
    changes = itertools.groupby(_passing_changes(conn, now), key=itemgetter(0))  # by lead_id
    pending = next(changes, None)
    for lead_id, lead in leads.items():
        while pending is not None and pending[0] < lead_id:  # a lead created after ``now``
            pending = next(changes, None)
        if pending is not None and pending[0] == lead_id:
            found.append(journey(lead, pending[1]))
            pending = next(changes, None)
        else:
            found.append(journey(lead, ()))
    return found


# The start (UTC) of the week (Monday) or month a stage change fell in, as the database computes it.
_PERIOD = {
    ("sqlite", "week"): "date(at, 'weekday 0', '-6 days')",
    ("sqlite", "month"): "date(at, 'start of month')",
    ("postgresql", "week"): "CAST(date_trunc('week', at AT TIME ZONE 'UTC') AS DATE)",
    ("postgresql", "month"): "CAST(date_trunc('month', at AT TIME ZONE 'UTC') AS DATE)",
}


def stage_moves(conn: Connection, now: datetime, until: datetime, every: str) -> Moves:
    """:func:`nurture.reports.balance.stage_moves` of every stage change up to ``now``, counted by
    the database in one pass (a million leads move some ten million times)."""
    inflow: Counter[tuple[date, str]] = Counter()
    outflow: Counter[tuple[date, str]] = Counter()
    period = _PERIOD[(conn.dialect.name, every)]
    for start, old, new, count in _rows(
        conn,
        f"SELECT {period} AS period, from_stage, to_stage, COUNT(*) FROM stage_changes "  # noqa: S608 - fixed texts
        "WHERE at <= :now AND at < :until GROUP BY period, from_stage, to_stage",
        now,
        until=until,
    ):
        day = date.fromisoformat(start) if isinstance(start, str) else start
        inflow[(day, new)] += count
        if old:
            outflow[(day, old)] += count
    return inflow, outflow


_BATCH = 10_000
_cursors = itertools.count()


def _rows(conn: Connection, sql: str, now: datetime, **instants: datetime) -> Iterator[Any]:
    """The driver's own rows of ``sql`` (``:now`` and any other ``instants`` bound), fetched in
    batches: a million leads are read here, and SQLAlchemy's per-row result processing would cost
    more than the database's work. On PostgreSQL the cursor is the server's, so the rows never
    pile up in this process."""
    params = {name: bulk.instant(conn, at) for name, at in {"now": now, **instants}.items()}
    if conn.dialect.name == "postgresql":
        cursor = conn.connection.cursor(name=f"nurture_report_{next(_cursors)}")
        for name in params:
            sql = sql.replace(f":{name}", f"%({name})s")
    else:
        cursor = conn.connection.cursor()
    try:
        cursor.execute(sql, params)
        while batch := cursor.fetchmany(_BATCH):
            yield from batch
    finally:
        cursor.close()


# One shared copy of each text: the driver makes new strings for every row, while stages,
# campaigns, steps, reps and reasons repeat across a million rows, so each is held once.
_intern = sys.intern


def _leads(conn: Connection, now: datetime) -> dict[int, Lead]:
    found: dict[int, Lead] = {}
    instant, intern, read_json = bulk.instant_reader(conn), _intern, bulk.read_json
    for id_, email, created, stage, owner, country, industry, attributes, handed in _rows(
        conn,
        "SELECT id, email, created_at, lifecycle_stage, owner_rep_id, country, industry, attributes, "
        "EXISTS (SELECT 1 FROM handoffs h WHERE h.lead_id = leads.id) FROM leads WHERE created_at <= :now "
        "ORDER BY id",
        now,
    ):
        found[id_] = Lead(
            id_, email, instant(created), intern(stage), owner and intern(owner), country and intern(country),
            industry and intern(industry), read_json(attributes) or {}, bool(handed),
        )  # fmt: skip
    return found


_CHANGES = (
    "SELECT lead_id, from_stage, to_stage, at, reason, amount, currency FROM stage_changes "
    "WHERE at <= :now ORDER BY lead_id, at, id"
)


def _changes(conn: Connection, now: datetime) -> Iterator[StageChange]:
    """The stage changes up to ``now``, lead by lead in time order, to be held."""
    instant, intern = bulk.instant_reader(conn), _intern
    for lead_id, old, new, at, reason, amount, currency in _rows(conn, _CHANGES, now):
        yield StageChange(
            lead_id, old and intern(old), intern(new), instant(at), intern(reason), amount,
            currency and intern(currency),
        )  # fmt: skip


def _passing_changes(conn: Connection, now: datetime) -> Iterator[StageChange]:
    """:func:`_changes` for journeys, which keep only the stages' names and deals' currencies
    (interned) of the ten million moves of a million leads: the rest of each is let go, so it is
    taken as read, and each is made as a plain tuple of the named type."""
    instant, intern, make = bulk.instant_reader(conn), _intern, tuple.__new__
    for lead_id, old, new, at, reason, amount, currency in _rows(conn, _CHANGES, now):
        old, kept = old and intern(old), currency and intern(currency)  # currency: held with a deal
        yield make(StageChange, (lead_id, old, intern(new), instant(at), reason, amount, kept))


def _handoffs(conn: Connection, now: datetime) -> list[Handoff]:
    found = []
    instant, intern = bulk.instant_reader(conn), _intern
    for id_, lead_id, rep_id, status, assigned, due, responded_at, reason, team_key in _rows(
        conn,
        "SELECT id, lead_id, rep_id, status, assigned_at, accept_due_at, responded_at, reason, team_key "
        "FROM handoffs WHERE assigned_at <= :now ORDER BY id",
        now,
    ):
        responded = None if responded_at is None else instant(responded_at)
        if responded is not None and responded > now:
            responded, status = None, "pending"  # answered after the report's moment
        found.append(
            Handoff(
                id_, lead_id, rep_id and intern(rep_id), intern(status), instant(assigned),
                None if due is None else instant(due), responded, reason and intern(reason), intern(team_key),
            )
        )  # fmt: skip
    return found


def _enrollments(conn: Connection, now: datetime) -> list[Enrollment]:
    instant, intern = bulk.instant_reader(conn), _intern
    return [
        Enrollment(
            lead_id, intern(campaign), intern(status), instant(entered), exit_reason and intern(exit_reason)
        )
        for lead_id, campaign, status, entered, exit_reason in _rows(
            conn,
            "SELECT lead_id, campaign_key, status, entered_at, exit_reason FROM enrollments "
            "WHERE entered_at <= :now",
            now,
        )
    ]


# Touches count only up to a conversion (mql or a later stage), so only those of leads that
# qualified, up to their latest move to such a stage, are read: most leads never convert, and
# engagement after the last conversion would never be credited.
_SENT = (
    "SELECT m.lead_id, m.sent_at, m.campaign_key, m.step_id FROM messages m JOIN "
    "(SELECT lead_id, MAX(at) AS last_at FROM stage_changes "
    "WHERE to_stage IN ('mql', 'sal', 'sql', 'opportunity', 'customer') AND at <= :now GROUP BY lead_id) c "
    "ON c.lead_id = m.lead_id WHERE m.kind = 'marketing' AND m.sent_at IS NOT NULL AND m.sent_at <= c.last_at"
)
_ENGAGED = (
    "SELECT e.lead_id, e.occurred_at, e.type, e.campaign_key, e.step_id FROM events e JOIN "
    "(SELECT lead_id, MAX(at) AS last_at FROM stage_changes "
    "WHERE to_stage IN ('mql', 'sal', 'sql', 'opportunity', 'customer') AND at <= :now GROUP BY lead_id) c "
    "ON c.lead_id = e.lead_id WHERE e.machine_reason IS NULL AND e.occurred_at <= c.last_at"
)


# SQLite: each lead's latest conversion looked up as the leads are walked in id order (through
# ix_stage_changes_lead_at), then its touches read in order from their indexes; the grouped
# subquery above would come out unordered, so SQLite would sort every touch it read (some ten
# million for a million leads) and compute the subquery once for each read. PostgreSQL sorts and
# joins the grouped form in its own processes, and plans that one better.
_SQLITE_SENT = (
    "SELECT m.lead_id, m.sent_at, m.campaign_key, m.step_id FROM leads l CROSS JOIN messages m "
    "ON m.lead_id = l.id WHERE m.kind = 'marketing' AND m.sent_at IS NOT NULL AND m.sent_at <= "
    "(SELECT MAX(s.at) FROM stage_changes s WHERE s.lead_id = l.id AND "
    "s.to_stage IN ('mql', 'sal', 'sql', 'opportunity', 'customer') AND s.at <= :now) "
    "ORDER BY l.id, m.sent_at, m.id"
)
_SQLITE_ENGAGED = (
    "SELECT e.lead_id, e.occurred_at, e.type, e.campaign_key, e.step_id FROM leads l CROSS JOIN events e "
    "ON e.lead_id = l.id WHERE e.machine_reason IS NULL AND e.occurred_at <= "
    "(SELECT MAX(s.at) FROM stage_changes s WHERE s.lead_id = l.id AND "
    "s.to_stage IN ('mql', 'sal', 'sql', 'opportunity', 'customer') AND s.at <= :now) "
    "ORDER BY l.id, e.occurred_at, e.id"
)


def touches_by_lead(conn: Connection, now: datetime) -> Iterator[tuple[int, list[Touch]]]:
    """Marketing emails sent and people's engagement (machine opens and clicks left out) of the
    leads that qualified, lead by lead in id order, each lead's in time order (at the same instant
    a send before an engagement): touches only count up to a conversion, and most leads never
    convert. Two ordered reads merged here, so the database never sorts them together."""
    # A lead's touches are let go once counted, so their texts are not interned, and each is made
    # as a plain tuple of the named type: there are some ten for each lead.
    instant, make = bulk.instant_reader(conn), tuple.__new__
    if conn.dialect.name == "sqlite":
        sent_sql, engaged_sql = _SQLITE_SENT, _SQLITE_ENGAGED
    else:
        sent_sql = _SENT + " ORDER BY m.lead_id, m.sent_at, m.id"
        engaged_sql = _ENGAGED + " ORDER BY e.lead_id, e.occurred_at, e.id"
    sent = (
        make(Touch, (lead_id, instant(at), "sent", campaign, step))
        for lead_id, at, campaign, step in _rows(conn, sent_sql, now)
    )
    engaged = (
        make(Touch, (lead_id, instant(at), type_, campaign, step))
        for lead_id, at, type_, campaign, step in _rows(conn, engaged_sql, now)
    )
    lead_of = itemgetter(0)  # a touch's lead_id, its first field
    sends, engagements = itertools.groupby(sent, key=lead_of), itertools.groupby(engaged, key=lead_of)
    next_send, next_engagement = next(sends, None), next(engagements, None)
    while next_send is not None or next_engagement is not None:
        lead_id = min(group[0] for group in (next_send, next_engagement) if group is not None)
        touches: list[Touch] = []
        if next_send is not None and next_send[0] == lead_id:
            touches.extend(next_send[1])
            next_send = next(sends, None)
        if next_engagement is not None and next_engagement[0] == lead_id:
            touches.extend(next_engagement[1])
            next_engagement = next(engagements, None)
        touches.sort(key=_touch_at)  # stable: sends stay before engagements of the same instant
        yield lead_id, touches


_touch_at = attrgetter("at")


def _window(column: Any, since: datetime | None, until: datetime | None) -> Any:
    clauses = []
    if since is not None:
        clauses.append(column >= since)
    if until is not None:
        clauses.append(column < until)
    return and_(True, *clauses)


def step_counts(conn: Connection, since: datetime | None, until: datetime | None) -> list[StepFigures]:
    """Sends by status and engagement by type per campaign step, for messages created in the period
    (engagement: occurred in it); counted in the database, since they are plain sums."""
    steps: dict[tuple[str, str], StepFigures] = {}
    m = messages.c
    for key, step_id, kind, status, count in conn.execute(
        select(m.campaign_key, m.step_id, m.kind, m.status, func.count())
        .where(m.kind.in_(CAMPAIGN_MAIL), m.campaign_key.is_not(None), _window(m.created_at, since, until))
        .group_by(m.campaign_key, m.step_id, m.kind, m.status)
    ):
        figures = steps.setdefault((key, step_id), StepFigures(key, step_id))
        if kind == "transactional":
            figures.kind = kind
        if status in ("sent", "bounced", "failed"):
            setattr(figures, status, getattr(figures, status) + count)
    ev = events.c
    counts = (func.count(func.distinct(ev.message_id)), func.count())
    # Grouped by the machine reason itself (not whether there is one), so the rows come in the
    # order of ix_events_step_figures and the database sorts nothing but each group's messages.
    for key, step_id, type_, machine, distinct_messages, total in conn.execute(
        select(ev.campaign_key, ev.step_id, ev.type, ev.machine_reason, *counts)
        .where(ev.campaign_key.is_not(None), ev.step_id.is_not(None), _window(ev.occurred_at, since, until))
        .group_by(ev.campaign_key, ev.step_id, ev.type, ev.machine_reason)
    ):
        figures = steps.setdefault((key, step_id), StepFigures(key, step_id))
        is_machine = machine is not None
        if type_ == "email_open":
            figures.machine_opens += total if is_machine else 0
            figures.opened += 0 if is_machine else distinct_messages
        elif type_ == "email_click":
            figures.machine_clicks += total if is_machine else 0
            figures.clicked += 0 if is_machine else distinct_messages
        elif type_ == "unsubscribe":
            figures.unsubscribed += total
    return list(steps.values())
