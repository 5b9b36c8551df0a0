"""The sales API: what a CRM or a rep's own tools do with handed-over leads, without a terminal.

Routes::

    POST /api/sales/{accept|reject|convert|disqualify|reassign}
    GET  /api/sales/queue?rep=ID

Authenticated as ``Authorization: Bearer <token>`` with either a rep's token (``nurture sales
rep-token REP``; the rep is the actor and may act only on leads they hold or own) or the
workspace's ``sales_api_key`` with an ``actor`` in the body (or the query, for the queue). The
body is a JSON object naming the lead (``email`` or ``lead_id``) and what the action needs:
``reason`` (required to reject and disqualify; ``note`` adds free text to a rejection), ``stage``,
``amount`` and ``currency`` to convert, ``to`` to reassign. The actions are the CLI's
(:mod:`nurture.sales.requests`), with its rules. An ``Idempotency-Key`` header makes a retry happen
once and get the first answer again (header ``Idempotent-Replayed: true``).
"""

from __future__ import annotations

import hmac
import json
import math
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from nurture.definitions import Rep
from nurture.engagement.batches import body_digest, valid_batch_key
from nurture.http.context import HttpContext
from nurture.http.reading import BodyTooLarge, read_body
from nurture.lifecycle import Lifecycle
from nurture.sales.actions import CONVERSION_STAGES, HandoffClosed, InvalidTransition, SalesActionError
from nurture.sales.queue import find_rep, rep_queue
from nurture.sales.rep_tokens import rep_of_token
from nurture.sales.requests import (
    ACTIONS,
    Action,
    SalesRequest,
    lead_state,
    lock_lead,
    open_handoff_of,
    perform,
    remember,
    remembered,
)
from nurture.store.schema import leads

MAX_BODY = 16 * 1024
FIELDS = {
    "accept": {"reason"},
    "reject": {"reason", "note"},
    "convert": {"stage", "amount", "currency", "reason"},
    "disqualify": {"reason"},
    "reassign": {"to", "reason"},
}
COMMON = {"email", "lead_id", "actor"}


@dataclass(frozen=True)
class Caller:
    """Who is asking: a rep (with their token) or a system holding the workspace's sales API key."""

    actor: str
    rep: Rep | None


class Refused(Exception):
    """A request answered with an error, inside the transaction (which then rolls back)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


class SalesApiRoutes:
    def __init__(self, ctx: HttpContext) -> None:
        self.ctx = ctx

    def routes(self) -> list[Route]:
        return [
            Route("/api/sales/queue", self.queue, methods=["GET"], name="api_sales_queue"),
            Route("/api/sales/{action}", self.act, methods=["POST"], name="api_sales_action"),
        ]

    # -- who is asking ---------------------------------------------------------------------------

    def _caller(self, request: Request, actor: object) -> Caller | Response:
        lifecycle = self.ctx.lifecycle
        if lifecycle is None:
            return _error(503, "the sales API needs the workspace's program (definitions)")
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        token = given.strip()
        if scheme.lower() != "bearer" or not token:
            return _unauthorised()
        key = self.ctx.sales_key
        if key is not None and hmac.compare_digest(token.encode("utf-8"), key):
            if not isinstance(actor, str) or not actor.strip() or not actor.isprintable():
                return _error(400, "actor: with the sales API key, say who acts (a name or a rep id)")
            return Caller(actor.strip()[:200], None)
        rep = rep_of_token(lifecycle.sales.setup.rep_token_key, lifecycle.program, token)
        if rep is None:
            return _unauthorised()
        if actor not in (None, rep.id):
            return _error(403, f"actor: a rep's token acts as that rep ({rep.id}), not as {actor!r}")
        return Caller(rep.id, rep)

    # -- GET /api/sales/queue --------------------------------------------------------------------

    async def queue(self, request: Request) -> Response:
        """A rep's open handoffs with deadline (UTC and in the rep's zone) and score."""
        caller = self._caller(request, request.query_params.get("actor"))
        if isinstance(caller, Response):
            return caller
        rep_id = request.query_params.get("rep") or (caller.rep.id if caller.rep else "")
        if not rep_id:
            return _error(400, "rep: name the rep whose queue to show (?rep=ID)")
        if caller.rep is not None and rep_id != caller.rep.id:
            return _error(403, f"rep: a rep's token shows that rep's queue ({caller.rep.id}) only")
        lifecycle = cast(Lifecycle, self.ctx.lifecycle)
        rep = find_rep(lifecycle.program, rep_id)
        if rep is None:
            return _error(404, f"rep: there is no rep {rep_id!r} in any sales team")
        now = self.ctx.clock.now()

        def read() -> list[dict[str, Any]]:
            with self.ctx.engine.connect() as conn:
                return rep_queue(conn, rep, now)

        handoffs = await run_in_threadpool(read)
        return JSONResponse(
            {
                "rep": rep.id,
                "timezone": rep.working_hours.timezone,
                "now": now.isoformat(),
                "handoffs": handoffs,
            }
        )

    # -- POST /api/sales/{action} ----------------------------------------------------------------

    async def act(self, request: Request) -> Response:
        """Accept, reject, convert, disqualify or reassign one lead."""
        action = request.path_params["action"]
        if action not in ACTIONS:
            return _error(404, f"no sales action {action!r}; the actions are {', '.join(ACTIONS)}")
        try:
            body = await read_body(request, MAX_BODY)
        except BodyTooLarge:
            return _error(413, f"the body is larger than {MAX_BODY // 1024} KiB")
        document = _document(body)
        if isinstance(document, Response):
            return document
        caller = self._caller(request, document.get("actor"))
        if isinstance(caller, Response):
            return caller
        fields = _fields(cast(Action, action), document)
        if isinstance(fields, Response):
            return fields
        key = request.headers.get("idempotency-key")
        if key is not None and not valid_batch_key(key):
            return _error(400, "Idempotency-Key must be 1 to 200 printable ASCII characters")
        try:
            status, answer, replayed = await run_in_threadpool(
                self._perform, cast(Action, action), caller, fields, key, body_digest(body)
            )
        except Refused as refused:
            return _error(refused.status, refused.message)
        headers = {"idempotent-replayed": "true"} if replayed else None
        return JSONResponse(answer, status_code=status, headers=headers)

    def _perform(
        self, action: Action, caller: Caller, fields: dict[str, Any], key: str | None, digest: str
    ) -> tuple[int, dict[str, Any], bool]:
        lifecycle = cast(Lifecycle, self.ctx.lifecycle)
        now = self.ctx.clock.now()
        with self.ctx.transaction() as conn:
            lead_id = _lead_id(conn, fields)
            lock_lead(conn, lead_id)
            if key is not None:
                first = remembered(conn, caller.actor, key)
                if first is not None:
                    if first["body_sha256"] != digest or first["action"] != action:
                        raise Refused(422, "this Idempotency-Key was used before for another request")
                    return int(first["status"]), dict(first["answer"]), True
            handoff_id = None
            if caller.rep is not None:
                handoff_id = open_handoff_of(conn, lead_id, caller.rep.id)
                owner = conn.scalar(select(leads.c.owner_rep_id).where(leads.c.id == lead_id))
                if handoff_id is None and owner != caller.rep.id:
                    raise Refused(403, f"{fields['lead_label']} is not with you ({caller.rep.id})")
            request = SalesRequest(
                action=action,
                lead_id=lead_id,
                actor=caller.actor,
                handoff_id=handoff_id if action in ("accept", "reject") else None,
                reason=fields.get("reason", ""),
                note=fields.get("note", ""),
                stage=fields.get("stage", "sql"),
                amount=fields.get("amount"),
                currency=fields.get("currency", "EUR"),
                to=fields.get("to", ""),
            )
            try:
                perform(conn, lifecycle, lifecycle.sales, request, now)
            except (HandoffClosed, InvalidTransition) as exc:
                raise Refused(409, str(exc)) from None
            except SalesActionError as exc:
                raise Refused(422, str(exc)) from None
            answer = {"action": action, "actor": caller.actor, **lead_state(conn, lead_id)}
            remember(conn, request, key, digest, 200, answer, now)
            return 200, answer, False


def _unauthorised() -> JSONResponse:
    return _error(
        401,
        "authenticate with 'Authorization: Bearer <rep token>' (nurture sales rep-token REP) or "
        "'Authorization: Bearer <sales_api_key>' with an actor",
        {"www-authenticate": 'Bearer realm="nurture sales"'},
    )


def _document(body: bytes) -> dict[str, Any] | Response:
    try:
        document = json.loads(body or b"{}")
    except (UnicodeDecodeError, RecursionError):
        return _error(400, "the body is not UTF-8 JSON")
    except json.JSONDecodeError as exc:
        return _error(400, f"the body is not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}")
    if not isinstance(document, dict):
        return _error(400, 'the body is a JSON object, e.g. {"email": "lena@example.com"}')
    return document


def _text(document: dict[str, Any], name: str, limit: int = 500) -> str:
    value = document.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError(f"{name}: a text, not {type(value).__name__}")
    return " ".join(value.split())[:limit]


def _fields(action: Action, document: dict[str, Any]) -> dict[str, Any] | Response:
    """The body's fields checked and cleaned; a 400 naming the first field that is wrong."""
    unknown = sorted(set(document) - COMMON - FIELDS[action])
    if unknown:
        allowed = ", ".join(sorted(COMMON | FIELDS[action]))
        return _error(400, f"{unknown[0]}: not a field of {action} (fields: {allowed})")
    try:
        fields = _lead_fields(document)
        for name in ("reason", "note"):
            if name in FIELDS[action]:
                fields[name] = _text(document, name)
        if action in ("reject", "disqualify") and not (fields["reason"] or fields.get("note")):
            raise ValueError(f"reason: required to {action} a lead")
        if action == "convert":
            fields.update(_deal_fields(document))
        if action == "reassign":
            fields["to"] = _text(document, "to", 100)
            if not fields["to"]:
                raise ValueError("to: the id of the rep who takes the lead over")
    except ValueError as exc:
        return _error(400, str(exc))
    return fields


def _lead_fields(document: dict[str, Any]) -> dict[str, Any]:
    email, lead_id = document.get("email"), document.get("lead_id")
    if (email is None) == (lead_id is None):
        raise ValueError("email or lead_id: name the lead by one of them")
    if email is not None:
        if not isinstance(email, str) or "@" not in email:
            raise ValueError("email: an e-mail address")
        return {"email": email.strip().lower(), "lead_label": email.strip().lower()}
    if type(lead_id) is not int or lead_id < 1:
        raise ValueError("lead_id: a positive whole number")
    return {"lead_id": lead_id, "lead_label": f"lead {lead_id}"}


def _deal_fields(document: dict[str, Any]) -> dict[str, Any]:
    stage = _text(document, "stage") or "sql"
    if stage not in CONVERSION_STAGES:
        raise ValueError(f"stage: one of {', '.join(CONVERSION_STAGES)}, not {stage!r}")
    fields: dict[str, Any] = {"stage": stage, "currency": (_text(document, "currency") or "EUR").upper()}
    amount = document.get("amount")
    if amount is not None:
        if type(amount) not in (int, float) or not math.isfinite(amount):
            raise ValueError("amount: a number, e.g. 12000 or 12000.50")
        fields["amount"] = float(amount)
    return fields


def _lead_id(conn: Any, fields: dict[str, Any]) -> int:
    column = leads.c.email if "email" in fields else leads.c.id
    found = conn.scalar(select(leads.c.id).where(column == fields.get("email", fields.get("lead_id"))))
    if found is None:
        raise Refused(404, f"{fields['lead_label']}: no such lead")
    return int(found)
