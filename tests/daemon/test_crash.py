"""Stopping the daemon mid-send: SIGTERM loses nothing; kill -9 never makes an email arrive twice."""

from __future__ import annotations

import signal
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from nurture.store.schema import messages
from tests.daemon.helpers import (
    PINNED,
    DaemonProcess,
    count_delivered,
    import_leads,
    message_ids,
    wait_for,
)

SENDS = 10_000
KILL_AT = (1_500, 4_000, 6_500)  # delivered emails at which the daemon is killed
LEASE = timedelta(minutes=11)  # past the outbox's 10-minute lease: the next sender recovers its rows


def statuses(store: Engine) -> Counter[str]:
    with store.connect() as conn:
        return Counter(
            dict(conn.execute(select(messages.c.status, func.count()).group_by(messages.c.status)).all())
        )


def ids_with_status(store: Engine, status: str) -> set[str]:
    with store.connect() as conn:
        return set(conn.scalars(select(messages.c.message_id).where(messages.c.status == status)))


@pytest.mark.slow
def test_sigterm_mid_send_finishes_the_batch_in_hand_and_exits_cleanly(
    sqlite_workspace: tuple[Path, Engine],
) -> None:
    root, store = sqlite_workspace
    outbox = root / "outbox"
    import_leads(root, store, 3_000)
    daemon = DaemonProcess(root)
    try:
        wait_for(lambda: count_delivered(outbox) >= 400, 60, "sending to be under way", every=0.01)
        code, took = daemon.stop(signal.SIGTERM)
    finally:
        daemon.ensure_gone()
    assert code == 0, daemon.tail()
    assert took < 10
    found = statuses(store)
    # Nothing was left half-done: every email is sent (and arrived) or still queued for later.
    assert set(found) <= {"sent", "queued"}, found
    assert 400 <= found["sent"] < 3_000, found
    assert set(message_ids(outbox)) == ids_with_status(store, "sent")
    print(f"\nSIGTERM after {found['sent']} sends: exited in {took:.2f}s, {found['queued']} left queued")


@pytest.mark.slow
def test_kill_9_during_a_10000_send_run_never_delivers_an_email_twice(
    sqlite_workspace: tuple[Path, Engine],
) -> None:
    root, store = sqlite_workspace
    outbox = root / "outbox"
    import_leads(root, store, SENDS)
    in_flight: list[int] = []  # emails being handed over at each kill
    started = time.monotonic()
    for run, threshold in enumerate(KILL_AT):
        # Each restart is a later moment (past the dead sender's lease), as after a real crash.
        daemon = DaemonProcess(root, now=PINNED + LEASE * run, name=f"run{run}")
        try:
            # Each poll lists thousands of files: every 50 ms leaves the CPU to the daemon under test.
            wait_for(lambda t=threshold: count_delivered(outbox) >= t, 120, f"{threshold} emails")
            daemon.kill()
        finally:
            daemon.ensure_gone()
        in_flight.append(statuses(store)["sending"])
    last = DaemonProcess(root, now=PINNED + LEASE * len(KILL_AT), name="final")
    try:
        wait_for(
            lambda: statuses(store)["sent"] + statuses(store)["unknown"] == SENDS,
            120,
            "every email",
            every=0.2,
        )
        code, _ = last.stop(signal.SIGTERM)
    finally:
        last.ensure_gone()
    assert code == 0, last.tail()
    elapsed = time.monotonic() - started

    arrived = message_ids(outbox)
    assert [mid for mid, n in arrived.items() if n > 1] == []  # no Message-ID twice
    found = statuses(store)
    assert set(found) <= {"sent", "unknown"}, found
    assert found["sent"] + found["unknown"] == SENDS  # every due step: one email, never a second
    sent, unknown = ids_with_status(store, "sent"), ids_with_status(store, "unknown")
    assert sent <= set(arrived) <= sent | unknown
    with store.connect() as conn:
        steps = conn.execute(select(func.count(), func.count(func.distinct(messages.c.enrollment_id)))).one()
    assert tuple(steps) == (SENDS, SENDS)
    # Only the emails being handed over at a kill are unknown: one sending window at most.
    assert sum(in_flight) == found["unknown"]
    assert all(n <= 16 for n in in_flight), in_flight  # two handover windows at most
    print(
        f"\nkill -9 x{len(KILL_AT)} during {SENDS} sends: unknown per kill {in_flight} "
        f"(of which arrived anyway: {len(set(arrived) & unknown)}), {elapsed:.1f}s in all"
    )
