"""One-click accept and reject for sales reps, from the links in their lead notification.

``GET`` shows what is about to happen (and, for a rejection, asks why); only the ``POST`` of that
page acts, so a mail scanner following the link changes nothing. The token names the handoff
(purpose ``sales-accept`` or ``sales-reject``, payload ``[handoff_id]``); the rep holding the
handoff is the actor. A handoff that is no longer pending is answered 409 and left alone.
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

from nurture.http.context import HttpContext
from nurture.http.pages import TEXTS, language, page
from nurture.http.reading import BodyTooLarge, read_form
from nurture.http.tracking import message_number
from nurture.sales import actions
from nurture.store.schema import handoffs, leads
from nurture.tokens import InvalidToken

log = logging.getLogger("nurture.http")

PURPOSES = {"accept": "sales-accept", "reject": "sales-reject"}
MAX_REASON = 500


@dataclass(frozen=True)
class Handoff:
    id: int
    status: str
    lead_id: int
    actor: str
    lead_name: str
    lead_email: str
    company: str | None
    score: float


class Closed(Exception):
    """The handoff is not pending any more."""


class SalesRoutes:
    def __init__(self, ctx: HttpContext) -> None:
        self.ctx = ctx

    def routes(self) -> list[Route]:
        return [
            Route("/sales/accept/{token}", self.accept, methods=["GET", "POST"], name="sales_accept"),
            Route("/sales/reject/{token}", self.reject, methods=["GET", "POST"], name="sales_reject"),
        ]

    async def accept(self, request: Request) -> Response:
        """``/sales/accept/{token}``: confirm (GET), accept (POST)."""
        return await self._answer(request, "accept")

    async def reject(self, request: Request) -> Response:
        """``/sales/reject/{token}``: ask for a reason (GET), reject (POST)."""
        return await self._answer(request, "reject")

    async def _answer(self, request: Request, action: str) -> Response:
        lang = language(request.headers.get("accept-language"))
        try:
            payload = self.ctx.signer.verify(
                PURPOSES[action], request.path_params["token"], now=self.ctx.clock.now()
            )
        except InvalidToken:
            payload = ()
        handoff_id = message_number(payload[0]) if isinstance(payload, tuple) and len(payload) == 1 else None
        if handoff_id is None:
            self.ctx.metrics.refused_tokens.labels(f"sales_{action}").inc()
            return page("message.html", "invalid", lang, 404)
        handoff = await run_in_threadpool(self._handoff, handoff_id)
        if handoff is None:
            return page("message.html", "invalid", lang, 404)
        if handoff.status != "pending":
            return page("message.html", "sales-closed", lang, 409, values={"status": handoff.status})
        if request.method == "GET":
            return self._form(handoff, action, lang)
        try:
            form = await read_form(request)
        except BodyTooLarge:
            return self._form(handoff, action, lang, status=413)
        reason = " ".join(form.get("reason", "").split())[:MAX_REASON]
        if action == "reject" and not reason:
            return self._form(handoff, action, lang, status=400, error=True)
        try:
            await run_in_threadpool(self._act, handoff, action, reason, self.ctx.clock.now())
        except Closed:
            # Answered meanwhile (another click, the SLA timer): say how it stands now.
            current = await run_in_threadpool(self._handoff, handoff.id)
            status = current.status if current is not None else "closed"
            return page("message.html", "sales-closed", lang, 409, values={"status": status})
        except Exception:
            log.exception("could not %s handoff %s", action, handoff.id)
            return page("message.html", "unavailable", lang, 503)
        done = "sales-accepted" if action == "accept" else "sales-rejected"
        return page("message.html", done, lang, values={"lead": handoff.lead_name})

    def _form(
        self, handoff: Handoff, action: str, lang: str, *, status: int = 200, error: bool = False
    ) -> Response:
        texts = f"sales-{action}"
        return page(
            "sales.html",
            texts,
            lang,
            status,
            lead_name=handoff.lead_name,
            lead_email=handoff.lead_email,
            company=handoff.company,
            score=round(handoff.score),
            ask_reason=action == "reject",
            error=TEXTS[texts][lang]["missing"] if error else None,
        )

    def _handoff(self, handoff_id: int) -> Handoff | None:
        h, lead = handoffs.c, leads.c
        query = (
            select(
                h.id, h.status, h.lead_id, h.rep_id, h.team_key, lead.first_name, lead.last_name,
                lead.email, lead.company, lead.score,
            )
            .join(leads, leads.c.id == h.lead_id)
            .where(h.id == handoff_id)
        )  # fmt: skip
        with self.ctx.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        name = " ".join(part for part in (row.first_name, row.last_name) if part) or row.email
        actor = row.rep_id or f"manager:{row.team_key}"
        return Handoff(
            int(row.id), row.status, int(row.lead_id), actor, name, row.email, row.company, float(row.score)
        )

    def _act(self, handoff: Handoff, action: str, reason: str, now: datetime) -> None:
        if self.ctx.lifecycle is None:
            raise RuntimeError("sales actions need the workspace's program (definitions)")
        with self.ctx.transaction() as conn:
            try:
                if action == "accept":
                    actions.accept(
                        conn,
                        self.ctx.lifecycle,
                        handoff.lead_id,
                        actor=handoff.actor,
                        now=now,
                        handoff_id=handoff.id,
                    )
                else:
                    actions.reject(
                        conn,
                        self.ctx.lifecycle,
                        handoff.lead_id,
                        reason=reason,
                        actor=handoff.actor,
                        now=now,
                        handoff_id=handoff.id,
                    )
            except actions.HandoffClosed:
                raise Closed from None
