"""Unsubscribing: the preference centre and the RFC 8058 one-click POST.

``GET /u/{token}`` only shows a page: link scanners and prefetchers follow GET links, so a GET
never unsubscribes. The page lists the subscription topics the lead still receives, the email's
own topic chosen, and "all marketing emails"; ``POST /u/{token}`` with the page's choice leaves
that topic or all of them. A mail client's one-click POST (``List-Unsubscribe=One-Click``) leaves
the topic the token names, the topic of the email whose header it came from; a token without a
topic (transactional emails, emails sent before topics) leaves all marketing mail, as it always
did. A POST needs no cookie or login, answers 200 without a redirect, and a repeat is harmless.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import parse_qs

from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from nurture.definitions import Program
from nurture.definitions.topic import BUILT_IN_TOPIC, DEFAULT_TOPIC, Topic
from nurture.engagement import OptOut
from nurture.engagement.preferences import leave_all, leave_topic, left_topics
from nurture.engagement.suppress import lead_of_link
from nurture.http.context import HttpContext
from nurture.http.pages import mask_email
from nurture.http.reading import BodyTooLarge, client_ip, read_body
from nurture.http.tracking import message_number
from nurture.leads.consent import current_consents
from nurture.store.schema import leads, messages
from nurture.tokens import InvalidToken

log = logging.getLogger("nurture.http")

ONE_CLICK = b"One-Click"  # RFC 8058: the body is List-Unsubscribe=One-Click (form or multipart)
BODY_LIMIT = 64 * 1024
LEAVE_ALL = "all"  # the page's choice "all marketing emails"; a topic is "topic:KEY"


@dataclass(frozen=True)
class Link:
    """What an unsubscribe token says: the email, the lead, the topic its header names."""

    message_id: int | None
    lead_id: int
    topic: str | None


@dataclass(frozen=True)
class Subscriber:
    """The lead as the page shows them: masked address, whether they left all, topics left."""

    email: str
    left_all: bool
    left: frozenset[str]
    email_topic: str | None  # the topic of the email the link came from
    locale: str | None


@dataclass(frozen=True)
class ShownTopic:
    key: str
    name: str
    description: str | None
    built_in: bool  # ``marketing`` named by no Topic: the page words it from nurture's catalogue


def offered_topics(program: Program | None) -> dict[str, Topic]:
    """The topics the page offers: those defined, and ``marketing`` when a marketing campaign is
    in it (a program of topics of its own may have none)."""
    if program is None:
        return {DEFAULT_TOPIC: BUILT_IN_TOPIC}
    topics = program.topics
    defined = {item.definition.key for item in program.of_kind("Topic")}
    used = {c.topic for c in program.campaigns.values() if c.mail == "marketing"}
    return {key: topic for key, topic in topics.items() if key in defined or key in used}


class UnsubscribeRoutes:
    def __init__(self, ctx: HttpContext) -> None:
        self.ctx = ctx

    def routes(self) -> list[Route]:
        return [
            Route("/u/{token}", self.preferences_page, methods=["GET"], name="unsubscribe_page"),
            Route("/u/{token}", self.unsubscribe, methods=["POST"], name="unsubscribe"),
        ]

    def _read_token(self, request: Request) -> Link | None:
        try:
            message_ref, lead_ref, topic = self.ctx.tracker.read_unsubscribe(request.path_params["token"])
        except InvalidToken:
            return None
        lead_id = message_number(lead_ref)
        if lead_id is None:
            return None
        return Link(message_number(message_ref), lead_id, topic)

    async def preferences_page(self, request: Request) -> Response:
        """``GET /u/{token}``: show the choices; never unsubscribe."""
        pages = self.ctx.pages
        link = self._read_token(request)
        if link is None:
            self.ctx.metrics.refused_tokens.labels("unsubscribe").inc()
            return pages.render("invalid", pages.reader(request), 404)
        found = await run_in_threadpool(self._subscriber, link)
        if found is None:  # erased meanwhile: its address is suppressed already
            return pages.render("unsubscribed", pages.reader(request), email=None)
        reader = pages.reader(request, found.locale)
        masked = mask_email(found.email)
        if found.left_all:
            return pages.render("unsubscribed", reader, email=masked)
        topics = offered_topics(self.ctx.program)
        still = [key for key in topics if key not in found.left]
        chosen = link.topic or found.email_topic
        return pages.render(
            "unsubscribe",
            reader,
            email=masked,
            topics=[_shown(topics[key], reader.lang) for key in still],
            left=[_shown(topics[key], reader.lang) for key in topics if key in found.left],
            chosen=f"topic:{chosen}" if chosen in still else LEAVE_ALL,
        )

    async def unsubscribe(self, request: Request) -> Response:
        """``POST /u/{token}``: leave the chosen topic or all (one-click: the token's topic)."""
        pages = self.ctx.pages
        link = self._read_token(request)
        if link is None:
            self.ctx.metrics.refused_tokens.labels("unsubscribe").inc()
            return pages.render("invalid", pages.reader(request), 404)
        try:
            body = await read_body(request, BODY_LIMIT)
        except BodyTooLarge:
            body = b""  # the request itself is the intent; its body only says which channel
        one_click = ONE_CLICK in body
        channel = "one_click" if one_click else "page"
        topic = link.topic if one_click else _chosen_topic(body, link.topic)
        if topic is not None and topic not in offered_topics(self.ctx.program) and topic != link.topic:
            # A topic the page never offered: a changed form, not a choice the reader made.
            return pages.render("invalid", pages.reader(request), 400)
        now = self.ctx.clock.now()
        ip = client_ip(request)
        try:
            outcome = await run_in_threadpool(self._leave, link, topic, channel, ip, now)
        except Exception:
            log.exception("could not record an unsubscribe")
            return pages.render("unavailable", pages.reader(request), 503)
        if not outcome.already:
            self.ctx.metrics.unsubscribes.labels(channel).inc()
            if outcome.event_id is not None:
                self.ctx.metrics.count_event("unsubscribe", None)
        found = await run_in_threadpool(self._subscriber, link)
        if found is None:
            return pages.render("unsubscribed", pages.reader(request), email=None)
        reader = pages.reader(request, found.locale)
        if topic is None:
            return pages.render("unsubscribed", reader, email=mask_email(found.email))
        topics = offered_topics(self.ctx.program)
        shown = (
            _shown(topics[topic], reader.lang) if topic in topics else ShownTopic(topic, topic, None, False)
        )
        return pages.render("left_topic", reader, email=mask_email(found.email), topic=shown)

    def _leave(self, link: Link, topic: str | None, channel: str, ip: str | None, now: datetime) -> OptOut:
        then = self.ctx.lifecycle
        with self.ctx.transaction() as conn:
            if topic is None:
                return leave_all(
                    conn, link.lead_id, offered_topics(self.ctx.program), now,
                    channel=channel, ip=ip, then=then, message_id=link.message_id,
                )  # fmt: skip
            return leave_topic(
                conn, link.lead_id, topic, now, channel=channel, ip=ip, then=then, message_id=link.message_id
            )

    def _subscriber(self, link: Link) -> Subscriber | None:
        with self.ctx.engine.connect() as conn:
            # A record merged into another since the email went out: the page shows the kept one.
            lead_id = lead_of_link(conn, link.lead_id, link.message_id)
            if lead_id is None:
                return None
            c = leads.c
            row = conn.execute(select(c.email, c.unsubscribed_at, c.locale).where(c.id == lead_id)).first()
            if row is None:
                return None
            left = left_topics(conn, row.email)
            left |= {
                topic
                for (_, topic), consent in current_consents(conn, [lead_id]).items()
                if consent.status == "withdrawn"
            }
            campaign = None
            if link.message_id is not None:
                m = messages.c
                campaign = conn.scalar(
                    select(m.campaign_key).where(m.id == link.message_id, m.lead_id == lead_id)
                )
        program = self.ctx.program
        email_topic = None
        if program is not None and campaign in program.campaigns:
            email_topic = program.campaigns[campaign].topic
        return Subscriber(
            row.email, row.unsubscribed_at is not None, frozenset(left), email_topic, row.locale
        )


def _chosen_topic(body: bytes, token_topic: str | None) -> str | None:
    """The page's choice: a topic, or None for all. Without a choice (a page from before topics,
    a bare POST) the token's topic, else all."""
    try:
        fields = parse_qs(body.decode("utf-8", "replace"), max_num_fields=20)
    except ValueError:
        fields = {}
    choice = (fields.get("leave") or [""])[0]
    if choice == LEAVE_ALL:
        return None
    if choice.startswith("topic:"):
        return choice.removeprefix("topic:")
    return token_topic


def _shown(topic: Topic, lang: str) -> ShownTopic:
    return ShownTopic(topic.key, topic.name_in(lang), topic.description_in(lang), topic is BUILT_IN_TOPIC)
