"""``/sales/lead/{token}``: a rep's page for one handed-over lead, where every sales step is taken.

The token (purpose ``sales-lead``, payload ``[handoff_id, rep_id]``, ``""`` for the manager) is in
the rep's notification. ``GET`` only shows the lead (a mail scanner following the link changes
nothing); each step is a ``POST`` of the page's own form (field ``do``: accept, reject, convert,
disqualify), refused when it comes from another site. Once the handoff moved on (reassigned,
escalated) or was closed by a rejection or disqualification, the link answers 409 and does nothing.
Every value is escaped; the page has no scripts and its one stylesheet is allowed by its hash.
"""

from __future__ import annotations

import logging
import math
from typing import Any
from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from nurture.http.context import HttpContext
from nurture.http.reading import BodyTooLarge, read_form
from nurture.i18n import Reader
from nurture.sales.actions import HandoffClosed, InvalidTransition, SalesActionError
from nurture.sales.lead_view import Holding, holder, holding, lead_page
from nurture.sales.links import LEAD
from nurture.sales.reasons import clean
from nurture.sales.requests import SalesRequest, lock_lead, perform
from nurture.tokens import InvalidToken
from nurture.zones import zone

log = logging.getLogger("nurture.http")

ACTIONS = ("accept", "reject", "convert", "disqualify")
CURRENCIES = ("EUR", "CHF", "USD", "GBP")


class LeadPageRoutes:
    def __init__(self, ctx: HttpContext) -> None:
        self.ctx = ctx

    def routes(self) -> list[Route]:
        return [Route("/sales/lead/{token}", self.lead, methods=["GET", "POST"], name="sales_lead")]

    async def lead(self, request: Request) -> Response:
        """Show the lead (GET); take one step (POST)."""
        pages = self.ctx.pages
        held = await run_in_threadpool(self._holding, request.path_params["token"])
        if held is None:
            self.ctx.metrics.refused_tokens.labels("sales_lead").inc()
            return pages.render("invalid", pages.reader(request), 404)
        reader = self._reader(request, held)
        if not held.still_theirs:
            return pages.render("sales_closed", reader, 409, status=held.status)
        if request.method == "GET":
            return await self._show(held, reader)
        if _cross_site(request, self.ctx.base_url):
            return pages.render("invalid", reader, 403)
        try:
            form = await read_form(request)
        except BodyTooLarge:
            return await self._show(held, reader, status=413)
        return await self._step(held, form, reader)

    def _reader(self, request: Request, held: Holding) -> Reader:
        """The holder's language (else the browser's) and zone, as their team says."""
        lifecycle = self.ctx.lifecycle
        assert lifecycle is not None
        locale, timezone = holder(lifecycle.sales, held)
        return self.ctx.pages.reader(request, locale, zone=zone(timezone) if timezone else None)

    def _holding(self, token: str) -> Holding | None:
        try:
            payload = self.ctx.signer.verify(LEAD, token, now=self.ctx.clock.now())
        except InvalidToken:
            return None
        if not (isinstance(payload, tuple) and len(payload) == 2 and type(payload[0]) is int):
            return None
        if not isinstance(payload[1], str) or self.ctx.lifecycle is None:
            return None
        with self.ctx.engine.connect() as conn:
            held = holding(conn, payload[0], self.ctx.lifecycle.sales)
        # The token names its holder: a handoff reopened for someone else is not theirs.
        if held is None or (held.rep_id or "") != payload[1]:
            return None
        return held

    async def _show(self, held: Holding, reader: Reader, *, status: int = 200, **notes: Any) -> Response:
        view = await run_in_threadpool(self._view, held, reader)
        values = {"done": None, "problem": None, "error": "", **notes}
        return self.ctx.pages.render("sales_lead", reader, status, currencies=CURRENCIES, **view, **values)

    def _view(self, held: Holding, reader: Reader) -> dict[str, Any]:
        lifecycle = self.ctx.lifecycle
        assert lifecycle is not None
        with self.ctx.engine.connect() as conn:
            current = holding(conn, held.handoff_id, lifecycle.sales) or held
            return lead_page(conn, lifecycle.sales, current, reader, self.ctx.clock.now())

    async def _step(self, held: Holding, form: dict[str, str], reader: Reader) -> Response:
        pages = self.ctx.pages
        action = form.get("do", "")
        if action not in ACTIONS:
            return await self._show(held, reader, status=400)
        request = _request(held, action, form)
        if request is None:
            return await self._show(held, reader, status=400, problem="amount")
        if action in ("reject", "disqualify") and not clean(f"{request.reason} {request.note}"):
            return await self._show(held, reader, status=400, problem="reason")
        try:
            await run_in_threadpool(self._perform, request)
        except (HandoffClosed, InvalidTransition) as exc:
            current = await run_in_threadpool(self._reread, held)
            if current is None or not current.still_theirs:
                status = current.status if current is not None else "closed"
                return pages.render("sales_closed", reader, 409, status=status)
            return await self._show(current, reader, status=409, problem="refused", error=str(exc))
        except SalesActionError as exc:
            return await self._show(held, reader, status=422, problem="refused", error=str(exc))
        except Exception:
            log.exception("could not %s from the lead page of handoff %s", action, held.handoff_id)
            return pages.render("unavailable", reader, 503)
        current = await run_in_threadpool(self._reread, held)
        if current is None or not current.still_theirs:
            # A rejection or disqualification ends the link: say so once, plainly.
            return pages.render("sales_done", reader, action=action)
        return await self._show(current, reader, done=action)

    def _reread(self, held: Holding) -> Holding | None:
        lifecycle = self.ctx.lifecycle
        assert lifecycle is not None
        with self.ctx.engine.connect() as conn:
            return holding(conn, held.handoff_id, lifecycle.sales)

    def _perform(self, request: SalesRequest) -> None:
        lifecycle = self.ctx.lifecycle
        assert lifecycle is not None
        with self.ctx.transaction() as conn:
            lock_lead(conn, request.lead_id)
            current = holding(conn, request.handoff_id or 0, lifecycle.sales)
            # Checked again under the lead's lock: a click racing the SLA timer or a reassignment.
            if current is None or request.action not in current.actions():
                raise HandoffClosed(f"this handoff is {current.status if current else 'gone'}")
            pinned = current.handoff_id if current.status == "pending" else None
            perform(
                conn, lifecycle, lifecycle.sales,
                SalesRequest(**{**request.__dict__, "handoff_id": pinned}), self.ctx.clock.now(),
            )  # fmt: skip


def _request(held: Holding, action: str, form: dict[str, str]) -> SalesRequest | None:
    """The form as a request; None when the amount is not a number."""
    amount: float | None = None
    text = form.get("amount", "").strip()
    if action == "convert" and text:
        try:
            amount = float(text)
        except ValueError:
            return None
        if not math.isfinite(amount):
            return None
    currency = form.get("currency", "EUR").strip().upper() or "EUR"
    return SalesRequest(
        action=action,  # type: ignore[arg-type]
        lead_id=held.lead_id,
        actor=held.actor,
        handoff_id=held.handoff_id,
        reason=form.get("reason", ""),
        note=form.get("note", ""),
        stage=form.get("stage", "sql"),
        amount=amount,
        currency=currency,
    )


def _cross_site(request: Request, base_url: str) -> bool:
    """A form posted from another site (CSRF): the browser says so in Sec-Fetch-Site or Origin.

    Sec-Fetch-Site comes first: no page can set it, and it is the one a browser sends truthfully
    for the page's own form, whose Origin is ``null`` because the page's referrer policy is
    ``no-referrer``. Without it (an older browser), a foreign or ``null`` Origin is refused;
    without either (not a browser, so no one's cookies or clicks to misuse), the post is taken.
    """
    site = request.headers.get("sec-fetch-site", "").lower()
    if site:
        return site not in ("same-origin", "none")
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin == "null"
    ours = {_origin(base_url), _origin(str(request.base_url))}
    return _origin(origin) not in ours


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()
