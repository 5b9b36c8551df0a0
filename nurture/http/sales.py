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
from nurture.http.reading import BodyTooLarge, read_form
from nurture.http.tracking import message_number
from nurture.i18n import Reader
from nurture.sales import actions
from nurture.sales.handoffs import handoff_holder
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
    locale: str | None  # the rep's (or, escalated, the manager's) language for the pages


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
        pages = self.ctx.pages
        try:
            payload = self.ctx.signer.verify(
                PURPOSES[action], request.path_params["token"], now=self.ctx.clock.now()
            )
        except InvalidToken:
            payload = ()
        handoff_id = message_number(payload[0]) if isinstance(payload, tuple) and len(payload) == 1 else None
        if handoff_id is None:
            self.ctx.metrics.refused_tokens.labels(f"sales_{action}").inc()
            return pages.render("invalid", pages.reader(request), 404)
        handoff = await run_in_threadpool(self._handoff, handoff_id)
        if handoff is None:
            return pages.render("invalid", pages.reader(request), 404)
        reader = pages.reader(request, handoff.locale)
        if handoff.status != "pending":
            return pages.render("sales_closed", reader, 409, status=handoff.status)
        if request.method == "GET":
            return self._form(handoff, action, reader)
        try:
            form = await read_form(request)
        except BodyTooLarge:
            return self._form(handoff, action, reader, status=413)
        reason = " ".join(form.get("reason", "").split())[:MAX_REASON]
        if action == "reject" and not reason:
            return self._form(handoff, action, reader, status=400, missing_reason=True)
        try:
            await run_in_threadpool(self._act, handoff, action, reason, self.ctx.clock.now())
        except Closed:
            # Answered meanwhile (another click, the SLA timer): say how it stands now.
            current = await run_in_threadpool(self._handoff, handoff.id)
            status = current.status if current is not None else "closed"
            return pages.render("sales_closed", reader, 409, status=status)
        except Exception:
            log.exception("could not %s handoff %s", action, handoff.id)
            return pages.render("unavailable", reader, 503)
        done = "sales_accepted" if action == "accept" else "sales_rejected"
        return pages.render(done, reader, lead_name=handoff.lead_name)

    def _form(
        self,
        handoff: Handoff,
        action: str,
        reader: Reader,
        *,
        status: int = 200,
        missing_reason: bool = False,
    ) -> Response:
        return self.ctx.pages.render(
            f"sales_{action}",
            reader,
            status,
            lead_name=handoff.lead_name,
            lead_email=handoff.lead_email,
            company=handoff.company,
            score=round(handoff.score),
            missing_reason=missing_reason,
        )

    def _locale(self, team_key: str, rep_id: str | None) -> str | None:
        """The language of whoever holds the handoff, as the sales team says."""
        program = self.ctx.program
        team = program.sales_teams.get(team_key) if program is not None else None
        if team is None:
            return None
        if rep_id is None:
            return team.manager.locale
        try:
            return team.rep(rep_id).locale
        except KeyError:  # a rep since removed from the team
            return None

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
        teams = self.ctx.program.sales_teams if self.ctx.program is not None else {}
        actor = handoff_holder(row.rep_id, row.team_key, teams)
        return Handoff(
            int(row.id), row.status, int(row.lead_id), actor, name, row.email, row.company,
            float(row.score), self._locale(row.team_key, row.rep_id),
        )  # fmt: skip

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
