"""Reading requests: bounded bodies, simple forms, who is asking."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

from starlette.requests import Request

from nurture.engagement.surrogates import UNPAIRED_SURROGATE, has_unpaired_surrogate, may_hold_surrogates
from nurture.json_depth import TOO_DEEP, may_nest_too_deeply, nests_too_deeply

FORM_LIMIT = 16 * 1024  # the largest form we serve is a reason of 500 characters


class BodyTooLarge(Exception):
    """The request body is over the route's limit."""


class BadJson(ValueError):
    """A body the API cannot take; the message says why, for a 400."""


def json_document(body: bytes) -> Any:
    """The body as JSON, or :class:`BadJson` saying what is wrong with it."""
    try:
        return json.loads(body)
    except RecursionError:
        raise BadJson(f"the body is {TOO_DEEP}") from None
    except UnicodeDecodeError:
        raise BadJson("the body is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise BadJson(f"the body is not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from None


def check_storable(body: bytes, items: list[Any], name: str) -> None:
    """:class:`BadJson` naming the first item (``name[i]``) nested too deeply or holding text no
    database can store. The raw text is looked at first: most bodies are never walked."""
    if may_nest_too_deeply(body):
        for index, item in enumerate(items):
            if nests_too_deeply(item):
                raise BadJson(f"{name}[{index}]: {TOO_DEEP}")
    if may_hold_surrogates(body):
        for index, item in enumerate(items):
            if has_unpaired_surrogate(item):
                raise BadJson(f"{name}[{index}]: {UNPAIRED_SURROGATE}")


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, refusing (:class:`BodyTooLarge`) as soon as it is over ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


async def read_form(request: Request, limit: int = FORM_LIMIT) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body as {name: first value} (other bodies: empty)."""
    body = await read_body(request, limit)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in ("", "application/x-www-form-urlencoded"):
        return {}
    try:
        fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True, max_num_fields=50)
    except ValueError:  # more fields than any form of ours has
        return {}
    return {name: values[0] for name, values in fields.items() if values}


def user_agent(request: Request) -> str:
    return request.headers.get("user-agent", "")


def client_ip(request: Request) -> str | None:
    """The reader's address (uvicorn has already applied X-Forwarded-For from trusted proxies)."""
    return request.client.host if request.client else None
