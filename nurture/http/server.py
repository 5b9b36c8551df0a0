"""Running the app with uvicorn, on its own (``nurture serve``) or inside the daemon's event loop."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Generator

import uvicorn
from starlette.types import ASGIApp

GRACEFUL_SHUTDOWN_SECONDS = 10  # requests in flight may finish; then connections are closed


class TrackingServer(uvicorn.Server):
    """uvicorn's server; with ``handle_signals=False`` it leaves SIGTERM/SIGINT to its owner,
    who stops it by setting ``should_exit`` (the daemon stops its scheduler and server together)."""

    def __init__(self, config: uvicorn.Config, *, handle_signals: bool = True) -> None:
        super().__init__(config)
        self.handle_signals = handle_signals

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
) -> TrackingServer:
    """A uvicorn server for ``app``; run it with ``await server.serve()`` in your own event loop.

    ``forwarded_allow_ips``: proxies whose X-Forwarded-For is trusted (default: localhost only),
    so the reader's own address is seen behind a reverse proxy.
    """
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
    return TrackingServer(config, handle_signals=handle_signals)


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
