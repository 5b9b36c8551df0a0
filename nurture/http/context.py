"""Everything the HTTP app needs, built once at start: no request loads settings or definitions."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from nurture.clock import Clock, SystemClock
from nurture.definitions import Program, load_program
from nurture.delivery.tracking import LinkTracker
from nurture.engagement import UnknownLeads
from nurture.http.metrics import Metrics
from nurture.http.pages import Pages
from nurture.http.writer import SightingWriter
from nurture.lifecycle import Lifecycle, SalesSetup
from nurture.settings import Settings
from nurture.store.engine import create_store_engine
from nurture.store.readiness import ensure_current
from nurture.tokens import TokenSigner
from nurture.workspace import Workspace

if TYPE_CHECKING:
    from sqlalchemy import Connection
    from sqlalchemy.engine import Engine

HealthCheck = Callable[[], "str | None"]
"""A readiness check for ``/healthz``: None when healthy, else what is wrong (it may also raise)."""


@dataclass
class HttpContext:
    """The database, the token signer, the clock and the program (with what follows a change to a
    lead under it) the routes work with."""

    engine: Engine
    signer: TokenSigner
    base_url: str
    clock: Clock = field(default_factory=SystemClock)
    lifecycle: Lifecycle | None = None  # a daemon swaps it when it reloads the program
    ingest_key: bytes | None = field(default=None, repr=False)
    sales_key: bytes | None = field(default=None, repr=False)  # the sales API's key for CRMs
    metrics_token: bytes | None = field(default=None, repr=False)  # /metrics on the public listener
    unknown_leads: UnknownLeads = "keep"
    checks: Mapping[str, HealthCheck] = field(default_factory=dict)
    # More of the state shown by ``/healthz`` (never judged: a paused campaign is not a sick replica).
    details: dict[str, Callable[[], Any]] = field(default_factory=dict)
    metrics: Metrics = field(default_factory=Metrics)
    owns_engine: bool = False  # dispose the engine when the app shuts down

    def __post_init__(self) -> None:
        self.tracker = LinkTracker(self.signer, self.base_url)
        self._one_writer = self.engine.dialect.name == "sqlite"
        self._write_lock = threading.Lock()
        self.sightings = SightingWriter(self.transaction, lambda: self.lifecycle)
        self._pages: tuple[Lifecycle | None, Pages] | None = None

    @property
    def pages(self) -> Pages:
        """The pages as the current program's workspace has them (``templates/pages/`` first);
        a daemon that reloads its program gets them anew with the new lifecycle."""
        lifecycle = self.lifecycle
        built = self._pages
        if built is None or built[0] is not lifecycle:
            pages = (
                Pages.of(lifecycle.sales.settings, lifecycle.program.templates_dir)
                if lifecycle is not None
                else Pages.of(Settings(), None)
            )
            built = self._pages = (lifecycle, pages)
        return built[1]

    @property
    def program(self) -> Program | None:
        return self.lifecycle.program if self.lifecycle is not None else None

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
        lifecycle: Lifecycle | None = None,
        checks: Mapping[str, HealthCheck] | None = None,
    ) -> HttpContext:
        """The context for a workspace: its settings, its secret key, its database and program.

        Without ``engine``, one is created for the workspace's database (checked to be migrated)
        and disposed with the app. Without ``lifecycle`` (what follows a change to a lead, which
        holds the program), one is made for ``program``, else for the workspace's definitions.
        """
        settings = workspace.settings
        owns = engine is None
        if engine is None:
            engine = create_store_engine(workspace.database_url)
            ensure_current(engine)
        if lifecycle is None:
            program = program if program is not None else load_program(workspace)
            lifecycle = Lifecycle(program, SalesSetup.of(settings, workspace.root))
        ingest = settings.ingest_api_key.get_secret_value() if settings.ingest_api_key else ""
        metrics = settings.metrics_token.get_secret_value() if settings.metrics_token else ""
        sales = settings.sales_api_key.get_secret_value() if settings.sales_api_key else ""
        return cls(
            engine=engine,
            signer=lifecycle.sales.signer,
            base_url=settings.base_url,
            clock=clock or SystemClock(),
            lifecycle=lifecycle,
            ingest_key=ingest.encode("utf-8") if ingest else None,
            metrics_token=metrics.encode("utf-8") if metrics else None,
            sales_key=sales.encode("utf-8") if sales else None,
            unknown_leads=settings.unknown_event_leads,
            checks=dict(checks or {}),
            owns_engine=owns,
        )
