"""Fixtures for engagement tests: leads, enrollments and sent messages, and a live server.

The server is the real app under uvicorn on 127.0.0.1 (an ephemeral port) in a background thread,
on the test's database (SQLite and PostgreSQL in turn), with a clock the test moves.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from nurture.clock import FixedClock
from nurture.delivery.tracking import LinkTracker
from nurture.http import HttpContext, build_server, create_app
from nurture.store.schema import enrollments, events, leads, messages
from nurture.tokens import TokenSigner

SECRET = b"engagement-tests-secret-0123456789"
INGEST_KEY = b"ingest-key-for-tests-0123456789"
METRICS_TOKEN = b"metrics-token-for-tests-0123456789"
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday morning
BROWSER = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36"
)


class Mailroom:
    """Leads, enrollments and sent messages written straight into the test database."""

    def __init__(self, store: Engine) -> None:
        self.store = store

    def _insert(self, table: Any, **values: Any) -> int:
        with self.store.begin() as conn:
            return int(conn.execute(table.insert().values(**values).returning(table.c.id)).scalar_one())

    def lead(self, email: str, *, first_name: str | None = "Lena", **values: Any) -> int:
        created = NOW - timedelta(days=3)
        return self._insert(
            leads, email=email, email_domain=email.rpartition("@")[2], first_name=first_name,
            attributes={}, created_at=created, updated_at=created, **values,
        )  # fmt: skip

    def enrollment(self, lead_id: int, campaign: str = "trial", step: str = "case-study") -> int:
        return self._insert(
            enrollments, lead_id=lead_id, campaign_key=campaign, campaign_version="v1", status="active",
            step_id=step, step_started_at=NOW, due_at=NOW + timedelta(days=2),
            entered_at=NOW - timedelta(days=2),
        )  # fmt: skip

    def message(
        self,
        lead_id: int,
        *,
        enrollment_id: int | None = None,
        campaign: str = "trial",
        step: str = "welcome",
        sent_at: datetime | None = NOW - timedelta(hours=1),
        kind: str = "marketing",
    ) -> int:
        with self.store.connect() as conn:
            to = conn.scalar(select(leads.c.email).where(leads.c.id == lead_id))
        return self._insert(
            messages, lead_id=lead_id, enrollment_id=enrollment_id, campaign_key=campaign, step_id=step,
            kind=kind, to_address=to, subject="Hallo", status="sent", attempts=1,
            message_id=f"<m{time.monotonic_ns()}@t.example>", created_at=NOW - timedelta(hours=2),
            sent_at=sent_at,
        )  # fmt: skip

    def events(self, **where: Any) -> list[Any]:
        with self.store.connect() as conn:
            query = select(events).order_by(events.c.id)
            for column, value in where.items():
                query = query.where(events.c[column] == value)
            return list(conn.execute(query).all())

    def event_count(self) -> int:
        with self.store.connect() as conn:
            return int(conn.scalar(select(func.count()).select_from(events)) or 0)

    def row(self, table: Any, **where: Any) -> Any:
        with self.store.connect() as conn:
            query = select(table)
            for column, value in where.items():
                query = query.where(table.c[column] == value)
            return conn.execute(query).one()


@pytest.fixture
def mailroom(store: Engine) -> Mailroom:
    return Mailroom(store)


@pytest.fixture
def signer() -> TokenSigner:
    return TokenSigner(SECRET)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@dataclass
class Live:
    """A running server: its URL, its context (clock, metrics) and a client for it."""

    url: str
    context: HttpContext
    client: httpx.Client
    tracker: LinkTracker

    def metrics(self) -> str:
        """``/metrics`` as Prometheus reads it on the public listener: with the bearer token."""
        response = self.client.get("/metrics", headers={"authorization": f"Bearer {METRICS_TOKEN.decode()}"})
        assert response.status_code == 200, response.text
        return response.text


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """Run ``app`` under uvicorn on an ephemeral loopback port; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = build_server(app, "127.0.0.1", port, log_level="warning")
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:  # readiness, not a timing assumption
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.005)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def make_context(store: Engine, signer: TokenSigner, clock: FixedClock, program: Any = None) -> HttpContext:
    return HttpContext(
        engine=store,
        signer=signer,
        base_url="https://track.example",
        clock=clock,
        lifecycle=program,
        ingest_key=INGEST_KEY,
        metrics_token=METRICS_TOKEN,
    )


@pytest.fixture
def live(store: Engine, signer: TokenSigner, clock: FixedClock) -> Iterator[Live]:
    context = make_context(store, signer, clock)
    with serving(create_app(context)) as url, httpx.Client(base_url=url, timeout=10) as client:
        # Links in emails point at the public base URL; tests call the server behind it directly.
        yield Live(url, context, client, LinkTracker(signer, url))
