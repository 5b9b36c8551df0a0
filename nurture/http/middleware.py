"""Cross-cutting rules for every response: security headers, request counts and timings.

A plain ASGI middleware (no per-request task or body buffering), so the open and click paths stay
as cheap as the routes themselves.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nurture.http.metrics import Metrics
from nurture.http.pages import SECURITY_HEADERS

_HEADERS = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in SECURITY_HEADERS.items()]


class ServerRules:
    """Adds the security headers and records each request under its route's name."""

    def __init__(self, app: ASGIApp, metrics: Metrics, route_names: Mapping[object, str]) -> None:
        self.app = app
        self.metrics = metrics
        self.route_names = route_names
        # Label lookups cost more than the increments: keep each series' child at hand.
        self._counters: dict[tuple[str, str, int], Any] = {}
        self._timers: dict[str, Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_with_rules(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                present = {name.lower() for name, _ in message.get("headers", ())}
                message["headers"] = [
                    *message.get("headers", ()),
                    *(header for header in _HEADERS if header[0] not in present),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_rules)
        finally:
            # The route's template, never the path: tokens would make every request its own series.
            route = self.route_names.get(scope.get("endpoint"), "unmatched")
            key = (route, scope["method"], status)
            counter = self._counters.get(key)
            if counter is None:
                counter = self._counters[key] = self.metrics.requests.labels(
                    route, scope["method"], str(status)
                )
            counter.inc()
            timer = self._timers.get(route)
            if timer is None:
                timer = self._timers[route] = self.metrics.latency.labels(route)
            timer.observe(time.perf_counter() - started)
