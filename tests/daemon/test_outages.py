"""The daemon rides out an SMTP relay outage and a database restart, and resumes by itself."""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, select, text
from sqlalchemy.engine import Engine

from nurture.clock import FixedClock
from nurture.daemon import Daemon, DaemonOptions
from nurture.store.schema import messages
from nurture.workspace import Workspace
from tests.daemon.helpers import (
    PINNED,
    DaemonProcess,
    count_delivered,
    import_leads,
    make_workspace,
    wait_for,
)
from tests.ports import free_port


class Relay:
    """An SMTP relay that keeps the Message-ID of every email it accepts."""

    def __init__(self) -> None:
        self.received: list[str] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        for line in envelope.content.decode("utf-8", "replace").splitlines():
            if line.lower().startswith("message-id:"):
                self.received.append(line.split(":", 1)[1].strip())
        return "250 2.0.0 queued"


def waiting_for_retry(store: Engine) -> int:
    with store.connect() as conn:
        return int(
            conn.scalar(select(func.count()).where(messages.c.status == "queued", messages.c.attempts >= 1))
            or 0
        )


def sent(store: Engine) -> int:
    with store.connect() as conn:
        return int(conn.scalar(select(func.count()).where(messages.c.status == "sent")) or 0)


async def until(condition: Callable[[], Any], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(condition):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


@pytest.mark.slow
def test_an_smtp_outage_sends_mail_back_to_the_queue_until_the_relay_returns(
    tmp_path: Path, sqlite_store: tuple[str, Engine]
) -> None:
    url, store = sqlite_store
    port = free_port()
    root = make_workspace(tmp_path / "ws", url, transport=f"smtp://127.0.0.1:{port}?tls=none&timeout=5")
    import_leads(root, store, 20)
    clock = FixedClock(PINNED)
    relay = Relay()
    controller = Controller(relay, hostname="127.0.0.1", port=port)

    async def scenario() -> int:
        daemon = Daemon(Workspace(root), DaemonOptions(port=free_port(), clock=lambda: clock))
        running = asyncio.create_task(daemon.run())
        # The relay is down: every email goes back to the queue with a retry time, none is lost.
        await until(lambda: waiting_for_retry(store) == 20, 30, "the emails to wait for a retry")
        assert daemon.runtime is not None
        health = daemon.runtime.health
        assert health.transport_check() is not None
        # The relay is back; once the retry time has come, the daemon sends by itself.
        controller.start()
        clock.advance(timedelta(minutes=2))
        await until(lambda: sent(store) == 20, 30, "the emails to be sent")
        # The rows are committed before the send run reports to health: the check clears then.
        await until(lambda: health.transport_check() is None, 10, "the transport check to clear")
        daemon.request_stop("test")
        return await running

    try:
        assert asyncio.run(scenario()) == 0
    finally:
        controller.stop()
    assert sorted(relay.received) == sorted(set(relay.received)) and len(relay.received) == 20


@pytest.mark.postgres
@pytest.mark.slow
def test_a_database_restart_is_survived_and_work_resumes(
    tmp_path: Path, postgres_store: tuple[str, Engine]
) -> None:
    url, store = postgres_store
    root = make_workspace(tmp_path / "ws", url)
    outbox = root / "outbox"
    import_leads(root, store, 30)
    daemon = DaemonProcess(root)
    try:
        daemon.wait_healthy()
        wait_for(lambda: count_delivered(outbox) == 30, 30, "the first emails")
        # What a restart looks like from the daemon: every connection it holds is cut, a few times.
        for _ in range(5):
            with store.connect() as conn:
                conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                )
                conn.commit()
            time.sleep(0.3)
        import_leads(root, store, 30, start=30)
        wait_for(lambda: count_delivered(outbox) == 60, 60, "emails after the restart")
        assert daemon.wait_healthy()["status"] == "ok"
        code, took = daemon.stop(signal.SIGTERM)
    finally:
        daemon.ensure_gone()
    assert code == 0, daemon.tail()
    assert took < 10
    assert sent(store) == 60


@pytest.mark.postgres
def test_a_claimed_batch_goes_back_to_the_queue_once_the_database_is_back(
    tmp_path: Path, postgres_store: tuple[str, Engine]
) -> None:
    from nurture.definitions import load_program
    from nurture.delivery.transports import MemoryTransport
    from nurture.sending.factory import build_outbox
    from nurture.store.engine import create_store_engine
    from tests.dbproxy import DatabaseProxy
    from tests.harness import Harness

    url, store = postgres_store
    root = make_workspace(tmp_path / "ws", url)
    import_leads(root, store, 10)
    Harness(root, store).tick(PINNED)
    proxy = DatabaseProxy(url)
    through_proxy = create_store_engine(proxy.url)
    try:
        workspace = Workspace(root)
        outbox = build_outbox(through_proxy, load_program(workspace), workspace, MemoryTransport())
        claimed = outbox.claim(PINNED, "a-claim")
        assert len(claimed) == 10
        proxy.cut()  # the database restarts just as the sender gives its batch back
        threading.Timer(1.5, proxy.restore).start()
        started = time.monotonic()
        outbox.release([row.id for row in claimed], "a-claim")  # before: failed, and rows waited the lease
        assert time.monotonic() - started >= 1.0
    finally:
        through_proxy.dispose()
        proxy.close()
    with store.connect() as conn:
        found = dict(conn.execute(select(messages.c.status, func.count()).group_by(messages.c.status)).all())
        tokens = set(conn.scalars(select(messages.c.claim_token)))
    assert found == {"queued": 10} and tokens == {None}
