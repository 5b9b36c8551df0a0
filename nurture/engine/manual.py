"""Enrolling named leads by hand: the ``on: manual`` entry of a campaign.

A person enrolling leads gets the same rules as the engine's own entry: a lead that unsubscribed
or whose address is suppressed stays out, ``re_entry`` decides whether someone who was in the
campaign may come back (and when), the entry's ``where`` must hold, and a lead that already meets
the campaign's ``exit_when`` is not let in only to leave at its first step. Each address gets its
own answer; nothing is half-done for one because another failed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import Connection, select

from nurture.definitions import Campaign, ConditionError, EvaluationContext, content_hash
from nurture.durations import format_duration
from nurture.engine.enrollments import history, load_leads, stops, suppressed
from nurture.engine.entry import enroll, may_enter
from nurture.errors import NurtureError
from nurture.leads.addresses import InvalidAddress, normalise_email
from nurture.store.schema import leads

Outcome = Literal["entered", "inside", "refused", "unknown"]


class NotManualEntry(NurtureError):
    """The campaign has an entry of its own (lead_created, event, segment); --force overrides it."""


@dataclass(frozen=True)
class ManualResult:
    """What became of one address given to enrol."""

    email: str  # as given
    outcome: Outcome  # entered; inside (already, nothing changed); refused (why); unknown (no lead)
    why: str = ""
    lead_id: int | None = None

    @property
    def failed(self) -> bool:
        """Not in the campaign now: no such lead, or the rules kept it out."""
        return self.outcome in ("refused", "unknown")


def enroll_by_hand(
    conn: Connection, campaign: Campaign, emails: Sequence[str], now: datetime, *, force: bool = False
) -> list[ManualResult]:
    """Enrol the leads with these addresses into ``campaign`` now; one result per address given.

    Only campaigns with ``entry: {on: manual}`` take leads by hand unless ``force`` is given: the
    others choose their own leads, and enrolling past them is a decision someone should say
    aloud. An ``on: event`` entry's ``where`` speaks of the event, which a manual entry does not
    have, so it is not evaluated.
    """
    if campaign.entry.on != "manual" and not force:
        raise NotManualEntry(
            f"campaign {campaign.key!r} enrols its own leads (entry on: {campaign.entry.on}); "
            "only on: manual campaigns take leads by hand (--force to enrol anyway)"
        )
    ids_by_email = _lead_ids(conn, emails)
    admitted = admit(conn, campaign, sorted(set(ids_by_email.values())), now)
    results: list[ManualResult] = []
    for email in emails:
        lead_id = ids_by_email.get(email)
        if lead_id is None:
            results.append(ManualResult(email, "unknown", "no lead with this e-mail address"))
        else:
            outcome, why = admitted[lead_id]
            results.append(ManualResult(email, outcome, why, lead_id))
    return results


def admit(
    conn: Connection, campaign: Campaign, lead_ids: Sequence[int], now: datetime
) -> dict[int, tuple[Outcome, str]]:
    """Enrol these leads into ``campaign`` by the engine's entry rules (suppressions, unsubscribes,
    ``where``, ``exit_when``, ``re_entry``), whatever the campaign's own entry; the outcome and why
    for each lead. Used by hand and by the SLA's recycle, which names its campaign itself."""
    known = sorted(set(lead_ids))
    rows = load_leads(conn, known)
    blocked = suppressed(conn, (row["email"] for row in rows.values()))
    past = history(conn, known, campaign.key)
    outcomes: dict[int, tuple[Outcome, str]] = {}
    admitted: list[int] = []
    for lead_id in known:
        lead = rows.get(lead_id)
        if lead is None:
            outcomes[lead_id] = ("unknown", "no such lead")
            continue
        if any(p.active for p in past.get(lead_id, ())):
            outcomes[lead_id] = ("inside", "in the campaign already")
            continue
        why = _kept_out(campaign, lead, blocked.get(lead["email"]), now)
        if why is None and not may_enter(past.get(lead_id, ()), campaign.re_entry, now):
            why = _re_entry_refusal(campaign)
        if why is not None:
            outcomes[lead_id] = ("refused", why)
        else:
            admitted.append(lead_id)
            held = "held out: enrolled, sent nothing by this campaign" if campaign.holds_out(lead_id) else ""
            outcomes[lead_id] = ("entered", held)
    entered = set(enroll(conn, campaign, content_hash(campaign), admitted, now))
    for lead_id in admitted:
        # Another worker may have enrolled the lead in between: it is inside, not refused.
        if lead_id not in entered:
            outcomes[lead_id] = ("inside", "in the campaign already")
    return outcomes


def _lead_ids(conn: Connection, emails: Sequence[str]) -> dict[str, int]:
    """Lead ids by the address as given (addresses are compared as the importer stores them)."""
    normalised: dict[str, str] = {}
    for email in emails:
        try:
            normalised[email] = normalise_email(email)
        except InvalidAddress:
            continue
    found = {
        str(address): int(lead_id)
        for address, lead_id in conn.execute(
            select(leads.c.email, leads.c.id).where(leads.c.email.in_(sorted(set(normalised.values()))))
        )
    }
    return {given: found[address] for given, address in normalised.items() if address in found}


def _kept_out(
    campaign: Campaign, lead: dict[str, object], suppression: str | None, now: datetime
) -> str | None:
    """Why the rules keep this lead out of the campaign now, or None."""
    kind = "transactional" if campaign.sends_transactional else "marketing"
    if lead["unsubscribed"] and kind == "marketing":
        return "unsubscribed"
    if suppression is not None and stops(suppression, kind):
        return f"suppressed ({suppression})"
    context = EvaluationContext(lead=lead, now=now)
    try:
        where = campaign.entry.where
        if where is not None and campaign.entry.on != "event" and not where.evaluate(context):
            return f"does not match the entry's where: {where.source}"
        for condition in campaign.exit_when:
            if condition.evaluate(context):
                return f"meets the campaign's exit_when already: {condition.source}"
    except ConditionError as exc:
        return f"a condition could not be decided: {exc}"
    return None


def _re_entry_refusal(campaign: Campaign) -> str:
    if campaign.re_entry is None:
        return "was in the campaign before, and it allows no re-entry"
    wait = format_duration(campaign.re_entry)
    return f"was in the campaign too recently: re_entry lets it back {wait} after it left"
