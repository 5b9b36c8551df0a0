"""The open pixel and the click redirect.

Both answer the reader whatever happens to the recording: the pixel is always the GIF, a click on
a genuine link always reaches its target, even when the database is down. A forged token records
nothing; a click token that does not verify is answered with a "not valid" page, never a redirect,
and a genuine one redirects to exactly the URL signed into it (no open redirect).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from nurture.delivery.urls import browser_url
from nurture.engagement.tracked import Sighting, Tracked
from nurture.http.context import HttpContext
from nurture.http.metrics import origin
from nurture.http.reading import client_ip, user_agent
from nurture.http.writer import NotRecorded
from nurture.tokens import InvalidToken

# The smallest transparent GIF: 1x1, one transparent colour (43 bytes).
PIXEL = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
    b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
NO_CACHE = {
    # Every open must reach us: no browser, proxy or mail client may answer from a cache.
    "cache-control": "no-store, no-cache, must-revalidate, max-age=0, private",
    "pragma": "no-cache",
    "expires": "0",
}


def message_number(ref: Any) -> int | None:
    """nurture's number of the message a token names (None for anything else)."""
    if isinstance(ref, int) and not isinstance(ref, bool) and ref > 0:
        return ref
    if isinstance(ref, str) and ref.isdigit():
        return int(ref)
    return None


def redirect_location(url: str) -> str | None:
    """The signed URL as a Location header, encoded as a browser encodes a link it follows
    (spaces, quotes, non-ASCII: see :func:`browser_url`); None when it is not an http(s) URL
    with a host. Links signed before they were encoded so are redirected in the same form."""
    location = browser_url(url)
    if not location[:8].lower().startswith(("https://", "http://")):
        return None
    if any(ord(ch) < 0x21 or ord(ch) >= 0x7F for ch in location):
        return None  # not an http(s) URL the encoder understood
    if not urlsplit(location).hostname:
        return None
    return location


class TrackingRoutes:
    def __init__(self, ctx: HttpContext) -> None:
        self.ctx = ctx

    def routes(self) -> list[Route]:
        return [
            Route("/o/{token}.gif", self.open_pixel, methods=["GET"], name="open"),
            Route("/c/{token}", self.click, methods=["GET"], name="click"),
        ]

    async def open_pixel(self, request: Request) -> Response:
        """``GET /o/{token}.gif``: record an open, answer the transparent GIF."""
        pixel = Response(PIXEL, media_type="image/gif", headers=NO_CACHE)
        if request.method != "GET":  # HEAD: a client checking, not a reader
            return pixel
        try:
            message_id = message_number(self.ctx.tracker.read_open(request.path_params["token"]))
        except InvalidToken:
            message_id = None
        if message_id is None:
            self.ctx.metrics.refused_tokens.labels("open").inc()
            return pixel
        sighting = Sighting("open", message_id, self.ctx.clock.now(), user_agent(request), client_ip(request))
        tracked = await self._record(sighting)
        if tracked is not None:
            self.ctx.metrics.opens.labels(origin(tracked.machine_reason)).inc()
        return pixel

    async def click(self, request: Request) -> Response:
        """``GET /c/{token}``: record a click, redirect to the URL signed into the token."""
        try:
            ref, url = self.ctx.tracker.read_click(request.path_params["token"])
        except InvalidToken:
            ref, url = None, ""
        location = redirect_location(url) if url else None
        message_id = message_number(ref)
        if location is None or message_id is None:
            self.ctx.metrics.refused_tokens.labels("click").inc()
            return self.ctx.pages.render("invalid", self.ctx.pages.reader(request), 404)
        if request.method == "GET":
            sighting = Sighting("click", message_id, self.ctx.clock.now(), user_agent(request), url=url)
            tracked = await self._record(sighting)
            if tracked is not None:
                self.ctx.metrics.clicks.labels(origin(tracked.machine_reason)).inc()
        return Response(status_code=302, headers={"location": location, "cache-control": "no-store"})

    async def _record(self, sighting: Sighting) -> Tracked | None:
        try:
            tracked = await self.ctx.sightings.record(sighting)
        except NotRecorded:
            # Logged by the writer; the reader is answered all the same.
            self.ctx.metrics.recording_errors.labels(sighting.kind).inc()
            return None
        if tracked is not None:
            self.ctx.metrics.count_event(tracked.type, tracked.machine_reason)
        return tracked
