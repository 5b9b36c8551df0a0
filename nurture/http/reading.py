"""Reading requests: bounded bodies, simple forms, who is asking."""

from __future__ import annotations

from urllib.parse import parse_qs

from starlette.requests import Request

FORM_LIMIT = 16 * 1024  # the largest form we serve is a reason of 500 characters


class BodyTooLarge(Exception):
    """The request body is over the route's limit."""


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
