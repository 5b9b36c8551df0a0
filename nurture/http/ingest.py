"""``POST /api/events``: engagement events from websites, webinar tools, CRMs and ESPs.

Authenticated with the workspace's ``ingest_api_key``, either as ``Authorization: Bearer <key>``
or as an HMAC-SHA256 of the raw body, ``X-Nurture-Signature: sha256=<hex>`` (for senders that sign
webhooks rather than hold a bearer secret). The body is ``{"events": [...]}`` or a bare list of
the items :mod:`nurture.engagement.items` describes. Every item is answered: stored, a retry, or
rejected with its index, field and reason. An ``Idempotency-Key`` header makes a retried batch
count once and get the first answer again; without one, every event needs its own ``id`` (an
event without a time gets the time of receipt, so a retry of it would look new). A body over
5 MiB, over 10,000 events or nested deeper than :data:`~nurture.json_depth.MAX_DEPTH` levels is
refused whole, with the reason.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from nurture.engagement import BatchAnswer, BatchKeyReused, record_batch
from nurture.engagement.batches import body_digest, valid_batch_key
from nurture.http.api_auth import (
    SIGNATURE_HEADER,
    api_error,
    bearer_ok,
    may_be_signed,
    sign_body,
    signature_ok,
    switched_off,
    unauthorised,
)
from nurture.http.context import HttpContext
from nurture.http.reading import BadJson, BodyTooLarge, check_storable, json_document, read_body

log = logging.getLogger("nurture.http")

MAX_BODY = 5 * 1024 * 1024
MAX_ITEMS = 10_000
__all__ = ["SIGNATURE_HEADER", "IngestRoutes", "sign_body"]
_error = api_error


class IngestRoutes:
    def __init__(self, ctx: HttpContext) -> None:
        self.ctx = ctx

    def routes(self) -> list[Route]:
        return [Route("/api/events", self.ingest, methods=["POST"], name="api_events")]

    async def ingest(self, request: Request) -> Response:
        """Record a batch of events; answer per item."""
        key = self.ctx.ingest_key
        if key is None:
            return switched_off()
        bearer = bearer_ok(request, key)
        if not bearer and not may_be_signed(request):
            return unauthorised()
        try:
            body = await read_body(request, MAX_BODY)
        except BodyTooLarge:
            return _error(
                413, f"the body is larger than {MAX_BODY // (1024 * 1024)} MiB; send smaller batches"
            )
        if not bearer and not signature_ok(request, key, body):
            return unauthorised()
        items = _items(body)
        if isinstance(items, Response):
            return items
        batch_key = request.headers.get("idempotency-key")
        if batch_key is not None and not valid_batch_key(batch_key):
            return _error(400, "Idempotency-Key must be 1 to 200 printable ASCII characters")
        now = self.ctx.clock.now()
        try:
            answer = await run_in_threadpool(self._record, items, batch_key, body_digest(body), now)
        except BatchKeyReused as exc:
            return _error(422, str(exc))
        if answer.result is not None:
            by_type = answer.result.by_type
            self.ctx.metrics.count_events(by_type)
            unsubscribes = by_type[("unsubscribe", "human")] + by_type[("unsubscribe", "machine")]
            if unsubscribes:
                self.ctx.metrics.unsubscribes.labels("api").inc(unsubscribes)
        headers = {"idempotent-replayed": "true"} if answer.replayed else None
        return JSONResponse(answer.body, headers=headers)

    def _record(self, items: list[Any], batch_key: str | None, digest: str, now: datetime) -> BatchAnswer:
        with self.ctx.transaction() as conn:
            return record_batch(
                conn,
                self.ctx.lifecycle,
                items,
                now,
                key=batch_key,
                body_sha256=digest,
                unknown_leads=self.ctx.unknown_leads,
            )


def _items(body: bytes) -> list[Any] | Response:
    try:
        document = json_document(body)
        if isinstance(document, dict) and isinstance(document.get("events"), list):
            items: list[Any] = document["events"]
        elif isinstance(document, list):
            items = document
        else:
            raise BadJson('expected {"events": [...]} or a JSON list of events')
        if len(items) > MAX_ITEMS:
            return _error(413, f"{len(items)} events in one batch; send at most {MAX_ITEMS} at a time")
        check_storable(body, items, "events")
    except BadJson as exc:
        return _error(400, str(exc))
    return items
