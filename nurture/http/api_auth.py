"""Who may use the API (``/api/events``, ``/api/leads``): the holder of ``ingest_api_key``.

As ``Authorization: Bearer <key>``, or, for a request with a body, as an HMAC-SHA256 of the raw
body, ``X-Nurture-Signature: sha256=<hex>`` (for senders that sign webhooks rather than hold a
bearer secret). Reads are bearer-only: an empty body's signature would be the same on every
request, so it proves nothing.
"""

from __future__ import annotations

import hashlib
import hmac

from starlette.requests import Request
from starlette.responses import JSONResponse

SIGNATURE_HEADER = "x-nurture-signature"


def sign_body(key: bytes, body: bytes) -> str:
    """The ``X-Nurture-Signature`` value for a body (what a sender computes)."""
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def bearer_ok(request: Request, key: bytes) -> bool:
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode("utf-8"), key)


def may_be_signed(request: Request) -> bool:
    return SIGNATURE_HEADER in request.headers


def signature_ok(request: Request, key: bytes, body: bytes) -> bool:
    given = request.headers.get(SIGNATURE_HEADER)
    return given is not None and hmac.compare_digest(
        given.strip().lower().encode(), sign_body(key, body).encode()
    )


def api_error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def switched_off() -> JSONResponse:
    return api_error(503, "the API is switched off: set ingest_api_key in the workspace settings")


def unauthorised(*, bearer_only: bool = False) -> JSONResponse:
    how = "authenticate with 'Authorization: Bearer <ingest_api_key>'"
    if not bearer_only:
        how += " or an 'X-Nurture-Signature: sha256=<hex>' HMAC of the body"
    return api_error(401, how, {"www-authenticate": 'Bearer realm="nurture"'})
