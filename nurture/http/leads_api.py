"""``/api/leads``: websites, webinar tools and CRMs create and update leads, and read them back.

``POST /api/leads`` takes one lead object, a list of up to 1,000, or ``{"leads": [...]}``
(:mod:`nurture.leads.items` says what an item holds); each item is answered ``created``,
``updated``, ``unchanged`` or ``rejected`` with its field errors. The whole request is one
transaction: what follows a new or changed lead (events kept for the address join it, fit is
recomputed, an MQL is routed and its rep notified) is committed with it, or nothing is. An
``Idempotency-Key`` header makes a retry get the first answer again without writing anything.
``GET /api/leads/{email}`` answers what ``nurture leads show --json`` prints, and
``GET /api/leads/{email}/export`` what ``nurture leads export`` prints.

Authenticated like ``/api/events`` (:mod:`nurture.http.api_auth`); the reads take only the bearer
key.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from nurture.engagement.batches import BatchAnswer, claim_key, keep_answer
from nurture.errors import LeadNotFound
from nurture.http.api_auth import api_error
from nurture.http.context import HttpContext
from nurture.http.json_api import batch_response, reader_refused, write_batch
from nurture.leads.export import export_lead
from nurture.leads.upsert import REJECTED, upsert_leads
from nurture.reports.lead_profile import lead_profile

log = logging.getLogger("nurture.http")

MAX_BODY = 5 * 1024 * 1024
MAX_LEADS = 1_000
SOURCE = "api"
# Two requests creating the same new address at once on PostgreSQL: the later one meets the
# unique index, and is run again, when it finds the lead and updates it.
ATTEMPTS = 3


class LeadRoutes:
    def __init__(self, ctx: HttpContext) -> None:
        self.ctx = ctx

    def routes(self) -> list[Route]:
        return [
            Route("/api/leads", self.upsert, methods=["POST"], name="api_leads"),
            Route("/api/leads/{email}", self.show, methods=["GET"], name="api_lead"),
            Route("/api/leads/{email}/export", self.export, methods=["GET"], name="api_lead_export"),
        ]

    async def upsert(self, request: Request) -> Response:
        """Create or update leads; answer per item."""
        answer = await write_batch(
            request, self.ctx.ingest_key, self._write, self.ctx.clock.now,
            limit=MAX_BODY, name="leads", most=MAX_LEADS, one="lead",
        )  # fmt: skip
        return answer if isinstance(answer, Response) else batch_response(answer)

    def _write(self, items: list[Any], batch_key: str | None, digest: str, now: datetime) -> BatchAnswer:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                with self.ctx.transaction() as conn:
                    if batch_key is not None:
                        replayed = claim_key(conn, batch_key, digest, len(items), now)
                        if replayed is not None:
                            return replayed
                    lifecycle = self.ctx.lifecycle
                    result = upsert_leads(
                        conn, items, now, then=lifecycle.leads_imported if lifecycle else None, source=SOURCE
                    )
                    body = result.as_json()
                    if batch_key is not None:
                        keep_answer(conn, batch_key, body, accepted=result.count(REJECTED) == 0)
                    return BatchAnswer(body, replayed=False)
            except IntegrityError:
                if attempt == ATTEMPTS:
                    raise
                log.info("a lead of this request was created meanwhile; writing the request again")
        raise AssertionError("unreachable")

    async def show(self, request: Request) -> Response:
        """What ``nurture leads show EMAIL --json`` prints."""
        return await self._document(
            request, lambda conn, email, now: lead_profile(conn, email, self.ctx.program, now)
        )

    async def export(self, request: Request) -> Response:
        """What ``nurture leads export EMAIL`` prints: everything stored about the person."""
        return await self._document(request, export_lead)

    async def _document(
        self, request: Request, document: Callable[[Connection, str, datetime], dict[str, Any]]
    ) -> Response:
        """The lead's document, for the bearer key only; a lead not stored is a 404."""
        refused = reader_refused(request, self.ctx.ingest_key)
        if refused is not None:
            return refused
        email = request.path_params["email"]
        now = self.ctx.clock.now()

        def read() -> dict[str, Any]:
            with self.ctx.engine.connect() as conn:
                return document(conn, email, now)

        try:
            return JSONResponse(await run_in_threadpool(read))
        except LeadNotFound as exc:
            return api_error(404, str(exc))
