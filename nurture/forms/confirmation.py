"""Double opt-in at a form post: pending consent, and the confirmation email when it may be sent.

Posts are handled together (a group written in one transaction, or a single post): the stored
state they need (consent, suppressions, emails sent to each address, posts from each IP address)
is read once for all of them, and each post is judged in order as if it had come alone, so a
later post counts the ones before it.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from jinja2 import TemplateError
from sqlalchemy import Connection, func, select

from nurture.clock import as_utc
from nurture.definitions import Program
from nurture.definitions.form import Form
from nurture.delivery.message_ids import new_message_id
from nurture.durations import parse_duration
from nurture.forms.opt_in import LIFTABLE, OptInLink, expire_held, merged_into, sign_link
from nurture.i18n import DEFAULT_TEMPLATES, Reader, own_environment, render_own
from nurture.leads.addresses import suppression_hash
from nurture.leads.consent import current_consents
from nurture.settings import Settings
from nurture.store.schema import audit_log, consents, leads, messages, suppressions
from nurture.tokens import TokenSigner
from nurture.zones import zone

log = logging.getLogger(__name__)

CONFIRMATION_KIND = "opt_in_confirmation"  # messages.kind: nurture's own, untracked, no List-Unsubscribe
_WHITESPACE = re.compile(r"\s+")

ConfirmationSent = Literal["sent", "already_confirmed", "address_limit", "ip_limit", "suppressed"]


# Records kept by merges in a limit's window that its count looks under; past it (a mass merge),
# every email to the addresses is read instead, as a list that long would outgrow a query.
_MERGES_LOOKED_UP = 500


@dataclass(frozen=True)
class AskedConsent:
    """One post's consent: the form (with its consent), the lead, the address and where from."""

    form: Form
    lead_id: int
    email: str
    ip: str | None
    accept_language: str | None


def consent_rows(
    asked: Sequence[AskedConsent],
    status: str,
    now: datetime,
    *,
    topics: Sequence[Sequence[str]] | None = None,
) -> list[dict[str, Any]]:
    """The consent rows of these posts (each form's topics, or ``topics`` per post), as
    :func:`nurture.leads.consent.record_consent` writes them: one insert for all."""
    at = as_utc(now)
    rows = []
    for n, post in enumerate(asked):
        assert post.form.consent is not None
        for topic in topics[n] if topics is not None else post.form.consent.topics:
            rows.append(
                {"lead_id": post.lead_id, "topic": topic, "status": status, "at": at, "source": "form",
                 "text_version": post.form.consent.version, "ip": post.ip}
            )  # fmt: skip
    return rows


class ConfirmationMail:
    """Writes double opt-in consent and queues the confirmation emails (rendered, as nurture's
    own mail is: the outbox sends it as it is)."""

    def __init__(self, program: Program, settings: Settings, signer: TokenSigner) -> None:
        self.settings = settings
        self.signer = signer
        self.expiry = parse_duration(settings.opt_in_expiry)
        self.base_url = settings.base_url.rstrip("/")
        self.message_domain = settings.from_address.rpartition("@")[2].strip(" >") or "nurture.invalid"
        self.templates = own_environment(program.templates_dir, DEFAULT_TEMPLATES)
        self.default_templates = own_environment(DEFAULT_TEMPLATES)
        self.zone = zone(settings.timezone)

    def ask(
        self, conn: Connection, asked: Sequence[AskedConsent], now: datetime, *, any_suppressed: bool = True
    ) -> list[ConfirmationSent]:
        """Record pending consent for each post's topics not yet confirmed and queue a
        confirmation email where it may be sent; what became of each post. ``any_suppressed``
        False: the caller knows that none of the addresses is suppressed."""
        settings = self.settings
        states = current_consents(conn, [post.lead_id for post in asked])
        expire_held(conn, states, now, self.expiry)  # an old pending consent is asked anew
        open_topics = [
            [t for t in _topics(post.form)
             if (found := states.get((post.lead_id, t))) is None or found.status != "confirmed"]
            for post in asked
        ]  # fmt: skip
        asking = [n for n, topics in enumerate(open_topics) if topics]
        since = now - timedelta(days=1)
        # Posts from each IP address before these; each of these counts when it is judged.
        from_ip = self._asked_from(
            conn, sorted({ip for n in asking if (ip := asked[n].ip) is not None}), since
        )
        pending = consent_rows(
            [asked[n] for n in asking], "pending", now, topics=[open_topics[n] for n in asking]
        )
        if pending:
            conn.execute(consents.insert(), pending)
        blocked = self._blocked(conn, [asked[n].email for n in asking]) if any_suppressed else {}
        sent_to = self._emails_to(conn, [asked[n] for n in asking], since)
        outcome: list[ConfirmationSent] = ["already_confirmed"] * len(asked)
        links: list[tuple[int, OptInLink]] = []
        for n in asking:
            post = asked[n]
            if post.ip is not None:
                from_ip[post.ip] += 1
            reason = blocked.get(post.email)
            if reason is not None and reason not in LIFTABLE:
                outcome[n] = (
                    "suppressed"  # a bounced or complaining address is never mailed, this email included
                )
            elif sent_to[post.email] >= settings.opt_in_emails_per_address:
                outcome[n] = "address_limit"
            elif post.ip is not None and from_ip[post.ip] > settings.opt_in_emails_per_ip:
                outcome[n] = "ip_limit"
            else:
                outcome[n] = "sent"
                sent_to[post.email] += 1
                assert post.form.consent is not None
                version = post.form.consent.version
                links.append((n, OptInLink(post.lead_id, post.form.key, version, tuple(open_topics[n]))))
        if links:
            self._queue(conn, [(asked[n], link) for n, link in links], now)
        return outcome

    def _asked_from(self, conn: Connection, ips: Sequence[str], since: datetime) -> Counter[str]:
        """Double opt-in posts from each IP address since then (each writes its pending rows at
        one moment)."""
        if not ips:
            return Counter()
        c = consents.c
        posts = (
            select(c.ip, c.lead_id, c.at)
            .where(c.status == "pending", c.ip.in_(ips), c.at > as_utc(since))
            .distinct()
            .subquery()
        )
        counted = conn.execute(select(posts.c.ip, func.count()).group_by(posts.c.ip))
        return Counter({str(ip): int(n) for ip, n in counted})

    def _blocked(self, conn: Connection, addresses: Sequence[str]) -> dict[str, str]:
        """The suppression reason of each suppressed address."""
        if not addresses:
            return {}
        by_hash = {suppression_hash(address): address for address in addresses}
        s = suppressions.c
        query = select(s.email_hash, s.reason).where(s.email_hash.in_(sorted(by_hash)))
        return {by_hash[h]: str(reason) for h, reason in conn.execute(query)}

    def _emails_to(self, conn: Connection, asked: Sequence[AskedConsent], since: datetime) -> Counter[str]:
        """Confirmation emails queued to each post's address since then.

        Each was queued for the lead with that address, and only a merge moves a lead's emails to
        another (the kept record, named in the audit log): so they are under the posts' own leads
        or under a record kept by a merge made since then, and are found through those leads'
        emails (an index) rather than by reading every email to the address."""
        if not asked:
            return Counter()
        m, a = messages.c, audit_log.c
        addresses = sorted({post.email for post in asked})
        merges = select(a.subject).where(a.action == "merge", a.at > as_utc(since))
        kept_since = list(conn.scalars(merges.limit(_MERGES_LOOKED_UP + 1)))
        query = (
            select(m.to_address, func.count())
            .where(m.kind == CONFIRMATION_KIND, m.to_address.in_(addresses), m.created_at > since)
            .group_by(m.to_address)
        )
        if len(kept_since) <= _MERGES_LOOKED_UP:  # else a mass merge: every email to the addresses
            holders = {post.lead_id for post in asked}
            holders.update(kept for kept in map(merged_into, kept_since) if kept is not None)
            query = query.where(m.lead_id.in_(sorted(holders)))
        return Counter({str(address): int(n) for address, n in conn.execute(query)})

    def _queue(
        self, conn: Connection, links: Sequence[tuple[AskedConsent, OptInLink]], now: datetime
    ) -> None:
        lead = leads.c
        ids = sorted({post.lead_id for post, _ in links})
        found = {
            int(row.id): row
            for row in conn.execute(
                select(lead.id, lead.email, lead.first_name, lead.locale).where(lead.id.in_(ids))
            )
        }
        expires_at = now + self.expiry
        at = as_utc(now)
        rows = []
        for post, link in links:
            row = found[post.lead_id]
            reader = Reader.of(
                [row.locale], accept_language=post.accept_language, default=self.settings.locale,
                zone=self.zone,
            )  # fmt: skip
            token = sign_link(self.signer, link, expires_at)
            assert post.form.consent is not None
            variables = {
                "lead": {"email": row.email, "first_name": row.first_name or ""},
                "form": {"key": post.form.key, "name": post.form.name or ""},
                "consent": {"text": post.form.consent.text, "version": post.form.consent.version},
                "confirm_url": f"{self.base_url}/forms/confirm/{token}",
                "expires_at": expires_at,
            }
            subject, html, text = self._render(reader, variables)
            rows.append(
                {"lead_id": post.lead_id, "kind": CONFIRMATION_KIND, "to_address": row.email,
                 "subject": subject, "html": html, "text": text,
                 "message_id": new_message_id(self.message_domain, now),
                 "status": "queued", "attempts": 0, "next_attempt_at": at, "created_at": at}
            )  # fmt: skip
        conn.execute(messages.insert(), rows)

    def _render(self, reader: Reader, variables: dict[str, Any]) -> tuple[str, str, str]:
        try:
            return _render(self.templates, reader, variables)
        except TemplateError as exc:
            log.error("templates/forms/confirm.* failed (%s); sending nurture's own instead", exc)
            return _render(self.default_templates, reader, variables)


def _render(env: Any, reader: Reader, variables: dict[str, Any]) -> tuple[str, str, str]:
    subject = render_own(env.get_template("forms/confirm.subject.txt"), reader, variables)
    html = render_own(env.get_template("forms/confirm.html"), reader, variables)
    text = render_own(env.get_template("forms/confirm.txt"), reader, variables)
    # The form's name reaches the subject: one line, whatever it holds.
    return _WHITESPACE.sub(" ", subject).strip()[:998], html, text


def _topics(form: Form) -> tuple[str, ...]:
    return tuple(form.consent.topics) if form.consent is not None else ()
