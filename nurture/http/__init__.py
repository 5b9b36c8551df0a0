"""The HTTP server: tracking, unsubscribe, event ingest, sales actions, health and metrics.

``create_app(workspace)`` builds the Starlette app; ``build_server(app, host, port)`` wraps it in a
uvicorn server that ``nurture serve`` runs on its own and the daemon runs in its event loop.
"""

from nurture.http.app import create_app
from nurture.http.context import HealthCheck, HttpContext
from nurture.http.ingest import sign_body
from nurture.http.metrics import Metrics
from nurture.http.server import TrackingServer, build_server, serve_until_stopped

__all__ = [
    "HealthCheck",
    "HttpContext",
    "Metrics",
    "TrackingServer",
    "build_server",
    "create_app",
    "serve_until_stopped",
    "sign_body",
]
