"""What the JSON APIs (``/api/events``, ``/api/leads``) do alike: who may write or read, the
bounded and authenticated body, its list of items, the ``Idempotency-Key`` and the batch's answer.

Every function answers either what the route goes on with or the :class:`Response` refusing the
request, which the route returns as it is.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from nurture.engagement.batches import BatchAnswer, BatchKeyReused, body_digest, valid_batch_key
from nurture.http.api_auth import (
    api_error,
    bearer_ok,
    may_be_signed,
    signature_ok,
    switched_off,
    unauthorised,
)
from nurture.http.reading import BadJson, BodyTooLarge, check_storable, json_document, read_body


async def authenticated_body(request: Request, key: bytes | None, limit: int) -> bytes | Response:
    """The body of a write, once its sender is known by the bearer key or the body's signature.

    The bearer key is looked at before the body is read, so a stranger without a signature
    header costs no read; a signature can only be checked once the whole body is in.
    """
    if key is None:
        return switched_off()
    bearer = bearer_ok(request, key)
    if not bearer and not may_be_signed(request):
        return unauthorised()
    try:
        body = await read_body(request, limit)
    except BodyTooLarge:
        return api_error(413, f"the body is larger than {limit >> 20} MiB; send smaller batches")
    if not bearer and not signature_ok(request, key, body):
        return unauthorised()
    return body


def reader_refused(request: Request, key: bytes | None) -> Response | None:
    """Why a read is refused (reads take only the bearer key), or None when it may go on."""
    if key is None:
        return switched_off()
    if not bearer_ok(request, key):
        return unauthorised(bearer_only=True)
    return None


def body_items(
    body: bytes, name: str, most: int, *, one: str | None = None, sent_in: str = "request"
) -> list[Any] | Response:
    """The items of ``{name: [...]}`` or a bare JSON list (and, where ``one`` names a single item,
    of one object standing alone), at most ``most`` of them, each storable."""
    try:
        document = json_document(body)
        if isinstance(document, dict) and isinstance(document.get(name), list):
            items: list[Any] = document[name]
        elif isinstance(document, list):
            items = document
        elif one is not None and isinstance(document, dict):
            items = [document]
        elif one is not None:
            raise BadJson(f'expected a {one} object, a JSON list of {name} or {{"{name}": [...]}}')
        else:
            raise BadJson(f'expected {{"{name}": [...]}} or a JSON list of {name}')
        if len(items) > most:
            return api_error(413, f"{len(items)} {name} in one {sent_in}; send at most {most} at a time")
        check_storable(body, items, name)
    except BadJson as exc:
        return api_error(400, str(exc))
    return items


def idempotency_key(request: Request) -> str | Response | None:
    """The request's ``Idempotency-Key`` (None without one), or the 400 for a malformed one."""
    key = request.headers.get("idempotency-key")
    if key is not None and not valid_batch_key(key):
        return api_error(400, "Idempotency-Key must be 1 to 200 printable ASCII characters")
    return key


BatchWriter = Callable[[list[Any], str | None, str, datetime], BatchAnswer]
"""Writes a batch's items in one transaction: (items, Idempotency-Key, body digest, now)."""


async def write_batch(
    request: Request,
    key: bytes | None,
    write: BatchWriter,
    now: Callable[[], datetime],
    *,
    limit: int,
    name: str,
    most: int,
    one: str | None = None,
    sent_in: str = "request",
) -> BatchAnswer | Response:
    """A write's whole way in: its sender authenticated, its body bounded and read, its items
    (:func:`body_items`) and ``Idempotency-Key`` checked, then ``write`` run off the event loop at
    ``now()``, the time of receipt once the whole body is in.
    A key reused for another body is a 422."""
    body = await authenticated_body(request, key, limit)
    if isinstance(body, Response):
        return body
    items = body_items(body, name, most, one=one, sent_in=sent_in)
    if isinstance(items, Response):
        return items
    batch_key = idempotency_key(request)
    if isinstance(batch_key, Response):
        return batch_key
    try:
        return await run_in_threadpool(write, items, batch_key, body_digest(body), now())
    except BatchKeyReused as exc:
        return api_error(422, str(exc))


def batch_response(answer: BatchAnswer) -> JSONResponse:
    """The batch's answer; a retry's says it is the first answer again."""
    headers = {"idempotent-replayed": "true"} if answer.replayed else None
    return JSONResponse(answer.body, headers=headers)
