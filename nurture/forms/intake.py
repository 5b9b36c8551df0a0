"""A good form post, stored: the lead, the form's event, the consent, and for double opt-in the
confirmation email, all in the caller's transaction.

The lead is created or updated by the lead importer (so fit is recomputed, new leads reach
``lead_created`` campaigns and may become MQLs as after any import); the event is recorded like
one from the ingest API. A visitor who clicks twice within :data:`DOUBLE_POST_WINDOW` posts the
same values twice: the second post is answered like the first and records nothing.
Consent is its own record per topic (:mod:`nurture.leads.consent`); the lead's stage is not
touched: an SQL who fills in a newsletter form stays an SQL.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from jinja2 import TemplateError
from sqlalchemy import Connection, func, select

from nurture.clock import as_utc
from nurture.definitions import Program
from nurture.definitions.form import OPT_IN_CONFIRMED, Form
from nurture.delivery.message_ids import new_message_id
from nurture.durations import parse_duration
from nurture.engagement import record_events
from nurture.forms.opt_in import (
    LIFTABLE,
    Confirmation,
    OptInLink,
    confirm,
    expire_pending,
    read_link,
    sign_link,
)
from nurture.forms.submission import Submission
from nurture.i18n import DEFAULT_TEMPLATES, Reader, own_environment, render_own
from nurture.leads.addresses import suppression_hash
from nurture.leads.consent import current_consents, record_consent
from nurture.leads.importer import LeadImporter, UpsertStatus
from nurture.settings import Settings
from nurture.store.schema import consents, events, leads, messages, suppressions
from nurture.tokens import TokenSigner
from nurture.zones import zone

if TYPE_CHECKING:
    from nurture.facts import WhatFollows

log = logging.getLogger(__name__)

DOUBLE_POST_WINDOW = timedelta(seconds=10)
CONFIRMATION_KIND = "opt_in_confirmation"  # messages.kind: nurture's own, untracked, no List-Unsubscribe
_WHITESPACE = re.compile(r"\s+")

ConfirmationSent = Literal["sent", "already_confirmed", "address_limit", "ip_limit", "suppressed"]


@dataclass(frozen=True)
class Accepted:
    """What a good post did."""

    lead_id: int
    lead: UpsertStatus
    repeated: bool  # a double post: nothing recorded this time
    confirmation: ConfirmationSent | None = None  # double opt-in only


class FormIntake:
    """Stores good posts of a program's forms; built once per process (settings and key)."""

    def __init__(self, program: Program, settings: Settings, signer: TokenSigner) -> None:
        self.program = program
        self.settings = settings
        self.signer = signer
        self.expiry = parse_duration(settings.opt_in_expiry)
        self.base_url = settings.base_url.rstrip("/")
        self.message_domain = settings.from_address.rpartition("@")[2].strip(" >") or "nurture.invalid"
        self.templates = own_environment(program.templates_dir, DEFAULT_TEMPLATES)
        self.default_templates = own_environment(DEFAULT_TEMPLATES)
        self.zone = zone(settings.timezone)

    @property
    def topics(self) -> set[str]:
        """Every subscription topic the program's campaigns and forms name."""
        found = {c.topic for c in self.program.campaigns.values()}
        found.update(t for f in self.program.forms.values() if f.consent for t in f.consent.topics)
        return found

    def accept(
        self,
        conn: Connection,
        then: WhatFollows | None,
        form: Form,
        submission: Submission,
        now: datetime,
        ip: str | None,
        *,
        accept_language: str | None = None,
    ) -> Accepted:
        """Store a checked post; ``then`` is what follows a change to a lead. ``accept_language``
        (the visitor's browser's) chooses the confirmation email's language when the lead has no
        locale; else the workspace's ``locale``."""
        key, earlier = _post_keys(form, submission, now)
        if conn.execute(select(events.c.id).where(events.c.idempotency_key.in_([key, earlier]))).first():
            lead_id = conn.scalar(select(leads.c.id).where(leads.c.email == submission.email))
            return Accepted(int(lead_id or 0), "unchanged", repeated=True)
        importer = LeadImporter(conn.engine, now, on_batch=then.leads_imported if then else None)
        upserted = importer.upsert(conn, submission.record, f"form {form.key}")
        item = {"type": form.event, "email": submission.email, "id": key, "form": form.key}
        result = record_events(conn, then, [item], now)
        if result.stored == 0:  # the same post, stored by a twin request a moment ago
            return Accepted(upserted.lead_id, upserted.status, repeated=True)
        confirmation = None
        if submission.consented and form.consent is not None:
            confirmation = self._consent(conn, form, upserted.lead_id, submission, now, ip, accept_language)
        return Accepted(upserted.lead_id, upserted.status, False, confirmation)

    def _consent(
        self,
        conn: Connection,
        form: Form,
        lead_id: int,
        submission: Submission,
        now: datetime,
        ip: str | None,
        accept_language: str | None,
    ) -> ConfirmationSent | None:
        assert form.consent is not None
        version = form.consent.version
        if not form.double_opt_in:
            for topic in form.consent.topics:
                record_consent(
                    conn, lead_id, topic, "confirmed", now, source="form", text_version=version, ip=ip
                )
            return None
        expire_pending(conn, now, self.expiry, lead_ids=[lead_id])
        states = current_consents(conn, [lead_id])
        open_topics = [
            t for t in form.consent.topics
            if (found := states.get((lead_id, t))) is None or found.status != "confirmed"
        ]  # fmt: skip
        if not open_topics:
            return "already_confirmed"
        for topic in open_topics:
            record_consent(conn, lead_id, topic, "pending", now, source="form", text_version=version, ip=ip)
        blocked = conn.scalar(
            select(suppressions.c.reason).where(
                suppressions.c.email_hash == suppression_hash(submission.email)
            )
        )
        if blocked is not None and blocked not in LIFTABLE:
            return "suppressed"  # a bounced or complaining address is never mailed, this email included
        since = now - timedelta(days=1)
        if self._emails_to(conn, submission.email, since) >= self.settings.opt_in_emails_per_address:
            return "address_limit"
        if ip is not None and self._asked_from(conn, ip, since) > self.settings.opt_in_emails_per_ip:
            return "ip_limit"
        link = OptInLink(lead_id, form.key, version, tuple(open_topics))
        self._queue_email(conn, form, lead_id, link, now, accept_language)
        return "sent"

    def _emails_to(self, conn: Connection, address: str, since: datetime) -> int:
        m = messages.c
        query = select(func.count()).where(
            m.kind == CONFIRMATION_KIND, m.to_address == address, m.created_at > since
        )
        return int(conn.scalar(query) or 0)

    def _asked_from(self, conn: Connection, ip: str, since: datetime) -> int:
        """Double opt-in posts from ``ip`` since then (each writes its pending rows at one moment)."""
        c = consents.c
        posts = select(c.lead_id, c.at).where(c.status == "pending", c.ip == ip, c.at > since).distinct()
        return int(conn.scalar(select(func.count()).select_from(posts.subquery())) or 0)

    def _queue_email(
        self,
        conn: Connection,
        form: Form,
        lead_id: int,
        link: OptInLink,
        now: datetime,
        accept_language: str | None,
    ) -> None:
        lead = leads.c
        row = conn.execute(select(lead.email, lead.first_name, lead.locale).where(lead.id == lead_id)).one()
        reader = Reader.of(
            [row.locale], accept_language=accept_language, default=self.settings.locale, zone=self.zone
        )
        expires_at = now + self.expiry
        token = sign_link(self.signer, link, expires_at)
        assert form.consent is not None
        variables = {
            "lead": {"email": row.email, "first_name": row.first_name or ""},
            "form": {"key": form.key, "name": form.name or ""},
            "consent": {"text": form.consent.text, "version": form.consent.version},
            "confirm_url": f"{self.base_url}/forms/confirm/{token}",
            "expires_at": expires_at,
        }
        subject, html, text = self._render(reader, variables)
        at = as_utc(now)
        conn.execute(
            messages.insert().values(
                lead_id=lead_id, kind=CONFIRMATION_KIND, to_address=row.email, subject=subject, html=html,
                text=text, message_id=new_message_id(self.message_domain, now), status="queued",
                attempts=0, next_attempt_at=at, created_at=at,
            )
        )  # fmt: skip

    def _render(self, reader: Reader, variables: dict[str, Any]) -> tuple[str, str, str]:
        try:
            return _render(self.templates, reader, variables)
        except TemplateError as exc:
            log.error("templates/forms/confirm.* failed (%s); sending nurture's own instead", exc)
            return _render(self.default_templates, reader, variables)

    def confirm(
        self, conn: Connection, then: WhatFollows | None, token: str, now: datetime, ip: str | None
    ) -> Confirmation | None:
        """Follow a confirmation link (:class:`InvalidToken` when it is not one, or expired):
        the consent confirmed, what it lifted, and an ``opt_in_confirmed`` event recorded once."""
        link = read_link(self.signer, token, now)
        done = confirm(conn, link, now, ip=ip, expiry=self.expiry, all_topics=self.topics)
        if done is not None and done.confirmed:
            # done.lead_id, not the link's: the record may have been merged into another since.
            email = conn.scalar(select(leads.c.email).where(leads.c.id == done.lead_id))
            digest = hashlib.sha256(token.encode()).hexdigest()[:40]
            item = {
                "type": OPT_IN_CONFIRMED, "email": email, "id": f"opt-in:{digest}", "form": link.form_key,
                "topics": list(done.confirmed),
            }  # fmt: skip
            record_events(conn, then, [item], now)
        return done


def _render(env: Any, reader: Reader, variables: dict[str, Any]) -> tuple[str, str, str]:
    subject = render_own(env.get_template("forms/confirm.subject.txt"), reader, variables)
    html = render_own(env.get_template("forms/confirm.html"), reader, variables)
    text = render_own(env.get_template("forms/confirm.txt"), reader, variables)
    # The form's name reaches the subject: one line, whatever it holds.
    return _WHITESPACE.sub(" ", subject).strip()[:998], html, text


def _post_keys(form: Form, submission: Submission, now: datetime) -> tuple[str, str]:
    """The event ids of this post in this window of :data:`DOUBLE_POST_WINDOW` and the one before:
    the same values posted again within the window find one of them taken."""
    values = json.dumps(submission.record, sort_keys=True, ensure_ascii=False, default=str)
    digest = hashlib.sha256(f"{form.key}\0{values}\0{submission.consented}".encode()).hexdigest()[:40]
    window = int(now.timestamp() // DOUBLE_POST_WINDOW.total_seconds())
    return f"form:{digest}:{window}", f"form:{digest}:{window - 1}"
