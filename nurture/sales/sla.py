"""SLA timers: handoffs not accepted in time are reassigned to the next rep or escalated; then
reminders before deadlines (:mod:`nurture.sales.reminders`) and the daily digests
(:mod:`nurture.sales.digest`).

Run by the daemon's job and by ``nurture tick``. Breached handoffs are found through the partial
index on pending deadlines and handled in batches, each batch one transaction. The leads involved
are locked first (in id order, skipping leads another worker holds), the same order scoring and
the sales actions lock in, so a breach never deadlocks with an event or a rep's click; a lead that
is skipped is simply handled on the next run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, select
from sqlalchemy.engine import Engine

from nurture.definitions import SalesTeam
from nurture.durations import format_duration
from nurture.sales.context import SalesContext
from nurture.sales.digest import send_digests
from nurture.sales.handoffs import HANDOFF_COLUMNS, Handoff, Offer, close_handoff, hand_over, reps_in_chain
from nurture.sales.notifications import local_time
from nurture.sales.reminders import send_reminders
from nurture.sales.routing import TeamStanding, load_standing, lock_team, save_standing
from nurture.store.schema import handoffs, leads
from nurture.zones import zone

BATCH = 200
SLA_ACTOR = "sla"


@dataclass
class SlaReport:
    """What one run of the SLA timers did."""

    now: datetime
    reassigned: int = 0
    escalated: int = 0
    reminded: int = 0
    digests: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def breaches(self) -> int:
        return self.reassigned + self.escalated

    def lines(self) -> list[str]:
        out = []
        if self.reassigned:
            out.append(f"  sla       reassigned after breach: {self.reassigned}")
        if self.escalated:
            out.append(f"  sla       escalated to the manager: {self.escalated}")
        if self.reminded:
            out.append(f"  sla       reminded before the deadline: {self.reminded}")
        if self.digests:
            out.append(f"  sla       daily digests: {self.digests}")
        out.extend(f"  problem   {p}" for p in self.problems[:50])
        return out


def enforce_sla(conn_or_engine: Connection | Engine, context: SalesContext, now: datetime) -> SlaReport:
    """Handle every handoff whose acceptance deadline passed by ``now``.

    Given an engine, each batch commits on its own; given a connection, everything happens in the
    caller's transaction.
    """
    report = SlaReport(now)
    if context.sla is None:
        return report
    while True:
        if isinstance(conn_or_engine, Engine):
            with conn_or_engine.begin() as conn:
                handled = _breach_batch(conn, context, now, report)
        else:
            handled = _breach_batch(conn_or_engine, context, now, report)
        if handled < BATCH:
            break
    # After the breaches, so a lead moved on is reminded of (and listed) with its new holder.
    if isinstance(conn_or_engine, Engine):
        with conn_or_engine.begin() as conn:
            _chase(conn, context, now, report)
    else:
        _chase(conn_or_engine, context, now, report)
    return report


def _chase(conn: Connection, context: SalesContext, now: datetime, report: SlaReport) -> None:
    """Reminders before deadlines and the daily digests."""
    report.reminded += send_reminders(conn, context, now)
    digests = send_digests(conn, context, now)
    report.digests += digests.emails


def _breach_batch(conn: Connection, context: SalesContext, now: datetime, report: SlaReport) -> int:
    h = handoffs.c
    due = conn.execute(
        select(h.id, h.lead_id)
        # The manager's handoffs are the end of the line: reminded and listed, never moved on.
        .where(h.status == "pending", h.accept_due_at <= now, h.rep_id.is_not(None))
        .order_by(h.accept_due_at, h.id)
        .limit(BATCH)
    ).all()
    if not due:
        return 0
    lead_query = (
        select(leads.c.id).where(leads.c.id.in_(sorted({r.lead_id for r in due}))).order_by(leads.c.id)
    )
    if conn.dialect.name == "postgresql":
        lead_query = lead_query.with_for_update(skip_locked=True)
    locked = [int(i) for i in conn.scalars(lead_query)]
    query = select(*HANDOFF_COLUMNS).where(
        h.id.in_([r.id for r in due]), h.lead_id.in_(locked), h.status == "pending", h.accept_due_at <= now
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    breached = [Handoff.from_row(r) for r in conn.execute(query.order_by(h.accept_due_at, h.id))]
    standings: dict[str, TeamStanding] = {}
    for handoff in breached:
        team = context.program.sales_teams.get(handoff.team_key)
        if team is None:
            # The team left the program: stop the clock rather than chase nobody on every run.
            conn.execute(handoffs.update().where(h.id == handoff.id).values(accept_due_at=None))
            report.problems.append(
                f"handoff {handoff.id}: team {handoff.team_key!r} is no longer in the program"
            )
            continue
        if team.key not in standings:
            lock_team(conn, team.key)
            standings[team.key] = load_standing(conn, team)
        _breach(conn, context, standings[team.key], handoff, now, report)
    for standing in standings.values():
        save_standing(conn, standing, now)
    # Fewer than a batch handled while more were due means others hold them: stop for now.
    return len(due) if len(breached) == len(due) else 0


def _breach(
    conn: Connection,
    context: SalesContext,
    standing: TeamStanding,
    handoff: Handoff,
    now: datetime,
    report: SlaReport,
) -> None:
    sla = context.sla
    assert sla is not None
    team = standing.team
    holder = _name(team, handoff.rep_id)
    deadline = handoff.accept_due_at
    assert deadline is not None
    why = f"not accepted within {format_duration(sla.accept_within)} (due {deadline.isoformat()})"
    standing.release(handoff.rep_id)
    country = conn.scalar(select(leads.c.country).where(leads.c.id == handoff.lead_id))
    if sla.on_breach == "reassign" and handoff.reassignments < sla.max_reassignments:
        rep = standing.take(country, exclude=reps_in_chain(conn, handoff))
        if rep is not None:
            close_handoff(
                conn,
                handoff.id,
                "reassigned",
                now=now,
                actor=SLA_ACTOR,
                reason=f"{why}; reassigned to {rep.name}",
            )
            reason = f"{holder} did not accept it by {_local(deadline, rep.working_hours.timezone)}"
            hand_over(
                conn, context, standing, Offer(handoff.lead_id, "reassigned", reason, handoff), rep, now
            )
            report.reassigned += 1
            return
        why += "; no other rep could take it"
    elif sla.on_breach == "reassign":
        why += f"; already reassigned {handoff.reassignments} times"
    close_handoff(
        conn,
        handoff.id,
        "escalated",
        now=now,
        actor=SLA_ACTOR,
        reason=f"{why}; escalated to {team.manager.name}",
    )
    reason = f"{holder} did not accept it in time ({why})"
    hand_over(conn, context, standing, Offer(handoff.lead_id, "escalated", reason, handoff), None, now)
    report.escalated += 1


def _name(team: SalesTeam, rep_id: str | None) -> str:
    if rep_id is None:
        return team.manager.name
    try:
        return team.rep(rep_id).name
    except KeyError:
        return rep_id


def _local(instant: datetime, timezone: str) -> str:
    return local_time(instant, zone(timezone))
