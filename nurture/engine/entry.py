"""Who enters which campaign: new leads, incoming events, segments, and manual enrolment."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select

from nurture.definitions import Campaign, ConditionError, EvaluationContext, Program
from nurture.definitions.condition_failures import ConditionFailures
from nurture.definitions.event_view import event_view
from nurture.engine.enrollments import PastEnrollment, history, load_leads, nudge_leads, stops, suppressed
from nurture.store import bulk
from nurture.store.cursors import NEW_LEADS, move_cursor, open_feed, read_cursor
from nurture.store.schema import events, leads


def may_enter(past: Sequence[PastEnrollment], re_entry: timedelta | None, now: datetime) -> bool:
    """Never while inside; again only when the campaign allows it and enough time has passed."""
    if any(p.active for p in past):
        return False
    if not past:
        return True
    if re_entry is None:
        return False
    last_end = max((p.ended_at for p in past if p.ended_at is not None), default=None)
    return last_end is None or last_end + re_entry <= now


def enroll(
    conn: Connection, campaign: Campaign, version: str, lead_ids: Sequence[int], now: datetime
) -> list[int]:
    """Enrol those of ``lead_ids`` that may enter; returns who entered. Safe to repeat.

    A lead in the campaign's holdout enters with status ``holdout``: enrolled and ended at once,
    sent nothing by this campaign, and kept out of it again for as long as ``re_entry`` says.
    """
    past = history(conn, lead_ids, campaign.key)
    entering = [i for i in dict.fromkeys(lead_ids) if may_enter(past.get(i, ()), campaign.re_entry, now)]
    at = bulk.instant(conn, now)
    first = campaign.steps[0].step_id
    held = {i for i in entering if campaign.holds_out(i)}
    # The partial unique index (one active enrollment per lead and campaign) is the last word
    # when two workers enrol the same lead at once.
    bulk.executemany(
        conn,
        "INSERT INTO enrollments (lead_id, campaign_key, campaign_version, status, step_id, step_started_at, "
        "due_at, entered_at) VALUES (:lead_id, :campaign, :version, 'active', :step, :at, :at, :at) "
        "ON CONFLICT (lead_id, campaign_key) WHERE status = 'active' DO NOTHING",
        [
            {"lead_id": i, "campaign": campaign.key, "version": version, "step": first, "at": at}
            for i in entering
            if i not in held
        ],
    )
    bulk.executemany(
        conn,
        "INSERT INTO enrollments (lead_id, campaign_key, campaign_version, status, step_id, entered_at, "
        "ended_at, exit_reason) VALUES (:lead_id, :campaign, :version, 'holdout', NULL, :at, :at, "
        "'held out: sent nothing by this campaign')",
        [{"lead_id": i, "campaign": campaign.key, "version": version, "at": at} for i in sorted(held)],
    )
    return entering


@dataclass
class EntryResult:
    entered: Counter[str]
    failed: ConditionFailures

    def __init__(self) -> None:
        self.entered = Counter()
        self.failed = ConditionFailures()


@dataclass(frozen=True)
class Mailable:
    """The leads a campaign may enrol: one that left marketing mail may still enter a campaign
    with transactional emails (those reach them; its marketing ones are held back)."""

    marketing: dict[int, dict[str, Any]]
    transactional: dict[int, dict[str, Any]]

    def for_campaign(self, campaign: Campaign) -> dict[int, dict[str, Any]]:
        return self.transactional if campaign.sends_transactional else self.marketing


def _mailable(conn: Connection, lead_rows: dict[int, dict[str, Any]]) -> Mailable:
    blocked = suppressed(conn, (lead["email"] for lead in lead_rows.values()))
    return Mailable(
        {
            lead_id: lead
            for lead_id, lead in lead_rows.items()
            if not lead["unsubscribed"] and lead["email"] not in blocked
        },
        {
            lead_id: lead
            for lead_id, lead in lead_rows.items()
            if lead["email"] not in blocked or not stops(blocked[lead["email"]], "transactional")
        },
    )


def _matching(
    campaign: Campaign,
    candidates: Iterable[tuple[int, dict[str, Any], dict[str, Any] | None]],
    now: datetime,
    result: EntryResult,
) -> list[int]:
    chosen = []
    for lead_id, lead, event in candidates:
        where = campaign.entry.where
        try:
            if where is None or where.evaluate(EvaluationContext(lead=lead, now=now, event=event)):
                chosen.append(lead_id)
        except ConditionError as exc:
            result.failed.add(exc, lead["email"])
    return chosen


def enter_new_leads(
    conn: Connection,
    program: Program,
    versions: dict[str, str],
    now: datetime,
    limit: int,
    result: EntryResult,
) -> int:
    """Offer leads created since the last look to ``on: lead_created`` campaigns; returns how many."""
    position, final = open_feed(conn, NEW_LEADS, "leads")
    ids = _leads_after(conn, position, limit, up_to=final)
    if not ids:
        return 0
    campaigns = [c for c in program.campaigns.values() if c.entry.on == "lead_created"]
    _offer_leads(conn, campaigns, versions, ids, now, result)
    move_cursor(conn, NEW_LEADS, ids[-1], now)
    return len(ids)


def _leads_after(conn: Connection, position: int, limit: int, *, up_to: int | None = None) -> list[int]:
    """The next ``limit`` lead ids after ``position`` (and not past ``up_to``), in id order."""
    query = select(leads.c.id).where(leads.c.id > position).order_by(leads.c.id).limit(limit)
    if up_to is not None:
        query = query.where(leads.c.id <= up_to)
    return [int(i) for (i,) in conn.execute(query)]


def _offer_leads(
    conn: Connection,
    campaigns: Sequence[Campaign],
    versions: dict[str, str],
    ids: Sequence[int],
    now: datetime,
    result: EntryResult,
) -> None:
    """Enrol those of these leads (mailable ones) whom each campaign's ``where`` accepts."""
    if not campaigns:
        return
    mailable = _mailable(conn, load_leads(conn, ids))
    for campaign in campaigns:
        lead_rows = mailable.for_campaign(campaign)
        chosen = _matching(campaign, [(i, lead, None) for i, lead in lead_rows.items()], now, result)
        result.entered[campaign.key] += len(enroll(conn, campaign, versions[campaign.key], chosen, now))


def enter_from_events(
    conn: Connection,
    program: Program,
    versions: dict[str, str],
    now: datetime,
    limit: int,
    result: EntryResult,
) -> int:
    """Offer events received since the last look to ``on: event`` campaigns of their type; the
    number of events looked at (imported history among them, which is passed over)."""
    position, final = open_feed(conn, "entry:events", "events")
    e = events.c
    query = (
        select(e.id, e.lead_id, e.type, e.occurred_at, e.url, e.campaign_key, e.step_id, e.machine_reason,
               e.properties, e.from_history)
        .where(e.id > position)
        .order_by(e.id)
        .limit(limit)
    )  # fmt: skip
    if final is not None:
        query = query.where(e.id <= final)
    rows = conn.execute(query).all()
    if not rows:
        return 0
    walked, last_id = len(rows), int(rows[-1].id)
    # Imported history is a record of the past, not news: the cursor passes it and nothing reacts.
    rows = [r for r in rows if not r.from_history]
    by_type: dict[str, list[Campaign]] = {}
    for campaign in program.campaigns.values():
        if campaign.entry.on == "event" and campaign.entry.type:
            by_type.setdefault(campaign.entry.type, []).append(campaign)
    # Fresh engagement may end a wait-until or trigger an exit_when: look at those leads now.
    nudge_leads(conn, {int(r.lead_id) for r in rows if r.lead_id is not None}, now)
    relevant = [r for r in rows if r.lead_id is not None and r.type in by_type]
    if relevant:
        mailable = _mailable(conn, load_leads(conn, (r.lead_id for r in relevant)))
        for type_, campaigns in by_type.items():
            for campaign in campaigns:
                lead_rows = mailable.for_campaign(campaign)
                candidates = [
                    (r.lead_id, lead_rows[r.lead_id], event_view(r))
                    for r in relevant
                    if r.type == type_ and r.lead_id in lead_rows
                ]
                chosen = _matching(campaign, candidates, now, result)
                result.entered[campaign.key] += len(
                    enroll(conn, campaign, versions[campaign.key], chosen, now)
                )
    move_cursor(conn, "entry:events", last_id, now)
    return walked


def enter_segment(
    conn: Connection,
    campaign: Campaign,
    version: str,
    now: datetime,
    limit: int,
    interval: timedelta,
    result: EntryResult,
) -> int:
    """Re-evaluate a segment campaign over the next stretch of leads; passes repeat every ``interval``.

    A pass walks all leads in id order, ``limit`` per call, so no tick ever scans the whole table;
    a finished pass rests until ``interval`` has gone by.
    """
    name = f"segment:{campaign.key}"
    position, _ = read_cursor(conn, name, lock=True)
    _, last_pass = read_cursor(conn, f"{name}:pass")
    if position == 0 and last_pass is not None and last_pass + interval > now:
        return 0
    ids = _leads_after(conn, position, limit)
    _offer_leads(conn, [campaign], {campaign.key: version}, ids, now, result)
    if len(ids) < limit:
        move_cursor(conn, name, 0, now)
        move_cursor(conn, f"{name}:pass", 0, now)
    else:
        move_cursor(conn, name, ids[-1], now)
    return len(ids)
