"""The ASGI app: tracking, unsubscribe, event ingest, sales actions, health and metrics.

Routes::

    GET  /o/{token}.gif          open pixel (always the GIF; a bad token records nothing)
    GET  /c/{token}              click: 302 to the URL signed into the token, else 404
    GET  /u/{token}              preference centre (asks; a GET never unsubscribes)
    POST /u/{token}              leave a topic or all (the page; RFC 8058 one-click: the token's topic)
    GET  /sales/accept/{token}   confirm accepting a routed lead; POST accepts
    GET  /sales/reject/{token}   ask why; POST rejects
    GET  /sales/lead/{token}     a rep's lead page; POST takes a step (accept ... convert, disqualify)
    POST /api/events             authenticated event ingest
    POST /api/leads              authenticated lead upsert; GET /api/leads/{email}[/export] reads
    POST /forms/{key}            a web form's post (allowed origins, honeypot, rate limit)
    GET  /forms/confirm/{token}  double opt-in: asks; POST confirms
    POST /api/sales/{action}     accept, reject, convert, disqualify, reassign (rep token or sales key)
    GET  /api/sales/queue        a rep's open handoffs
    GET  /healthz                database and the checks given to the app
    GET  /metrics                Prometheus

Database work runs in Starlette's thread pool (SQLAlchemy here is synchronous); everything the
routes need (signer, program, settings) is prepared once in :class:`HttpContext`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Route

from nurture.http.context import HealthCheck, HttpContext
from nurture.http.forms import FormRoutes
from nurture.http.health import HealthRoutes
from nurture.http.ingest import IngestRoutes
from nurture.http.lead_page import LeadPageRoutes
from nurture.http.leads_api import LeadRoutes
from nurture.http.middleware import ServerRules
from nurture.http.sales import SalesRoutes
from nurture.http.sales_api import SalesApiRoutes
from nurture.http.tracking import TrackingRoutes
from nurture.http.unsubscribe import UnsubscribeRoutes
from nurture.workspace import Workspace

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from nurture.clock import Clock
    from nurture.definitions import Program


def create_app(
    source: Workspace | HttpContext,
    *,
    engine: Engine | None = None,
    clock: Clock | None = None,
    program: Program | None = None,
    checks: Mapping[str, HealthCheck] | None = None,
) -> Starlette:
    """The server for a workspace (settings, secret key, database and program read once) or for
    a prepared :class:`HttpContext`. ``checks`` add readiness checks to ``/healthz``."""
    if isinstance(source, Workspace):
        ctx = HttpContext.from_workspace(source, engine=engine, clock=clock, program=program, checks=checks)
    else:
        ctx = source
        if checks:
            ctx.checks = {**ctx.checks, **checks}
    forms = FormRoutes(ctx)
    routes: list[BaseRoute] = [
        *TrackingRoutes(ctx).routes(),
        *UnsubscribeRoutes(ctx).routes(),
        *SalesRoutes(ctx).routes(),
        *LeadPageRoutes(ctx).routes(),
        *IngestRoutes(ctx).routes(),
        *LeadRoutes(ctx).routes(),
        *forms.routes(),
        *SalesApiRoutes(ctx).routes(),
        *HealthRoutes(ctx).routes(),
    ]
    route_names: dict[object, str] = {r.endpoint: r.path for r in routes if isinstance(r, Route)}

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await run_in_threadpool(ctx.sightings.stop)  # what readers were answered for is written
        await run_in_threadpool(forms.stop)  # and the posts still waiting
        if ctx.owns_engine:
            ctx.engine.dispose()

    app = Starlette(
        routes=routes,
        middleware=[Middleware(ServerRules, metrics=ctx.metrics, route_names=route_names)],
        lifespan=lifespan,
    )
    app.state.context = ctx
    return app
