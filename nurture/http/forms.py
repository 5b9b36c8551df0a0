"""``POST /forms/{key}``: web forms on the workspace's sites, and the double opt-in link.

A public endpoint, so it is guarded by what a browser on one of the workspace's pages brings
and a script elsewhere does not: the page's origin (``Origin``, else ``Referer``) must be one of
``allowed_origins`` (CORS answers only those), a honeypot field hidden from people must stay
empty, and each IP address may post ``form_rate_limit`` times a minute (counted per server
process). Bodies are limited to :data:`BODY_LIMIT`.

A bad post records nothing. A browser is sent back to the page it came from with
``form_errors=field:code,...`` in the query (names and codes only, never what was typed); a
client asking for ``application/json`` gets the errors as JSON with the status. A good post is
stored (:class:`nurture.forms.FormIntake`) and the browser goes to the form's thank-you page.
Good posts arriving together are stored together, a group per transaction
(:class:`nurture.http.writer.GroupWriter`); each is answered once its group is committed, and a
post that could not be stored is answered 503.

``GET /forms/confirm/{token}`` asks (link scanners follow GET links, so a GET confirms nothing);
``POST`` confirms.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from email import message_from_bytes
from email.message import Message
from email.policy import HTTP
from itertools import groupby
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from sqlalchemy import Connection, select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from nurture.forms import (
    HONEYPOT,
    Accepted,
    Confirmation,
    FieldError,
    FormIntake,
    Post,
    read_submission,
)
from nurture.forms.opt_in import current_lead, read_link
from nurture.http.context import HttpContext
from nurture.http.pages import mask_email
from nurture.http.rate_limit import RateLimiter
from nurture.http.reading import BodyTooLarge, client_ip, read_body
from nurture.http.writer import GroupWriter, NotRecorded
from nurture.settings import origin_of
from nurture.store.schema import leads
from nurture.tokens import InvalidToken

log = logging.getLogger("nurture.http")

BODY_LIMIT = 32 * 1024  # a form of text fields; a file upload is not a form we take
MAX_FIELDS = 50
ERRORS_PARAM = "form_errors"
_STATUS = {"honeypot": 400, "origin": 403, "form": 404, "size": 413, "type": 415, "input": 422, "rate": 429}


class FormRoutes:
    def __init__(self, ctx: HttpContext) -> None:
        self.ctx = ctx
        settings = ctx.lifecycle.sales.settings if ctx.lifecycle is not None else None
        self.allowed = frozenset(settings.allowed_origins if settings else ())
        self.limiter = RateLimiter(settings.form_rate_limit if settings else 0)
        self._intake: FormIntake | None = None
        self.writer: GroupWriter[tuple[FormIntake, Post], Accepted] = GroupWriter(
            ctx.transaction,
            self._store,
            name="nurture-forms",
            describe=lambda p: f"a post of form {p[1].form.key}",
        )

    def stop(self) -> None:
        """Store the posts still waiting, then stop the writer (the app's shutdown)."""
        self.writer.stop()

    def routes(self) -> list[Route]:
        return [
            Route("/forms/confirm/{token}", self.confirm_page, methods=["GET"], name="opt_in_page"),
            Route("/forms/confirm/{token}", self.confirm, methods=["POST"], name="opt_in_confirm"),
            Route("/forms/{key}", self.preflight, methods=["OPTIONS"], name="form_preflight"),
            Route("/forms/{key}", self.post, methods=["POST"], name="form_post"),
        ]

    @property
    def intake(self) -> FormIntake | None:
        """The intake for the program now served (a daemon's reload brings a new one)."""
        lifecycle = self.ctx.lifecycle
        if lifecycle is None:
            return None
        if self._intake is None or self._intake.program is not lifecycle.program:
            self._intake = FormIntake(lifecycle.program, lifecycle.sales.settings, lifecycle.sales.signer)
        return self._intake

    # -- the post ---------------------------------------------------------------------------------

    def _origin(self, request: Request) -> str | None:
        """The page's origin as the browser states it (``Origin``, else the ``Referer``'s)."""
        given = request.headers.get("origin")
        if given is not None and given != "null":
            return origin_of(given)
        referer = request.headers.get("referer")
        return origin_of(referer) if referer else None

    def _cors(self, origin: str | None) -> dict[str, str]:
        if origin is None or origin not in self.allowed:
            return {"vary": "Origin"}
        return {"access-control-allow-origin": origin, "vary": "Origin"}

    async def preflight(self, request: Request) -> Response:
        """CORS preflight: only the allowed origins may post, with the headers a form needs."""
        origin = self._origin(request)
        if origin is None or origin not in self.allowed:
            return Response(status_code=403, headers={"vary": "Origin"})
        return Response(
            status_code=204,
            headers={
                **self._cors(origin),
                "access-control-allow-methods": "POST",
                "access-control-allow-headers": "Content-Type, Accept",
                "access-control-max-age": "600",
            },
        )

    async def post(self, request: Request) -> Response:
        """Check and store one form post."""
        wants_json = "application/json" in request.headers.get("accept", "")
        intake = self.intake
        form = intake.program.forms.get(request.path_params["key"]) if intake is not None else None
        origin = self._origin(request)
        cors = self._cors(origin)
        if origin is None or origin not in self.allowed:
            return self._refuse(request, "origin", wants_json, cors)
        ip = client_ip(request)
        wait = self.limiter.allow(ip or "unknown")
        if wait is not None:
            headers = {**cors, "retry-after": str(max(1, round(wait)))}
            return self._refuse(request, "rate", wants_json, headers)
        if form is None or intake is None or origin_of(form.thank_you) not in self.allowed:
            # A thank-you page off the allowed origins is an error `nurture check` reports; the
            # server never sends visitors there.
            return self._refuse(request, "form", wants_json, cors)
        try:
            posted = _fields(await read_body(request, BODY_LIMIT), request.headers.get("content-type", ""))
        except BodyTooLarge:
            return self._refuse(request, "size", wants_json, cors)
        if posted is None:
            return self._refuse(request, "type", wants_json, cors)
        if posted.get(HONEYPOT, "").strip():
            return self._bad(request, [FieldError(HONEYPOT, "honeypot")], "honeypot", wants_json, cors)
        checked = read_submission(form, posted)
        if isinstance(checked, list):
            return self._bad(request, checked, "input", wants_json, cors)
        post = Post.of(form, checked, self.ctx.clock.now(), ip, request.headers.get("accept-language"))
        try:
            await self.writer.store((intake, post))
        except NotRecorded:
            if wants_json:
                return JSONResponse({"error": "temporarily unavailable"}, status_code=503, headers=cors)
            return self.ctx.pages.render("unavailable", self.ctx.pages.reader(request), 503)
        # The answer is the same for a new and a known address, so the form tells nobody who is a lead.
        if wants_json:
            body = {"ok": True, "redirect": form.thank_you, "double_opt_in": form.double_opt_in}
            return JSONResponse(body, headers=cors)
        return RedirectResponse(_on_origin(form.thank_you), status_code=303, headers=cors)

    def _store(self, conn: Connection, group: Sequence[tuple[FormIntake, Post]]) -> list[Accepted]:
        """Store a group of posts in one transaction (the writer thread's); a daemon's reload
        between two posts leaves posts of two programs, each stored by its own intake."""
        now = self.ctx.clock.now()
        then = self.ctx.lifecycle
        answers: list[Accepted] = []
        for _, run in groupby(group, key=lambda pair: id(pair[0])):
            posts = list(run)
            answers += posts[0][0].accept_many(conn, then, [post for _, post in posts], now)
        return answers

    def _refuse(self, request: Request, reason: str, wants_json: bool, headers: dict[str, str]) -> Response:
        status = _STATUS[reason]
        if wants_json:
            return JSONResponse({"error": reason, "errors": []}, status_code=status, headers=headers)
        pages = self.ctx.pages
        return _with_headers(
            pages.render("form_refused", pages.reader(request), status, reason=reason), headers
        )

    def _bad(
        self,
        request: Request,
        errors: list[FieldError],
        reason: str,
        wants_json: bool,
        headers: dict[str, str],
    ) -> Response:
        status = _STATUS[reason]
        if wants_json:
            body = {"error": reason, "errors": [e.as_json() for e in errors]}
            return JSONResponse(body, status_code=status, headers=headers)
        back = self._back(request.headers.get("referer"), errors)
        if back is None:
            pages = self.ctx.pages
            page = pages.render("form_refused", pages.reader(request), status, reason="input")
            return _with_headers(page, headers)
        return RedirectResponse(back, status_code=303, headers=headers)

    def _back(self, referer: str | None, errors: list[FieldError]) -> str | None:
        """The page the post came from with the errors in its query; None when it is not on an
        allowed origin (never a redirect elsewhere)."""
        if not referer or origin_of(referer) not in self.allowed:
            return None
        parts = urlsplit(referer)
        query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != ERRORS_PARAM]
        query.append((ERRORS_PARAM, ",".join(f"{e.field}:{e.code}" for e in errors)))
        return _on_origin(referer, urlencode(query))

    # -- the confirmation link --------------------------------------------------------------------

    async def confirm_page(self, request: Request) -> Response:
        """``GET``: show what a click confirms; never confirm."""
        pages = self.ctx.pages
        intake = self.intake
        if intake is None:
            return pages.render("invalid", pages.reader(request), 404)
        token = request.path_params["token"]
        try:
            link = read_link(intake.signer, token, self.ctx.clock.now())
        except InvalidToken as exc:
            self.ctx.metrics.refused_tokens.labels("opt_in").inc()
            return self._invalid(request, exc)
        lead = await run_in_threadpool(self._lead, link.lead_id)
        if lead is None:
            return pages.render("opt_in_gone", pages.reader(request), 410)
        return pages.render("opt_in_confirm", pages.reader(request, lead[1]), email=mask_email(lead[0]))

    async def confirm(self, request: Request) -> Response:
        """``POST``: confirm the pending consent the link names."""
        pages = self.ctx.pages
        intake = self.intake
        if intake is None:
            return pages.render("invalid", pages.reader(request), 404)
        token = request.path_params["token"]
        now = self.ctx.clock.now()
        ip = client_ip(request)
        try:
            done = await run_in_threadpool(self._confirm, intake, token, now, ip)
        except InvalidToken as exc:
            self.ctx.metrics.refused_tokens.labels("opt_in").inc()
            return self._invalid(request, exc)
        except Exception:
            log.exception("could not confirm an opt-in")
            return pages.render("unavailable", pages.reader(request), 503)
        lead = await run_in_threadpool(self._lead, done.lead_id) if done is not None else None
        if lead is None:
            return pages.render("opt_in_gone", pages.reader(request), 410)
        return pages.render("opt_in_confirmed", pages.reader(request, lead[1]), email=mask_email(lead[0]))

    def _confirm(self, intake: FormIntake, token: str, now: Any, ip: str | None) -> Confirmation | None:
        with self.ctx.transaction() as conn:
            return intake.confirm(conn, self.ctx.lifecycle, token, now, ip)

    def _lead(self, lead_id: int) -> tuple[str, str | None] | None:
        """The lead's address and locale, or None when it is gone."""
        with self.ctx.engine.connect() as conn:
            # A record merged into another since the link was sent: the page shows the kept one.
            current = current_lead(conn, lead_id)
            if current is None:
                return None
            row = conn.execute(select(leads.c.email, leads.c.locale).where(leads.c.id == current)).first()
        return (str(row.email), row.locale) if row is not None else None

    def _invalid(self, request: Request, exc: InvalidToken) -> Response:
        pages = self.ctx.pages
        if "expired" in str(exc):
            return pages.render("opt_in_gone", pages.reader(request), 410)
        return pages.render("invalid", pages.reader(request), 404)


def _with_headers(response: Response, headers: Mapping[str, str]) -> Response:
    for name, value in headers.items():
        response.headers[name] = value
    return response


def _fields(body: bytes, content_type: str) -> dict[str, str] | None:
    """The posted text fields (first value of each), or None for a body that is not a form."""
    kind = content_type.split(";")[0].strip().lower()
    if kind in ("", "application/x-www-form-urlencoded"):
        try:
            pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=MAX_FIELDS)
        except (UnicodeDecodeError, ValueError):
            return None
        found: dict[str, str] = {}
        for name, value in pairs:
            found.setdefault(name, value)
        return found
    if kind == "multipart/form-data":
        return _multipart(body, content_type)
    return None


def _multipart(body: bytes, content_type: str) -> dict[str, str] | None:
    """Text parts of a ``multipart/form-data`` body; files are left out."""
    if "\r" in content_type or "\n" in content_type:
        return None
    message: Message = message_from_bytes(
        b"Content-Type: " + content_type.encode("latin-1", "replace") + b"\r\n\r\n" + body, policy=HTTP
    )
    if not message.is_multipart():
        return None
    found: dict[str, str] = {}
    for part in message.iter_parts() if hasattr(message, "iter_parts") else message.get_payload():
        if not isinstance(part, Message):
            continue
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str) or part.get_filename() is not None:
            continue
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            continue
        try:
            found.setdefault(name, payload.decode(part.get_content_charset() or "utf-8"))
        except (UnicodeDecodeError, LookupError):
            return None
        if len(found) > MAX_FIELDS:
            return None
    return found


def _on_origin(url: str, query: str | None = None) -> str:
    """``url`` rebuilt from its checked origin, path and query (``query`` replaces its own), so
    the redirect goes to the origin that was allowed and nowhere a browser might read differently.
    Only for a URL whose origin was checked."""
    parts = urlsplit(url.strip())
    origin = origin_of(url)
    if origin is None:  # the caller checked it; refuse rather than guess
        raise ValueError(f"{url!r} has no origin")
    fragment = parts.fragment if query is None else ""
    return origin + urlunsplit(("", "", parts.path or "/", parts.query if query is None else query, fragment))
