"""SIGTERM while a relay holds the emails on the wire: nothing new is handed over, every claim not
on the wire goes back to the queue at once, and the verdicts of the emails on the wire are
recorded, within the stop budget that fits the systemd unit's TimeoutStopSec."""

from __future__ import annotations

import re
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from nurture.daemon.runner import ON_THE_WIRE_SECONDS, SERVER_STOP_SECONDS, STOP_SECONDS
from nurture.store.schema import messages
from tests.daemon.helpers import DaemonProcess, import_leads, make_workspace, wait_for
from tests.relay import Relay, relay_url, start_relay

LEADS = 40
POOL = 2
UNIT = Path(__file__).resolve().parents[2] / "scheduler" / "nurture.service"


def statuses(store: Engine) -> Counter[str]:
    with store.connect() as conn:
        found = conn.execute(select(messages.c.status, func.count()).group_by(messages.c.status))
        return Counter(dict(found.all()))


@pytest.fixture
def stalling_relay() -> Iterator[tuple[Relay, str]]:
    handler = Relay()
    handler.default = "stall"
    controller = start_relay(handler)
    try:
        yield handler, relay_url(controller) + f"&pool_size={POOL}"
    finally:
        handler.release.set()
        controller.stop()


def start_sending(
    tmp_path: Path, sqlite_store: tuple[str, Engine], relay: tuple[Relay, str]
) -> DaemonProcess:
    url, store = sqlite_store
    handler, transport = relay
    root = make_workspace(tmp_path / "ws", url, transport=transport)
    import_leads(root, store, LEADS)
    daemon = DaemonProcess(root)
    wait_for(lambda: handler.stalled == POOL, 60, "the relay to hold one email per connection")
    return daemon


@pytest.mark.slow
def test_sigterm_gives_back_every_claim_at_once_and_records_what_the_relay_answers(
    tmp_path: Path, sqlite_store: tuple[str, Engine], stalling_relay: tuple[Relay, str]
) -> None:
    handler, _ = stalling_relay
    store = sqlite_store[1]
    daemon = start_sending(tmp_path, sqlite_store, stalling_relay)
    try:
        assert statuses(store)["claimed"] > 0
        daemon.process.send_signal(signal.SIGTERM)
        started = time.monotonic()
        # Before: the rest of the batch was still handed over, and claims waited out their lease.
        wait_for(lambda: statuses(store)["claimed"] == 0, 1.0, "the claims to go back to the queue")
        assert statuses(store)["sending"] == POOL  # only what is on the wire
        time.sleep(1.0)
        handler.release.set()  # the relay answers within the stop budget
        code = daemon.process.wait(timeout=15)
        took = time.monotonic() - started
    finally:
        daemon.ensure_gone()
    assert code == 0, daemon.tail()
    assert took < STOP_SECONDS
    assert statuses(store) == {"sent": POOL, "queued": LEADS - POOL}
    assert len(handler.accepted) == POOL


@pytest.mark.slow
def test_sigterm_with_a_relay_that_never_answers_marks_the_emails_on_the_wire_unknown(
    tmp_path: Path, sqlite_store: tuple[str, Engine], stalling_relay: tuple[Relay, str]
) -> None:
    store = sqlite_store[1]
    daemon = start_sending(tmp_path, sqlite_store, stalling_relay)
    try:
        code, took = daemon.stop(signal.SIGTERM)
    finally:
        daemon.ensure_gone()
    assert code == 0, daemon.tail()
    assert ON_THE_WIRE_SECONDS <= took < STOP_SECONDS + 1
    # The relay has both whole messages: unknown, kept, never resent; the rest wait in the queue.
    assert statuses(store) == {"unknown": POOL, "queued": LEADS - POOL}
    stopped = [line for line in daemon.log() if line.get("event") == "job.done" and line.get("job") == "send"]
    assert stopped and stopped[-1].get("unknown") == POOL


def test_the_stop_budget_fits_the_systemd_unit() -> None:
    stop_sec = float(re.search(r"^TimeoutStopSec=(\d+)", UNIT.read_text(), re.M).group(1))  # type: ignore[union-attr]
    assert ON_THE_WIRE_SECONDS + SERVER_STOP_SECONDS < STOP_SECONDS < stop_sec
