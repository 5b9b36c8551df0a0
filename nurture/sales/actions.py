"""What sales does with a lead: accept, reject, convert, disqualify, reassign.

Each action runs in the caller's transaction and either happens completely (stage move with actor
and reason, handoff answered, score and campaigns as the SLA says) or not at all, with an error
that says why. The stage move is told to what follows (:class:`nurture.facts.WhatFollows`),
which ends the campaigns the new stage exits. The lead's row is locked first, as everywhere a lead
and its handoffs change.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from nurture.definitions import Program, Rep, SalesTeam
from nurture.engine.manual import admit
from nurture.errors import NurtureError
from nurture.facts import WhatFollows
from nurture.guards.audit import record_audit
from nurture.leads.changes import record_deal
from nurture.sales.context import SalesContext
from nurture.sales.handoffs import Handoff, Offer, close_handoff, current_handoff, get_handoff, hand_over
from nurture.sales.routing import OPEN_STATUSES, TeamStanding
from nurture.sales.stages import WATERFALL, move_stage, waterfall_rank
from nurture.scoring.ledger import decayed
from nurture.scoring.state import LedgerLine, write_ledger
from nurture.store.schema import leads

CONVERSION_STAGES = ("sql", "opportunity", "customer")
DEAL_STAGES = ("opportunity", "customer")


class SalesActionError(NurtureError):
    """A sales action that cannot be done for this lead as it stands."""


class HandoffClosed(SalesActionError):
    """The handoff is no longer pending (accepted, rejected, reassigned or escalated already)."""


class InvalidTransition(SalesActionError):
    """The lead's stage does not allow this move (e.g. converting a disqualified lead)."""


def accept(
    conn: Connection,
    lifecycle: WhatFollows,
    lead_id: int,
    *,
    actor: str,
    now: datetime,
    handoff_id: int | None = None,
    reason: str | None = None,
) -> None:
    """The rep takes the lead: the pending handoff is accepted and the lead becomes ``sal``."""
    lead = _lock_lead(conn, lead_id)
    handoff = _answerable(conn, lead, handoff_id, "accept", ("pending",))
    close_handoff(conn, handoff.id, "accepted", now=now, actor=actor, reason=reason or "accepted")
    if handoff.rep_id is not None and lead["owner_rep_id"] != handoff.rep_id:
        conn.execute(leads.update().where(leads.c.id == lead_id).values(owner_rep_id=handoff.rep_id))
    if lead["lifecycle_stage"] == "mql":
        move_stage(
            conn, lifecycle, lead_id, "mql", "sal", actor=actor, now=now,
            reason=reason or f"accepted by {actor}",
        )  # fmt: skip


def reject(
    conn: Connection,
    lifecycle: WhatFollows,
    lead_id: int,
    *,
    reason: str,
    actor: str,
    now: datetime,
    handoff_id: int | None = None,
) -> None:
    """Sales hands the lead back: it becomes ``recycled``, loses its owner, its behaviour points
    are kept, halved or reset as the SLA's ``recycle`` says (fit points describe who the lead is
    and stay), and it enters the recycle campaign."""
    reason = _required(reason, "reject")
    lead = _lock_lead(conn, lead_id)
    # A rep may also hand back a lead accepted earlier (after the first call, say); a link
    # names the handoff it was sent for, which must still be pending.
    handoff = _answerable(conn, lead, handoff_id, "reject", OPEN_STATUSES)
    close_handoff(conn, handoff.id, "rejected", now=now, actor=actor, reason=reason)
    conn.execute(leads.update().where(leads.c.id == lead_id).values(owner_rep_id=None))
    move_stage(
        conn, lifecycle, lead_id, lead["lifecycle_stage"], "recycled", actor=actor, now=now,
        reason=f"rejected by sales: {reason}",
    )  # fmt: skip
    program = lifecycle.program
    recycle = program.sla.recycle
    if recycle is None:
        return
    _recycle_score(conn, program, lead, recycle.score, now)
    campaign = program.campaign(recycle.campaign)
    # The engine's entry rules hold here too: a suppressed or unsubscribed lead, or one the
    # campaign's where/exit_when/re_entry keeps out, is not recycled into mail.
    admit(conn, campaign, [lead_id], now)


def convert(
    conn: Connection,
    lifecycle: WhatFollows,
    lead_id: int,
    *,
    stage: str,
    actor: str,
    reason: str,
    now: datetime,
    amount: float | None = None,
    currency: str = "EUR",
) -> None:
    """Sales moves the lead on to ``sql``, ``opportunity`` or ``customer``; open handoffs close.

    ``amount`` (in ``currency``) is the deal's value, recorded with the move to opportunity or customer.
    """
    _check_deal(stage, amount, currency)
    if stage not in CONVERSION_STAGES:
        raise InvalidTransition(
            f"convert moves a lead to one of {', '.join(CONVERSION_STAGES)}, not {stage!r}"
        )
    reason = _required(reason, "convert")
    lead = _lock_lead(conn, lead_id)
    current = lead["lifecycle_stage"]
    if current == "disqualified":
        raise InvalidTransition(f"{lead['email']} is disqualified; it cannot be converted to {stage}")
    if waterfall_rank(current) >= WATERFALL.index(stage):
        raise InvalidTransition(f"{lead['email']} is already at {current}; {stage} would be a step back")
    open_handoff = _close_open_handoffs(conn, lead_id, "converted", actor, reason, now)
    if open_handoff is not None and open_handoff.rep_id is not None and lead["owner_rep_id"] is None:
        conn.execute(leads.update().where(leads.c.id == lead_id).values(owner_rep_id=open_handoff.rep_id))
    move_stage(conn, lifecycle, lead_id, current, stage, actor=actor, reason=reason, now=now)
    if amount is not None:
        record_deal(conn, lead_id, stage, now, amount, currency)


def disqualify(
    conn: Connection, lifecycle: WhatFollows, lead_id: int, *, reason: str, actor: str, now: datetime
) -> None:
    """Sales rules the lead out (competitor, student, no budget); open handoffs close."""
    reason = _required(reason, "disqualify")
    lead = _lock_lead(conn, lead_id)
    if lead["lifecycle_stage"] == "disqualified":
        raise InvalidTransition(f"{lead['email']} is already disqualified")
    _close_open_handoffs(conn, lead_id, "disqualified", actor, reason, now)
    move_stage(
        conn, lifecycle, lead_id, lead["lifecycle_stage"], "disqualified", actor=actor, reason=reason, now=now
    )


def reassign(
    conn: Connection,
    lifecycle: WhatFollows,
    lead_id: int,
    *,
    to: str,
    actor: str,
    now: datetime,
    sales: SalesContext,
    reason: str | None = None,
) -> int:
    """Someone moves the lead's open handoff to rep ``to``; returns the new handoff's id.

    The open handoff (pending, or accepted and being worked) closes as ``reassigned`` with the
    actor and reason, so links sent for it are refused from now on; a new pending handoff opens
    for the new rep, with a deadline counted in their working hours, and they are told as after
    a breach. The rep may belong to another team of the program (their team takes the handoff).
    The move is also written to the audit log. The stage does not change.
    """
    if sales.sla is None:
        raise SalesActionError("the program has no SLA, so there are no handoffs to reassign")
    note = " ".join((reason or "").split())[:500] or None
    lead = _lock_lead(conn, lead_id)
    handoff = current_handoff(conn, lead_id, OPEN_STATUSES, lock=True)
    if handoff is None:
        raise HandoffClosed(
            f"{lead['email']} has no open handoff to reassign (stage: {lead['lifecycle_stage']})"
        )
    team, rep = _find_rep(lifecycle.program, to, handoff.team_key)
    if handoff.rep_id == rep.id:
        raise SalesActionError(f"{lead['email']} is with {rep.name} ({rep.id}) already")
    holder = _holder(lifecycle.program, handoff)
    close_handoff(
        conn, handoff.id, "reassigned", now=now, actor=actor,
        reason=f"{note or 'moved by hand'}; reassigned to {rep.name} by {actor}",
    )  # fmt: skip
    shown = f"{actor} moved it to you from {holder}" + (f": {note}" if note else "")
    new_id = hand_over(
        conn, sales, TeamStanding(team, {}), Offer(lead_id, "reassigned", shown, handoff), rep, now
    )
    detail = {"from": handoff.rep_id, "to": rep.id, "team": team.key, "reason": note, "handoff": new_id}
    record_audit(conn, actor, "reassign", f"lead:{lead_id}", detail, now)
    return new_id


# -- helpers ---------------------------------------------------------------------------------------


def _check_deal(stage: str, amount: float | None, currency: str) -> None:
    if amount is None:
        return
    if stage not in DEAL_STAGES:
        raise SalesActionError(f"an amount is recorded with {' or '.join(DEAL_STAGES)}, not with {stage}")
    if not math.isfinite(amount) or amount < 0:
        raise SalesActionError(f"the amount must be a number of zero or more, not {amount}")
    if len(currency) != 3 or not currency.isalpha() or not currency.isupper():
        raise SalesActionError(f"the currency must be a three-letter code such as EUR, not {currency!r}")


def _required(reason: str, action: str) -> str:
    cleaned = " ".join((reason or "").split())
    if not cleaned:
        raise SalesActionError(f"a reason is required to {action} a lead")
    return cleaned[:500]


def _find_rep(program: Program, rep_id: str, team_key: str) -> tuple[SalesTeam, Rep]:
    """The rep with this id: in the handoff's own team first, else in another team of the program."""
    teams = program.sales_teams
    ordered = [teams[team_key]] if team_key in teams else []
    ordered += [t for key, t in teams.items() if key != team_key]
    for team in ordered:
        for rep in team.reps:
            if rep.id == rep_id:
                return team, rep
    known = ", ".join(sorted({r.id for t in teams.values() for r in t.reps})) or "none"
    raise SalesActionError(f"there is no rep {rep_id!r} in any sales team (reps: {known})")


def _holder(program: Program, handoff: Handoff) -> str:
    """Who had the handoff, by name where the program still knows them."""
    if handoff.rep_id is None:
        return "the manager"
    team = program.sales_teams.get(handoff.team_key)
    names = {r.id: r.name for r in team.reps} if team is not None else {}
    return names.get(handoff.rep_id, handoff.rep_id)


def _lock_lead(conn: Connection, lead_id: int) -> Any:
    query = select(
        leads.c.id, leads.c.email, leads.c.lifecycle_stage, leads.c.owner_rep_id, leads.c.fit_score,
        leads.c.behavior_score, leads.c.behavior_scored_at,
    ).where(leads.c.id == lead_id)  # fmt: skip
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).first()
    if row is None:
        raise SalesActionError(f"there is no lead with id {lead_id}")
    return row._mapping


def _answerable(
    conn: Connection, lead: Any, handoff_id: int | None, action: str, statuses: tuple[str, ...]
) -> Handoff:
    """The handoff to answer: the one a link names (still pending), else the lead's current one."""
    if handoff_id is None:
        handoff = current_handoff(conn, lead["id"], statuses, lock=True)
        if handoff is None:
            wanted = " or ".join(statuses)
            raise HandoffClosed(
                f"{lead['email']} has no {wanted} handoff to {action} (stage: {lead['lifecycle_stage']})"
            )
        return handoff
    handoff = get_handoff(conn, handoff_id, lock=True)
    if handoff is None or handoff.lead_id != lead["id"]:
        raise SalesActionError(f"handoff {handoff_id} is not a handoff of {lead['email']}")
    if handoff.status != "pending":
        raise HandoffClosed(f"this handoff of {lead['email']} is closed already ({handoff.status})")
    return handoff


def _close_open_handoffs(
    conn: Connection, lead_id: int, status: str, actor: str, reason: str, now: datetime
) -> Handoff | None:
    """Close the lead's open handoffs; returns the latest of them."""
    latest = None
    while (handoff := current_handoff(conn, lead_id, OPEN_STATUSES, lock=True)) is not None:
        close_handoff(conn, handoff.id, status, now=now, actor=actor, reason=reason)
        latest = latest or handoff
    return latest


def _recycle_score(conn: Connection, program: Program, lead: Any, policy: str, now: datetime) -> None:
    if policy == "keep":
        return
    model = program.scoring_model
    half_life = model.decay.half_life if model is not None and model.decay else None
    scored_at = lead["behavior_scored_at"]
    as_of = scored_at if scored_at is not None and scored_at > now else now
    behaviour = decayed(lead["behavior_score"], scored_at, as_of, half_life)
    kept = behaviour / 2 if policy == "halve" else 0.0
    if behaviour == kept:
        return
    done = "halved" if policy == "halve" else "reset"
    write_ledger(
        conn,
        [
            LedgerLine(
                lead["id"],
                kept - behaviour,
                "recycle",
                "sla: recycle",
                f"rejected by sales: behaviour points {done}",
                as_of,
            )
        ],
    )
    conn.execute(
        leads.update()
        .where(leads.c.id == lead["id"])
        .values(behavior_score=kept, behavior_scored_at=as_of, score=lead["fit_score"] + kept, updated_at=now)
    )
