"""A good form post, stored: the lead, the form's event, the consent, and for double opt-in the
confirmation email, all in the caller's transaction.

The lead is created or updated by the lead importer (so fit is recomputed, new leads reach
``lead_created`` campaigns and may become MQLs as after any import); the event is recorded like
one from the ingest API. A visitor who clicks twice within :data:`DOUBLE_POST_WINDOW` posts the
same values twice: the second post is answered like the first and records nothing.
Posts are stored together: a group of posts (:meth:`FormIntake.accept_many`) is written with one
lookup, one insert and one run of what follows per table, each post answered as if it had come
alone. Consent is its own record per topic (:mod:`nurture.leads.consent`); the lead's stage is not
touched: an SQL who fills in a newsletter form stays an SQL.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import Connection, select

from nurture.definitions import Program
from nurture.definitions.form import OPT_IN_CONFIRMED, Form
from nurture.engagement import record_events
from nurture.forms.confirmation import (
    CONFIRMATION_KIND,
    AskedConsent,
    ConfirmationMail,
    ConfirmationSent,
    consent_rows,
)
from nurture.forms.opt_in import Confirmation, confirm, read_link
from nurture.forms.submission import Submission
from nurture.leads.importer import UpsertStatus
from nurture.leads.validate import validate_record
from nurture.leads.write_rows import write_leads
from nurture.settings import Settings
from nurture.store.schema import consents, events, leads
from nurture.tokens import TokenSigner

if TYPE_CHECKING:
    from nurture.facts import WhatFollows

__all__ = ["CONFIRMATION_KIND", "Accepted", "ConfirmationSent", "FormIntake", "Post", "TwinPosts"]

DOUBLE_POST_WINDOW = timedelta(seconds=10)


@dataclass(frozen=True)
class Accepted:
    """What a good post did."""

    lead_id: int
    lead: UpsertStatus
    repeated: bool  # a double post: nothing recorded this time
    confirmation: ConfirmationSent | None = None  # double opt-in only


@dataclass(frozen=True)
class Post:
    """A checked post waiting to be stored: the form, what it says, and who sent it when."""

    form: Form
    submission: Submission
    ip: str | None
    accept_language: str | None  # the visitor's browser's: the confirmation email's language
    keys: tuple[str, str]  # its event ids in its double-post window and the one before

    @classmethod
    def of(
        cls, form: Form, submission: Submission, now: datetime, ip: str | None, accept_language: str | None
    ) -> Post:
        return cls(form, submission, ip, accept_language, _post_keys(form, submission, now))


class TwinPosts(Exception):
    """Another process stored one of a group's posts at the same moment: the group is rolled
    back, to be stored post by post (where a twin is answered as a double post)."""


class FormIntake:
    """Stores good posts of a program's forms; built once per process (settings and key)."""

    def __init__(self, program: Program, settings: Settings, signer: TokenSigner) -> None:
        self.program = program
        self.settings = settings
        self.signer = signer
        self.mail = ConfirmationMail(program, settings, signer)
        self.expiry = self.mail.expiry
        self.topics = frozenset(  # every subscription topic the program's campaigns and forms name
            {c.topic for c in program.campaigns.values()}
            | {t for f in program.forms.values() if f.consent for t in f.consent.topics}
        )

    def accept_many(
        self, conn: Connection, then: WhatFollows | None, posts: Sequence[Post], now: datetime
    ) -> list[Accepted]:
        """Store checked posts in the caller's transaction, each as if it had come alone and in
        order: a post of an address an earlier post of the group named waits for that one.
        :class:`TwinPosts` when another process stored one of them meanwhile (more than one post)."""
        answers: list[Accepted | None] = [None] * len(posts)
        waiting = list(range(len(posts)))
        while waiting:
            now_round: list[int] = []
            later: list[int] = []
            named: set[str] = set()
            for n in waiting:
                email = posts[n].submission.email
                (later if email in named else now_round).append(n)
                named.add(email)
            for n, accepted in zip(
                now_round, self._accept_round(conn, then, [posts[n] for n in now_round], now), strict=True
            ):
                answers[n] = accepted
            waiting = later
        return [a for a in answers if a is not None]

    def _accept_round(
        self, conn: Connection, then: WhatFollows | None, posts: Sequence[Post], now: datetime
    ) -> list[Accepted]:
        """Posts of different addresses, stored together."""
        keys = sorted({key for post in posts for key in post.keys})
        taken = set(conn.scalars(select(events.c.idempotency_key).where(events.c.idempotency_key.in_(keys))))
        repeated = [n for n, post in enumerate(posts) if taken.intersection(post.keys)]
        answers: list[Accepted | None] = [None] * len(posts)
        if repeated:
            emails = [posts[n].submission.email for n in repeated]
            ids = dict(conn.execute(select(leads.c.email, leads.c.id).where(leads.c.email.in_(emails))).all())
            for n in repeated:
                answers[n] = Accepted(
                    int(ids.get(posts[n].submission.email) or 0), "unchanged", repeated=True
                )
        fresh = [n for n in range(len(posts)) if answers[n] is None]
        if fresh:
            for n, accepted in zip(
                fresh, self._store(conn, then, [posts[n] for n in fresh], now), strict=True
            ):
                answers[n] = accepted
        return [a for a in answers if a is not None]

    def _store(
        self, conn: Connection, then: WhatFollows | None, posts: Sequence[Post], now: datetime
    ) -> list[Accepted]:
        """New posts of different addresses: the leads, the forms' events, the consent."""
        lead_ids: list[int] = [0] * len(posts)
        statuses: list[UpsertStatus] = ["unchanged"] * len(posts)
        created: list[int] = []
        changed: list[int] = []
        suppressed = 0  # of these addresses
        by_form: dict[str, list[int]] = {}
        for n, post in enumerate(posts):
            by_form.setdefault(post.form.key, []).append(n)
        for key, positions in by_form.items():
            # As a leads file's rows: blank values erase nothing, a new lead starts at its stage.
            rows = [validate_record(posts[n].submission.record) for n in positions]
            written = write_leads(conn, rows, now, f"form {key}", actor=f"form {key}")
            for n, lead_id, outcome in zip(positions, written.lead_ids, written.outcomes, strict=True):
                assert lead_id is not None  # not a dry run: a new lead has its id
                lead_ids[n] = lead_id
                statuses[n] = outcome  # type: ignore[call-overload]
            created += written.created
            changed += written.changed
            suppressed += written.suppressed
        if then is not None and (created or changed):
            then.leads_imported(conn, created, changed, now)
        items = [
            {"type": p.form.event, "email": p.submission.email, "id": p.keys[0], "form": p.form.key}
            for p in posts
        ]
        result = record_events(conn, then, items, now)
        if result.stored < len(items):
            if len(posts) > 1:
                raise TwinPosts(f"{len(items) - result.stored} of {len(items)} form posts stored elsewhere")
            # The same post, stored by a twin request a moment ago.
            return [Accepted(lead_ids[0], statuses[0], repeated=True)]
        consenting = [
            (n, AskedConsent(post.form, lead_ids[n], post.submission.email, post.ip, post.accept_language))
            for n, post in enumerate(posts)
            if post.submission.consented and post.form.consent is not None
        ]
        confirmed = consent_rows([a for _, a in consenting if not a.form.double_opt_in], "confirmed", now)
        if confirmed:
            conn.execute(consents.insert(), confirmed)
        double = [(n, a) for n, a in consenting if a.form.double_opt_in]
        sent: dict[int, ConfirmationSent] = {}
        if double:
            sent = dict(
                zip(
                    (n for n, _ in double),
                    self.mail.ask(conn, [a for _, a in double], now, any_suppressed=suppressed > 0),
                    strict=True,
                )
            )
        return [Accepted(lead_ids[n], statuses[n], False, sent.get(n)) for n in range(len(posts))]

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


def _post_keys(form: Form, submission: Submission, now: datetime) -> tuple[str, str]:
    """The event ids of this post in this window of :data:`DOUBLE_POST_WINDOW` and the one before:
    the same values posted again within the window find one of them taken."""
    values = json.dumps(submission.record, sort_keys=True, ensure_ascii=False, default=str)
    digest = hashlib.sha256(f"{form.key}\0{values}\0{submission.consented}".encode()).hexdigest()[:40]
    window = int(now.timestamp() // DOUBLE_POST_WINDOW.total_seconds())
    return f"form:{digest}:{window}", f"form:{digest}:{window - 1}"
