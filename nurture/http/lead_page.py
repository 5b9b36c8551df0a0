"""``/sales/lead/{token}``: a rep's page for one handed-over lead, where every sales step is taken.

The token (purpose ``sales-lead``, payload ``[handoff_id, rep_id]``, ``""`` for the manager) is in
the rep's notification. ``GET`` only shows the lead (a mail scanner following the link changes
nothing); each step is a ``POST`` of the page's own form (field ``do``: accept, reject, convert,
disqualify), refused when it comes from another site. Once the handoff moved on (reassigned,
escalated) or was closed by a rejection or disqualification, the link answers 409 and does nothing.
Every value is escaped; the page has no scripts and its one stylesheet is allowed by its hash.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import math
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from nurture.http.context import HttpContext
from nurture.http.lead_texts import LEAD_TEXTS
from nurture.http.pages import SECURITY_HEADERS, STYLE, language, page
from nurture.http.reading import BodyTooLarge, read_form
from nurture.sales.actions import HandoffClosed, InvalidTransition, SalesActionError
from nurture.sales.lead_view import Holding, holding, lead_page
from nurture.sales.links import LEAD
from nurture.sales.reasons import clean
from nurture.sales.requests import SalesRequest, lock_lead, perform
from nurture.tokens import InvalidToken

log = logging.getLogger("nurture.http")

LEAD_STYLE = STYLE + (
    "main{max-width:46rem}table{border-collapse:collapse;width:100%;margin:.3rem 0 1rem}"
    "td,th{text-align:left;padding:.25rem .4rem;border-bottom:1px solid #e5e7eb;vertical-align:top}"
    "td.n{text-align:right;white-space:nowrap}"
    "section{margin:1rem 0;padding:.8rem 1rem;border:1px solid #e5e7eb;border-radius:.4rem}"
    "label{display:block;margin:.4rem 0 .1rem}select,input{font:inherit;padding:.3rem}"
    ".notice{background:#ecfdf5;padding:.6rem 1rem;border-radius:.3rem}.reject{background:#b91c1c}"
    ".late{color:#b91c1c;font-weight:bold}"
)
_STYLE_HASH = base64.b64encode(hashlib.sha256(LEAD_STYLE.encode()).digest()).decode()
HEADERS = {
    **SECURITY_HEADERS,
    "content-security-policy": SECURITY_HEADERS["content-security-policy"].replace(
        SECURITY_HEADERS["content-security-policy"].split("style-src ")[1].split(";")[0],
        f"'sha256-{_STYLE_HASH}'",
    ),
    "cache-control": "no-store",
}
ACTIONS = ("accept", "reject", "convert", "disqualify")


_environment = Environment(
    loader=FileSystemLoader(Path(__file__).resolve().parent / "page_templates"),
    autoescape=True,
    undefined=StrictUndefined,
)
CURRENCIES = ("EUR", "CHF", "USD", "GBP")


class LeadPageRoutes:
    def __init__(self, ctx: HttpContext) -> None:
        self.ctx = ctx

    def routes(self) -> list[Route]:
        return [Route("/sales/lead/{token}", self.lead, methods=["GET", "POST"], name="sales_lead")]

    async def lead(self, request: Request) -> Response:
        """Show the lead (GET); take one step (POST)."""
        lang = language(request.headers.get("accept-language"))
        held = await run_in_threadpool(self._holding, request.path_params["token"])
        if held is None:
            self.ctx.metrics.refused_tokens.labels("sales_lead").inc()
            return page("message.html", "invalid", lang, 404)
        if not held.still_theirs:
            return page("message.html", "sales-closed", lang, 409, values={"status": held.status})
        if request.method == "GET":
            return await self._show(held, lang)
        if _cross_site(request, self.ctx.base_url):
            return page("message.html", "invalid", lang, 403)
        try:
            form = await read_form(request)
        except BodyTooLarge:
            return await self._show(held, lang, status=413)
        return await self._step(held, form, lang)

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
            held = holding(conn, payload[0])
        # The token names its holder: a handoff reopened for someone else is not theirs.
        if held is None or (held.rep_id or "") != payload[1]:
            return None
        return held

    async def _show(
        self,
        held: Holding,
        lang: str,
        *,
        status: int = 200,
        notice: str | None = None,
        error: str | None = None,
    ) -> Response:
        view = await run_in_threadpool(self._view, held)
        texts = LEAD_TEXTS[lang]
        html = _environment.get_template("lead.html").render(
            t=texts, lang=lang, style=Markup(LEAD_STYLE), notice=notice, error=error,  # noqa: S704 - a constant
            currencies=CURRENCIES, **view,
        )  # fmt: skip
        return HTMLResponse(html, status_code=status, headers=HEADERS)

    def _view(self, held: Holding) -> dict[str, Any]:
        lifecycle = self.ctx.lifecycle
        assert lifecycle is not None
        with self.ctx.engine.connect() as conn:
            current = holding(conn, held.handoff_id) or held
            return lead_page(conn, lifecycle.sales, current, self.ctx.clock.now())

    async def _step(self, held: Holding, form: dict[str, str], lang: str) -> Response:
        texts = LEAD_TEXTS[lang]
        action = form.get("do", "")
        if action not in ACTIONS:
            return await self._show(held, lang, status=400)
        request = _request(held, action, form)
        if request is None:
            return await self._show(held, lang, status=400, error=texts["bad-amount"])
        if action in ("reject", "disqualify") and not clean(f"{request.reason} {request.note}"):
            return await self._show(held, lang, status=400, error=texts["missing-reason"])
        try:
            await run_in_threadpool(self._perform, request)
        except (HandoffClosed, InvalidTransition) as exc:
            current = await run_in_threadpool(self._reread, held)
            if current is None or not current.still_theirs:
                status = current.status if current is not None else "closed"
                return page("message.html", "sales-closed", lang, 409, values={"status": status})
            return await self._show(current, lang, status=409, error=texts["refused"].format(error=exc))
        except SalesActionError as exc:
            return await self._show(held, lang, status=422, error=texts["refused"].format(error=exc))
        except Exception:
            log.exception("could not %s from the lead page of handoff %s", action, held.handoff_id)
            return page("message.html", "unavailable", lang, 503)
        current = await run_in_threadpool(self._reread, held)
        notice = texts[f"done-{action}"].format(stage=request.stage)
        if current is None or not current.still_theirs:
            # A rejection or disqualification ends the link: say so once, plainly.
            return page("message.html", "sales-done", lang, values={"text": notice})
        return await self._show(current, lang, notice=notice)

    def _reread(self, held: Holding) -> Holding | None:
        with self.ctx.engine.connect() as conn:
            return holding(conn, held.handoff_id)

    def _perform(self, request: SalesRequest) -> None:
        lifecycle = self.ctx.lifecycle
        assert lifecycle is not None
        with self.ctx.transaction() as conn:
            lock_lead(conn, request.lead_id)
            current = holding(conn, request.handoff_id or 0)
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
    """A form posted from another site (CSRF): the browser says so in Sec-Fetch-Site or Origin."""
    if request.headers.get("sec-fetch-site", "").lower() == "cross-site":
        return True
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin == "null"
    ours = {_origin(base_url), _origin(str(request.base_url))}
    return _origin(origin) not in ours


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()
