"""Consent and topic suppressions checked when an email is queued and again when it is sent (the
store of consent is :mod:`nurture.leads.consent`).

With ``require_consent`` on for a campaign's topic, a send
step reached by a lead without confirmed consent is recorded as a suppressed message
(``no consent``) and nothing is queued; a topic suppression (an imported list) does the same.
The sender asks the same question of each batch it claims (:class:`ConsentScreen`), so consent
withdrawn, or a topic suppressed, while an email waits in the outbox stops it too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import Connection, func, select

from nurture.definitions import Campaign, Program
from nurture.definitions.form import OPT_IN_CONFIRMED
from nurture.engine.enrollments import QueuedSend, keep_unsent
from nurture.leads.addresses import suppression_hash
from nurture.leads.consent import current_consents
from nurture.settings import Settings
from nurture.store.schema import consents, enrollments, leads, topic_suppressions

NO_CONSENT = "no consent"


def consent_settings(settings: Settings, program: Program) -> Settings:
    """The settings the consent screen applies to ``program``: a topic some form confirms by
    double opt-in needs confirmed consent, as if ``require_consent`` named it, so nobody is
    mailed on it before following the link."""
    topics = program.double_opt_in_topics
    if not topics or settings.require_consent is True:
        return settings
    named = [] if settings.require_consent is False else list(settings.require_consent)
    return settings.model_copy(update={"require_consent": sorted({*named, *topics})})


def topic_suppressed(conn: Connection, emails: Iterable[str]) -> dict[tuple[str, str], str]:
    """Which (address, topic) pairs may not be mailed, and why."""
    by_hash = {suppression_hash(e): e for e in emails}
    if not by_hash:
        return {}
    t = topic_suppressions.c
    query = select(t.email_hash, t.topic, t.reason).where(t.email_hash.in_(sorted(by_hash)))
    return {(by_hash[h], topic): reason for h, topic, reason in conn.execute(query)}


def refusals(
    conn: Connection, recipients: Sequence[tuple[int, str, str]], settings: Settings
) -> list[str | None]:
    """For each (lead id, address, topic): why it may not be sent marketing mail on that topic,
    or None. Two queries whatever the number: the topic suppressions, and the consents of the
    leads whose topic needs consent (none when no topic does)."""
    if not recipients:
        return []
    blocked = topic_suppressed(conn, {address for _, address, _ in recipients})
    needs_consent = [lead for lead, _, topic in recipients if settings.consent_required(topic)]
    states = current_consents(conn, needs_consent) if needs_consent else {}
    reasons: list[str | None] = []
    for lead, address, topic in recipients:
        if (address, topic) in blocked:
            reasons.append(f"topic {topic} suppressed ({blocked[(address, topic)]})")
        elif settings.consent_required(topic):
            state = states.get((lead, topic))
            reasons.append(NO_CONSENT if state is None or state.status != "confirmed" else None)
        else:
            reasons.append(None)
    return reasons


def screen_sends(
    conn: Connection, sends: Sequence[QueuedSend], topics: Mapping[str, str], settings: Settings
) -> tuple[list[QueuedSend], list[tuple[QueuedSend, str]]]:
    """Split sends into those that may be queued and those refused, with why. Transactional
    emails are not asked about: the lead asked for them, whatever their marketing consent."""
    allowed = [s for s in sends if s.kind == "transactional"]
    marketing = [s for s in sends if s.kind != "transactional"]
    recipients = [(s.lead_id, s.to_address, topics.get(s.campaign_key, "")) for s in marketing]
    refused: list[tuple[QueuedSend, str]] = []
    for send, why in zip(marketing, refusals(conn, recipients, settings), strict=True):
        if why is None:
            allowed.append(send)
        else:
            refused.append((send, why))
    return allowed, refused


@dataclass(frozen=True)
class ConsentScreen:
    """The sender's look at consent and topic suppressions, once per claimed batch: what was
    allowed when an email was queued may have been withdrawn while it waited."""

    topics: Mapping[str, str]  # campaign key -> its subscription topic
    settings: Settings

    def refused(self, conn: Connection, marketing: Sequence[tuple[int, int, str, str]]) -> dict[int, str]:
        """For (message id, lead id, address, campaign key) of a batch's marketing emails: the
        messages that may not go out, and why."""
        known = [row for row in marketing if row[3] in self.topics]
        recipients = [(lead, address, self.topics[campaign]) for _, lead, address, campaign in known]
        reasons = refusals(conn, recipients, self.settings)
        return {row[0]: why for row, why in zip(known, reasons, strict=True) if why is not None}


def record_refused_sends(
    conn: Connection, refused: Sequence[tuple[QueuedSend, str]], now: datetime, message_domain: str
) -> None:
    """Keep a refused send as a suppressed message: the step counts as done, the reason is shown."""
    keep_unsent(conn, refused, now, message_domain)


@dataclass(frozen=True)
class OptInReach:
    """A topic that a double opt-in form puts under the consent rule, though ``require_consent``
    alone would not, while campaigns that leads enter without confirming mail on it: from then
    on, leads without confirmed consent get none of that mail. The counts are None when no
    database was asked."""

    form: str
    topic: str
    campaigns: tuple[str, ...]  # marketing campaigns on the topic not entered by opt_in_confirmed
    open_to_all: bool  # some of them take in existing leads (on an event, a segment, by hand)
    enrolled: int | None = None  # leads now in those campaigns without confirmed consent
    may_enter: int | None = None  # with open_to_all: every lead without it; else 0

    @property
    def affects_leads(self) -> bool:
        """False only when the database says no existing lead is affected."""
        return self.enrolled is None or self.may_enter is None or self.enrolled + self.may_enter > 0

    def message(self) -> str:
        named = ", ".join(self.campaigns)
        if self.enrolled is None or self.may_enter is None:
            who = "existing leads without confirmed consent on it"
        else:
            who = f"{self.enrolled} leads now in them have no confirmed consent on it"
            if self.open_to_all:
                who += f" and {self.may_enter} leads without it can still enter them"
        return (
            f"double_opt_in puts topic {self.topic!r} under the consent rule, and campaigns mail on it "
            f"({named}): {who}; each email they reach is recorded as 'suppressed: no consent' and "
            "they move on past it for good. Record the consent they gave (nurture consent, or leads "
            "import --consent-source) or give the form a topic of its own"
        )


def opt_in_reach(program: Program, settings: Settings) -> list[OptInReach]:
    """Per double opt-in form, each topic whose mail the form puts under the consent rule (a
    topic ``require_consent`` covers already changes nothing) and that campaigns entered other
    than by confirming the opt-in mail on."""
    mailing: dict[str, list[Campaign]] = {}
    for campaign in program.campaigns.values():
        confirmed_only = campaign.entry.on == "event" and campaign.entry.type == OPT_IN_CONFIRMED
        marketing = any(campaign.mail_kind(step) == "marketing" for step in campaign.send_steps)
        if marketing and not confirmed_only:
            mailing.setdefault(campaign.topic, []).append(campaign)
    found: list[OptInReach] = []
    for key, form in program.forms.items():
        if not form.double_opt_in or form.consent is None:
            continue
        for topic in dict.fromkeys(form.consent.topics):
            if topic in mailing and not settings.consent_required(topic):
                campaigns = mailing[topic]
                found.append(
                    OptInReach(
                        key,
                        topic,
                        tuple(sorted(c.key for c in campaigns)),
                        any(c.entry.on != "lead_created" for c in campaigns),
                    )
                )
    return found


def count_reach(conn: Connection, reach: OptInReach) -> OptInReach:
    """``reach`` with its leads counted: those whose latest consent on the topic is not
    ``confirmed`` (or who have none) now in its campaigns, and, when existing leads can enter
    them, all of them."""
    c = consents.c
    latest = (
        select(
            c.lead_id,
            c.status,
            func.row_number().over(partition_by=c.lead_id, order_by=(c.at.desc(), c.id.desc())).label("n"),
        )
        .where(c.topic == reach.topic)
        .subquery()
    )
    confirmed = select(latest.c.lead_id).where(latest.c.n == 1, latest.c.status == "confirmed")
    e = enrollments.c
    enrolled = select(func.count(func.distinct(e.lead_id))).where(
        e.status == "active", e.campaign_key.in_(reach.campaigns), e.lead_id.not_in(confirmed)
    )
    may_enter = 0
    if reach.open_to_all:
        everyone = select(func.count()).select_from(leads).where(leads.c.id.not_in(confirmed))
        may_enter = int(conn.scalar(everyone) or 0)
    return replace(reach, enrolled=int(conn.scalar(enrolled) or 0), may_enter=may_enter)
