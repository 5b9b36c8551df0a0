"""``/healthz`` for load balancers and systemd watchdogs, ``/metrics`` for Prometheus.

The metrics tell anyone who can read them how much mail goes out and how it is answered, so they
are not public: they are served on the admin listener (``metrics_bind``, loopback by default),
and on the public listener only to a bearer of ``metrics_token`` when that is set.
"""

from __future__ import annotations

import hmac
import time
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from nurture.guards.pauses import open_pauses
from nurture.http.context import HealthCheck, HttpContext
from nurture.http.metrics import CONTENT_TYPE

ADMIN_SCOPE_KEY = "nurture.admin"
"""Set in the ASGI scope of requests that came in on the admin listener (see server.py)."""


class HealthRoutes:
    def __init__(self, ctx: HttpContext) -> None:
        self.ctx = ctx

    def routes(self) -> list[Route]:
        return [
            Route("/healthz", self.healthz, methods=["GET"], name="healthz"),
            Route("/metrics", self.metrics, methods=["GET"], name="metrics"),
        ]

    async def healthz(self, request: Request) -> Response:
        """200 with every check passing, else 503; each check's outcome and time in the body."""
        checks = await run_in_threadpool(self._run_checks)
        healthy = all(check["ok"] for check in checks.values())
        body: dict[str, Any] = {"status": "ok" if healthy else "failing", "checks": checks}
        body.update(await run_in_threadpool(self._details))
        return JSONResponse(body, status_code=200 if healthy else 503, headers={"cache-control": "no-store"})

    async def metrics(self, request: Request) -> Response:
        """The server's counters in Prometheus' text format: on the admin listener, or on the
        public one to the ``metrics_token`` bearer; elsewhere it is not there at all (404)."""
        if not request.scope.get(ADMIN_SCOPE_KEY):
            token = self.ctx.metrics_token
            if token is None:
                return JSONResponse(
                    {"error": "not found: /metrics is served on the admin listener (metrics_bind)"},
                    status_code=404,
                )
            scheme, _, given = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode("utf-8"), token):
                return JSONResponse(
                    {"error": "authenticate with 'Authorization: Bearer <metrics_token>'"},
                    status_code=401,
                    headers={"www-authenticate": 'Bearer realm="nurture-metrics"'},
                )
        return Response(
            self.ctx.metrics.exposition(), media_type=CONTENT_TYPE, headers={"cache-control": "no-store"}
        )

    def _run_checks(self) -> dict[str, dict[str, Any]]:
        checks: dict[str, HealthCheck] = {"database": self._database, **self.ctx.checks}
        return {name: _run(check) for name, check in checks.items()}

    def _details(self) -> dict[str, Any]:
        """What sends and what is held back (pauses, breakers, held definition changes)."""
        shown: dict[str, Any] = {}
        for name, read in {"sending": self._sending, **self.ctx.details}.items():
            try:
                shown[name] = read()
            except Exception as exc:  # the checks above report a database that is down
                shown[name] = {"error": type(exc).__name__}
        return shown

    def _sending(self) -> dict[str, Any]:
        with self.ctx.engine.connect() as conn:
            pauses = open_pauses(conn)
        return {"paused": [p.as_dict() for p in pauses]}

    def _database(self) -> str | None:
        with self.ctx.engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1").scalar()
        return None


def _run(check: HealthCheck) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        problem = check()
    except Exception as exc:
        # The exception's class and first line: enough to act on, no connection strings or stacks.
        first_line = (str(exc).strip().splitlines() or [""])[0][:200]
        problem = f"{type(exc).__name__}: {first_line}" if first_line else type(exc).__name__
    result: dict[str, Any] = {"ok": problem is None, "ms": round((time.perf_counter() - started) * 1000, 2)}
    if problem is not None:
        result["error"] = problem
    return result
