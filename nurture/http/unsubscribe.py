"""Unsubscribing: the confirmation page and the RFC 8058 one-click POST.

``GET /u/{token}`` only shows a page with a button: link scanners and prefetchers follow GET links,
so a GET never unsubscribes. ``POST /u/{token}`` unsubscribes, whether it comes from the page's
button or from a mail client's one-click (``List-Unsubscribe=One-Click``); it needs no cookie or
login, answers 200 without a redirect, and a repeat is harmless.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from nurture.engagement import OptOut, unsubscribe
from nurture.http.context import HttpContext
from nurture.http.pages import mask_email
from nurture.http.reading import BodyTooLarge, read_body
from nurture.http.tracking import message_number
from nurture.store.schema import leads
from nurture.tokens import InvalidToken

log = logging.getLogger("nurture.http")

ONE_CLICK = b"One-Click"  # RFC 8058: the body is List-Unsubscribe=One-Click (form or multipart)
BODY_LIMIT = 64 * 1024


@dataclass(frozen=True)
class Subscriber:
    email: str
    unsubscribed: bool
    locale: str | None


class UnsubscribeRoutes:
    def __init__(self, ctx: HttpContext) -> None:
        self.ctx = ctx

    def routes(self) -> list[Route]:
        return [
            Route("/u/{token}", self.confirm_page, methods=["GET"], name="unsubscribe_page"),
            Route("/u/{token}", self.unsubscribe, methods=["POST"], name="unsubscribe"),
        ]

    def _read_token(self, request: Request) -> tuple[int | None, int] | None:
        try:
            message_ref, lead_ref = self.ctx.tracker.read_unsubscribe(request.path_params["token"])
        except InvalidToken:
            return None
        lead_id = message_number(lead_ref)
        if lead_id is None:
            return None
        return message_number(message_ref), lead_id

    async def confirm_page(self, request: Request) -> Response:
        """``GET /u/{token}``: ask; never unsubscribe."""
        pages = self.ctx.pages
        found = self._read_token(request)
        if found is None:
            self.ctx.metrics.refused_tokens.labels("unsubscribe").inc()
            return pages.render("invalid", pages.reader(request), 404)
        lead = await run_in_threadpool(self._lead, found[1])
        if lead is None:  # erased meanwhile: its address is suppressed already
            return pages.render("unsubscribed", pages.reader(request), email=None)
        reader = pages.reader(request, lead.locale)
        if lead.unsubscribed:
            return pages.render("unsubscribed", reader, email=mask_email(lead.email))
        return pages.render("unsubscribe", reader, email=mask_email(lead.email))

    async def unsubscribe(self, request: Request) -> Response:
        """``POST /u/{token}``: unsubscribe (one-click or the page's button)."""
        pages = self.ctx.pages
        found = self._read_token(request)
        if found is None:
            self.ctx.metrics.refused_tokens.labels("unsubscribe").inc()
            return pages.render("invalid", pages.reader(request), 404)
        message_id, lead_id = found
        try:
            body = await read_body(request, BODY_LIMIT)
        except BodyTooLarge:
            body = b""  # the request itself is the intent; its body only says which channel
        channel = "one_click" if ONE_CLICK in body else "page"
        now = self.ctx.clock.now()
        try:
            outcome = await run_in_threadpool(self._unsubscribe, lead_id, message_id, channel, now)
        except Exception:
            log.exception("could not record an unsubscribe")
            return pages.render("unavailable", pages.reader(request), 503)
        if not outcome.already:
            self.ctx.metrics.unsubscribes.labels(channel).inc()
            if outcome.event_id is not None:
                self.ctx.metrics.count_event("unsubscribe", None)
        lead = await run_in_threadpool(self._lead, lead_id)
        if lead is None:
            return pages.render("unsubscribed", pages.reader(request), email=None)
        return pages.render("unsubscribed", pages.reader(request, lead.locale), email=mask_email(lead.email))

    def _unsubscribe(self, lead_id: int, message_id: int | None, channel: str, now: datetime) -> OptOut:
        with self.ctx.transaction() as conn:
            return unsubscribe(conn, lead_id, now, channel, then=self.ctx.lifecycle, message_id=message_id)

    def _lead(self, lead_id: int) -> Subscriber | None:
        c = leads.c
        with self.ctx.engine.connect() as conn:
            row = conn.execute(select(c.email, c.unsubscribed_at, c.locale).where(c.id == lead_id)).first()
        if row is None:
            return None
        return Subscriber(row.email, row.unsubscribed_at is not None, row.locale)
