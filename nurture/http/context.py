"""Everything the HTTP app needs, built once at start: no request loads settings or definitions."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from nurture.clock import Clock, SystemClock
from nurture.delivery.tracking import LinkTracker
from nurture.engagement import UnknownLeads
from nurture.http.metrics import Metrics
from nurture.http.writer import SightingWriter
from nurture.settings import secret_key
from nurture.tokens import TokenSigner

if TYPE_CHECKING:
    from sqlalchemy import Connection
    from sqlalchemy.engine import Engine

    from nurture.definitions import Program
    from nurture.workspace import Workspace

HealthCheck = Callable[[], "str | None"]
"""A readiness check for ``/healthz``: None when healthy, else what is wrong (it may also raise)."""


@dataclass
class HttpContext:
    """The database, the token signer, the clock and the program the routes work with."""

    engine: Engine
    signer: TokenSigner
    base_url: str
    clock: Clock = field(default_factory=SystemClock)
    program: Program | None = None
    ingest_key: bytes | None = field(default=None, repr=False)
    metrics_token: bytes | None = field(default=None, repr=False)  # /metrics on the public listener
    unknown_leads: UnknownLeads = "keep"
    checks: Mapping[str, HealthCheck] = field(default_factory=dict)
    metrics: Metrics = field(default_factory=Metrics)
    owns_engine: bool = False  # dispose the engine when the app shuts down

    def __post_init__(self) -> None:
        self.tracker = LinkTracker(self.signer, self.base_url)
        self._one_writer = self.engine.dialect.name == "sqlite"
        self._write_lock = threading.Lock()
        self.sightings = SightingWriter(self.transaction, lambda: self.program)

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A write transaction for a request.

        On SQLite the app's threads take turns here: SQLite has a single writer, and a thread that
        finds it busy sleeps in SQLite's busy handler (steps of up to 100 ms) where a Python lock
        hands over at once.
        """
        if self._one_writer:
            with self._write_lock, self.engine.begin() as conn:
                yield conn
        else:
            with self.engine.begin() as conn:
                yield conn

    @classmethod
    def from_workspace(
        cls,
        workspace: Workspace,
        *,
        engine: Engine | None = None,
        clock: Clock | None = None,
        program: Program | None = None,
        checks: Mapping[str, HealthCheck] | None = None,
    ) -> HttpContext:
        """The context for a workspace: its settings, its secret key, its database and program.

        Without ``engine``, one is created for the workspace's database (checked to be migrated)
        and disposed with the app. Without ``program``, the workspace's definitions are loaded.
        """
        settings = workspace.settings
        owns = engine is None
        if engine is None:
            from nurture.store.engine import create_store_engine
            from nurture.store.readiness import ensure_current

            engine = create_store_engine(workspace.database_url)
            ensure_current(engine)
        if program is None:
            from nurture.definitions import load_program

            program = load_program(workspace)
        ingest = settings.ingest_api_key.get_secret_value() if settings.ingest_api_key else ""
        metrics = settings.metrics_token.get_secret_value() if settings.metrics_token else ""
        return cls(
            engine=engine,
            signer=TokenSigner(secret_key(settings, workspace.root)),
            base_url=settings.base_url,
            clock=clock or SystemClock(),
            program=program,
            ingest_key=ingest.encode("utf-8") if ingest else None,
            metrics_token=metrics.encode("utf-8") if metrics else None,
            unknown_leads=settings.unknown_event_leads,
            checks=dict(checks or {}),
            owns_engine=owns,
        )
