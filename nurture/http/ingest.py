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

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from nurture.engagement import BatchAnswer, record_batch
from nurture.http.api_auth import SIGNATURE_HEADER, sign_body
from nurture.http.context import HttpContext
from nurture.http.json_api import batch_response, write_batch

log = logging.getLogger("nurture.http")

MAX_BODY = 5 * 1024 * 1024
MAX_ITEMS = 10_000
__all__ = ["SIGNATURE_HEADER", "IngestRoutes", "sign_body"]


class IngestRoutes:
    def __init__(self, ctx: HttpContext) -> None:
        self.ctx = ctx

    def routes(self) -> list[Route]:
        return [Route("/api/events", self.ingest, methods=["POST"], name="api_events")]

    async def ingest(self, request: Request) -> Response:
        """Record a batch of events; answer per item."""
        answer = await write_batch(
            request, self.ctx.ingest_key, self._record, self.ctx.clock.now,
            limit=MAX_BODY, name="events", most=MAX_ITEMS, sent_in="batch",
        )  # fmt: skip
        if isinstance(answer, Response):
            return answer
        if answer.result is not None:
            by_type = answer.result.by_type
            self.ctx.metrics.count_events(by_type)
            unsubscribes = by_type[("unsubscribe", "human")] + by_type[("unsubscribe", "machine")]
            if unsubscribes:
                self.ctx.metrics.unsubscribes.labels("api").inc(unsubscribes)
        return batch_response(answer)

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
