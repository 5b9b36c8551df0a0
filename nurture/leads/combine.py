"""Two records of one person become one (``nurture leads merge KEEP OTHER``): an address change.

Everything stored about OTHER moves to KEEP: events, the score ledger, stage history,
enrollments, emails, consent records and handoffs (with their webhooks). An active enrollment
in a campaign KEEP is already in ends, so nobody is in one campaign twice; OTHER's emails still
waiting go to KEEP's address; OTHER's opt-outs kept by address are copied to KEEP's
(:mod:`nurture.leads.merged_optouts`), and the person counts once in each experiment
(:mod:`nurture.leads.merged_experiments`). While both records are in a rep's hands (an open
handoff each) the merge is refused: which rep keeps the person is for sales to settle first.
KEEP's values win; a value KEEP lacks is taken from OTHER, the earlier start and the earlier
unsubscribe are kept, and OTHER's address is kept in KEEP's ``attributes.previous_emails``. The
tracking and unsubscribe links of emails sent to OTHER keep working, since they name the email,
which now belongs to KEEP. What follows
(the score recomputed over both histories, the MQL rule) is the caller's hook, run before
OTHER's row goes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, delete, func, select, update

from nurture.errors import LeadNotFound, NurtureError
from nurture.leads.addresses import address_of_lead
from nurture.leads.merged_experiments import settle_experiments
from nurture.leads.merged_optouts import carry_optouts
from nurture.leads.staged import FIELD_NAMES
from nurture.store.schema import (
    consents,
    enrollments,
    events,
    handoffs,
    leads,
    messages,
    score_ledger,
    stage_changes,
)

MOVED: dict[str, Table] = {
    "events": events, "score_ledger": score_ledger, "stage_history": stage_changes,
    "enrollments": enrollments, "messages": messages, "consents": consents, "handoffs": handoffs,
}  # fmt: skip
OPEN_HANDOFFS = ("pending", "accepted")  # a rep holds the lead (nurture.sales.routing.OPEN_STATUSES)
BEFORE_SALES = ("subscriber", "lead", "recycled")  # stages the MQL rule moves on (scoring's MQL_ELIGIBLE)
WAITING = ("queued", "claimed")  # emails not handed to a relay yet (a retry is queued again)
MergeHook = Callable[[Connection, int, int, datetime], None]  # (keep id, other id, now)


class MergeRefused(NurtureError):
    """The two addresses cannot be merged (the same lead, or both in a rep's hands)."""


@dataclass
class Merge:
    keep_id: int
    other_id: int
    keep: str
    other: str
    moves: dict[str, int]  # rows per part of the record that move to KEEP
    ended: list[str] = field(default_factory=list)  # campaigns whose second enrollment ends
    filled: list[str] = field(default_factory=list)  # KEEP's fields taken from OTHER

    def as_json(self) -> dict[str, Any]:
        return {
            "keep": self.keep, "other": self.other, "moves": self.moves,
            "enrollments_ended": self.ended, "fields_taken": self.filled,
        }  # fmt: skip


def plan_merge(conn: Connection, keep: str, other: str) -> Merge:
    """What merging OTHER into KEEP would move; :class:`MergeRefused` when it cannot be done."""
    rows = {name: _lead(conn, address) for name, address in (("KEEP", keep), ("OTHER", other))}
    kept, gone = rows["KEEP"], rows["OTHER"]
    if kept.id == gone.id:
        raise MergeRefused(f"{keep} and {other} are the same lead")
    held = _open_handoffs(conn, kept, gone)
    moves = {
        name: int(conn.scalar(select(func.count()).select_from(table).where(table.c.lead_id == gone.id)) or 0)
        for name, table in MOVED.items()
    }
    e = enrollments.c
    keep_active = select(e.campaign_key).where(e.lead_id == kept.id, e.status == "active")
    ended = sorted(
        conn.scalars(
            select(e.campaign_key).where(
                e.lead_id == gone.id, e.status == "active", e.campaign_key.in_(keep_active)
            )
        )
    )
    filled = [name for name in FIELD_NAMES if kept._mapping[name] is None and gone._mapping[name] is not None]
    if gone.id in held and kept.lifecycle_stage in BEFORE_SALES:
        # OTHER's handoff moves: KEEP takes the stage it belongs to, so the MQL rule does not
        # hand the person to sales a second time.
        filled.append("lifecycle_stage")
    return Merge(int(kept.id), int(gone.id), kept.email, gone.email, moves, ended, filled)


def merge_leads(conn: Connection, plan: Merge, now: datetime, *, then: MergeHook | None) -> None:
    """Carry out a planned merge in the caller's transaction."""
    e = enrollments.c
    if plan.ended:
        # One active enrollment per lead and campaign: OTHER's second one ends before it moves.
        conn.execute(
            update(enrollments)
            .where(e.lead_id == plan.other_id, e.status == "active", e.campaign_key.in_(plan.ended))
            .values(status="exited", ended_at=now, due_at=None, exit_reason=f"merged into {plan.keep}"[:500])
        )
    settle_experiments(conn, plan.keep_id, plan.other_id)
    carry_optouts(conn, plan.other, plan.keep)
    m = messages.c
    # OTHER's emails still waiting go to KEEP's address: the one the sender checks against
    # suppressions and consent is the one it mails (a rep's notice about OTHER keeps its rep).
    conn.execute(
        update(messages)
        .where(m.lead_id == plan.other_id, m.status.in_(WAITING), func.lower(m.to_address) == plan.other)
        .values(to_address=plan.keep)
    )
    for table in MOVED.values():
        conn.execute(update(table).where(table.c.lead_id == plan.other_id).values(lead_id=plan.keep_id))
    _combine_profiles(conn, plan, now)
    if then is not None:
        then(conn, plan.keep_id, plan.other_id, now)
    conn.execute(delete(leads).where(leads.c.id == plan.other_id))


def _combine_profiles(conn: Connection, plan: Merge, now: datetime) -> None:
    both = {
        row.id: row._mapping
        for row in conn.execute(select(leads).where(leads.c.id.in_([plan.keep_id, plan.other_id])))
    }
    kept, gone = both[plan.keep_id], both[plan.other_id]
    values: dict[str, Any] = {name: gone[name] for name in plan.filled}
    attributes = {**(gone["attributes"] or {}), **(kept["attributes"] or {})}
    previous = [a for a in attributes.get("previous_emails", []) if isinstance(a, str)]
    attributes["previous_emails"] = [*previous, *(a for a in [gone["email"]] if a not in previous)]
    values["attributes"] = attributes
    values["created_at"] = min(kept["created_at"], gone["created_at"])
    stops = [at for at in (kept["unsubscribed_at"], gone["unsubscribed_at"]) if at is not None]
    values["unsubscribed_at"] = min(stops) if stops else None
    values["owner_rep_id"] = kept["owner_rep_id"] or gone["owner_rep_id"]
    if kept["external_id"] is None and gone["external_id"] is not None:
        # Unique in the workspace: OTHER lets go of it first.
        conn.execute(update(leads).where(leads.c.id == plan.other_id).values(external_id=None))
        values["external_id"] = gone["external_id"]
    conn.execute(update(leads).where(leads.c.id == plan.keep_id).values(**values, updated_at=now))


def _open_handoffs(conn: Connection, kept: Any, gone: Any) -> dict[int, Any]:
    """The open handoff of each record that has one; refused when both have: two reps would hold
    one person, each with a live link and a deadline. Which one goes is a sales decision, not the
    merge's; OTHER's only open handoff moves to KEEP with the rest."""
    h = handoffs.c
    held = {
        row.lead_id: row
        for row in conn.execute(
            select(h.lead_id, h.id, h.rep_id, h.team_key)
            .where(h.lead_id.in_([kept.id, gone.id]), h.status.in_(OPEN_HANDOFFS))
            .order_by(h.id)
        )
    }
    if len(held) < 2:
        return held
    whose = []
    for row in (kept, gone):
        handoff = held[row.id]
        holder = handoff.rep_id or f"the {handoff.team_key} manager"
        whose.append(f"{row.email}: handoff {handoff.id} with {holder}")
    raise MergeRefused(
        f"{kept.email} and {gone.email} both have an open handoff ({'; '.join(whose)}); resolve one first "
        f"(nurture sales reject, convert or disqualify), then merge"
    )


def _lead(conn: Connection, address: str) -> Any:
    email = address_of_lead(address)
    query = select(leads).where(leads.c.email == email)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).first()
    if row is None:
        raise LeadNotFound(address)
    return row
