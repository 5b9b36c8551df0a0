"""Running the app with uvicorn, on its own (``nurture serve``) or inside the daemon's event loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import Generator

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from nurture.errors import SettingsError
from nurture.http.health import ADMIN_SCOPE_KEY
from nurture.settings import admin_address

_log = logging.getLogger("nurture.http")

GRACEFUL_SHUTDOWN_SECONDS = 10  # requests in flight may finish; then connections are closed


class AdminListener:
    """Marks requests that arrived on the admin listener's port, so /metrics answers them."""

    def __init__(self, app: ASGIApp, port: int) -> None:
        self.app = app
        self.port = port

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        server = scope.get("server")
        if scope["type"] == "http" and server is not None and server[1] == self.port:
            scope = {**scope, ADMIN_SCOPE_KEY: True}
        await self.app(scope, receive, send)


class TrackingServer(uvicorn.Server):
    """uvicorn's server; with ``handle_signals=False`` it leaves SIGTERM/SIGINT to its owner,
    who stops it by setting ``should_exit`` (the daemon stops its scheduler and server together).

    With an admin address it listens there too, in the same server (one event loop, one
    shutdown): requests on that port may read /metrics.
    """

    def __init__(
        self, config: uvicorn.Config, *, handle_signals: bool = True, admin: tuple[str, int] | None = None
    ) -> None:
        super().__init__(config)
        self.handle_signals = handle_signals
        self.admin = admin

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        if sockets is None and self.admin is not None:
            public = self.config.bind_socket()
            try:
                admin = socket.create_server(self.admin, family=_family(self.admin[0]), reuse_port=False)
            except OSError as exc:
                # Metrics are worth a loud line, not a daemon that sends no mail.
                _log.error(
                    "the admin listener (metrics_bind %s:%s) cannot listen: %s; /metrics is not served",
                    *self.admin, exc.strerror or exc,
                )  # fmt: skip
                sockets = [public]
            else:
                admin.set_inheritable(True)
                sockets = [public, admin]
        await super().serve(sockets=sockets)

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        if not self.handle_signals:
            yield
            return
        with super().capture_signals():
            yield


def build_server(
    app: ASGIApp,
    host: str,
    port: int,
    *,
    access_log: bool = False,
    handle_signals: bool = True,
    log_level: str = "info",
    forwarded_allow_ips: str | None = None,
    admin_bind: str | None = None,
) -> TrackingServer:
    """A uvicorn server for ``app``; run it with ``await server.serve()`` in your own event loop.

    ``forwarded_allow_ips``: proxies whose X-Forwarded-For is trusted (default: localhost only),
    so the reader's own address is seen behind a reverse proxy. ``admin_bind``: ``HOST:PORT`` of
    the admin listener for /metrics (the ``metrics_bind`` setting; empty or None: none).
    """
    admin = admin_address(admin_bind) if admin_bind else None
    if admin is not None:
        if admin[1] == port:
            raise SettingsError(f"metrics_bind {admin_bind} uses the public port {port}: choose another port")
        app = AdminListener(app, admin[1])
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        access_log=access_log,
        log_level=log_level,
        proxy_headers=True,
        forwarded_allow_ips=forwarded_allow_ips,
        server_header=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        lifespan="on",
    )
    return TrackingServer(config, handle_signals=handle_signals, admin=admin)


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


async def serve_until_stopped(server: TrackingServer) -> None:
    """Serve until SIGTERM or SIGINT, then shut down gracefully (a second signal: at once)."""
    loop = asyncio.get_running_loop()

    def stop() -> None:
        if server.should_exit:
            server.force_exit = True
        server.should_exit = True

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop)
    try:
        await server.serve()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
