"""Killing the sender mid-run (kill -9) never makes a relay receive an email twice."""

from __future__ import annotations

import asyncio
import email
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from nurture.store.schema import messages
from tests.harness import Harness
from tests.ports import free_port

LEADS = 80
STALL_AFTER = 5


class StallingRelay:
    """Accepts messages, but after the first few holds every DATA until released."""

    def __init__(self) -> None:
        self.received: list[str] = []
        self.arrived: list[str] = []  # whole messages the relay had, answered or not
        self.release = threading.Event()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.arrived.append(str(email.message_from_bytes(envelope.content)["Message-ID"]))
        if len(self.received) >= STALL_AFTER:
            while not self.release.is_set():
                await asyncio.sleep(0.02)
        parsed = email.message_from_bytes(envelope.content)
        self.received.append(str(parsed["Message-ID"]))
        return "250 2.0.0 queued"


def run_tick(root: Path, now: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "NURTURE_WORKSPACE": str(root)}
    return subprocess.Popen(
        [sys.executable, "-m", "nurture", "tick", "--now", now],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


@pytest.mark.slow
def test_kill_9_mid_send_then_restart_sends_nothing_twice(harness: Harness) -> None:
    relay = StallingRelay()
    port = free_port()
    controller = Controller(relay, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        toml = harness.root / "nurture.toml"
        toml.write_text(
            toml.read_text()
            + f'transport = "smtp://127.0.0.1:{port}?tls=none&timeout=30&max_connections=4"\n',
            encoding="utf-8",
        )
        rows = "".join(f"lead{i}@firma{i}.de,L{i},DE,Europe/Berlin\n" for i in range(LEADS))
        harness.import_leads(
            "email,first_name,country,timezone\n" + rows, datetime(2026, 3, 2, 8, 30, tzinfo=UTC)
        )

        first = run_tick(harness.root, "2026-03-02T08:30:00Z")
        deadline = time.monotonic() + 60
        while len(relay.received) < STALL_AFTER and time.monotonic() < deadline and first.poll() is None:
            time.sleep(0.05)
        assert len(relay.received) == STALL_AFTER, first.communicate()[0].decode()
        time.sleep(0.3)  # let the sender hand the stalled window over
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        relay.release.set()

        second = run_tick(harness.root, "2026-03-02T08:45:00Z")  # after the dead sender's lease
        output = second.communicate(timeout=120)[0].decode()
        assert second.returncode == 0, output
    finally:
        relay.release.set()
        controller.stop()

    duplicates = [mid for mid, n in Counter(relay.received).items() if n > 1]
    assert duplicates == []
    with harness.store.connect() as conn:
        rows_by_status = Counter(s for (s,) in conn.execute(select(messages.c.status)))
        sent_ids = {
            m for (m,) in conn.execute(select(messages.c.message_id).where(messages.c.status == "sent"))
        }
        unknown_ids = {
            m for (m,) in conn.execute(select(messages.c.message_id).where(messages.c.status == "unknown"))
        }
    assert set(rows_by_status) <= {"sent", "unknown"}
    assert rows_by_status["sent"] + rows_by_status["unknown"] == LEADS
    assert 1 <= rows_by_status["unknown"] <= 16  # at most two handover windows were in hand at the kill
    # Only what was really on the wire: one email per connection (4), each of them at the relay.
    assert rows_by_status["unknown"] <= 4
    assert unknown_ids <= set(relay.arrived)
    assert set(relay.received) <= sent_ids | unknown_ids
    assert sent_ids <= set(relay.received)
    assert f"unknown   {rows_by_status['unknown']}" in output
