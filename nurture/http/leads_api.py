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
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from nurture.engagement.batches import (
    BatchAnswer,
    BatchKeyReused,
    body_digest,
    claim_key,
    keep_answer,
    valid_batch_key,
)
from nurture.errors import LeadNotFound
from nurture.http.api_auth import (
    api_error,
    bearer_ok,
    may_be_signed,
    signature_ok,
    switched_off,
    unauthorised,
)
from nurture.http.context import HttpContext
from nurture.http.reading import BadJson, BodyTooLarge, check_storable, json_document, read_body
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
        key = self.ctx.ingest_key
        if key is None:
            return switched_off()
        bearer = bearer_ok(request, key)
        if not bearer and not may_be_signed(request):
            return unauthorised()
        try:
            body = await read_body(request, MAX_BODY)
        except BodyTooLarge:
            return api_error(413, f"the body is larger than {MAX_BODY >> 20} MiB; send smaller batches")
        if not bearer and not signature_ok(request, key, body):
            return unauthorised()
        items = _items(body)
        if isinstance(items, Response):
            return items
        batch_key = request.headers.get("idempotency-key")
        if batch_key is not None and not valid_batch_key(batch_key):
            return api_error(400, "Idempotency-Key must be 1 to 200 printable ASCII characters")
        now = self.ctx.clock.now()
        try:
            answer = await run_in_threadpool(self._write, items, batch_key, body_digest(body), now)
        except BatchKeyReused as exc:
            return api_error(422, str(exc))
        headers = {"idempotent-replayed": "true"} if answer.replayed else None
        return JSONResponse(answer.body, headers=headers)

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

    def _reader(self, request: Request) -> Response | None:
        key = self.ctx.ingest_key
        if key is None:
            return switched_off()
        if not bearer_ok(request, key):
            return unauthorised(bearer_only=True)
        return None

    async def show(self, request: Request) -> Response:
        """What ``nurture leads show EMAIL --json`` prints."""
        refused = self._reader(request)
        if refused is not None:
            return refused
        email = request.path_params["email"]
        now = self.ctx.clock.now()

        def read() -> dict[str, Any]:
            with self.ctx.engine.connect() as conn:
                return lead_profile(conn, email, self.ctx.program, now)

        try:
            return JSONResponse(await run_in_threadpool(read))
        except LeadNotFound as exc:
            return api_error(404, str(exc))

    async def export(self, request: Request) -> Response:
        """What ``nurture leads export EMAIL`` prints: everything stored about the person."""
        refused = self._reader(request)
        if refused is not None:
            return refused
        email = request.path_params["email"]
        now = self.ctx.clock.now()

        def read() -> dict[str, Any]:
            with self.ctx.engine.connect() as conn:
                return export_lead(conn, email, now)

        try:
            return JSONResponse(await run_in_threadpool(read))
        except LeadNotFound as exc:
            return api_error(404, str(exc))


def _items(body: bytes) -> list[Any] | Response:
    try:
        document = json_document(body)
        if isinstance(document, dict) and isinstance(document.get("leads"), list):
            items: list[Any] = document["leads"]
        elif isinstance(document, list):
            items = document
        elif isinstance(document, dict):
            items = [document]
        else:
            raise BadJson('expected a lead object, a JSON list of leads or {"leads": [...]}')
        if len(items) > MAX_LEADS:
            return api_error(413, f"{len(items)} leads in one request; send at most {MAX_LEADS} at a time")
        check_storable(body, items, "leads")
    except BadJson as exc:
        return api_error(400, str(exc))
    return items
