"""Exactly once, under fire: ``nurture run`` replicas on PostgreSQL sending through a relay that
misbehaves (421, 451, 550, connections dropped before and after the final dot, stalls), while
replicas are killed with kill -9, restarted gracefully, and the database restarts.

Asserted: no email reaches the relay twice, none is lost (every one ends sent, bounced or
unknown), and ``unknown`` holds only what may really be at the relay: per kill at most one email
per SMTP connection, plus the emails whose answer was lost after the final dot.

CI runs it small (400 emails, 2 replicas); ``NURTURE_RELIABILITY_EMAILS=16000
NURTURE_RELIABILITY_REPLICAS=3 NURTURE_RELIABILITY_RATE=60`` runs it at full size by hand. The
closing line prints the figures for the release note.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from nurture.clock import FixedClock
from nurture.definitions import load_program
from nurture.sending.factory import build_outbox
from nurture.store.schema import messages
from nurture.workspace import Workspace
from tests.daemon.helpers import PINNED, DaemonProcess, import_leads, make_workspace, wait_for
from tests.dbproxy import DatabaseProxy
from tests.harness import Harness
from tests.relay import Relay, relay_url, start_relay

EMAILS = int(os.environ.get("NURTURE_RELIABILITY_EMAILS", "400"))
RATE = float(os.environ.get("NURTURE_RELIABILITY_RATE", "15"))  # emails/s per replica
REPLICAS = int(os.environ.get("NURTURE_RELIABILITY_REPLICAS", "2"))
POOL = 2  # SMTP connections per replica: at most this many unknown per kill
LEASE = 3  # seconds: a killed replica's emails are back within this
CHAOS_EVERY = 2.0  # seconds between two acts of chaos

# Jobs: only sending (and what keeps a replica alive); the emails are queued before the start.
JOBS = """\
jobs:
  advance: {enabled: false}
  send: {every: 1s, misfire_grace_time: 5s}
  reload: {every: 5s, misfire_grace_time: 5s}
  stats: {every: 5s, misfire_grace_time: 5s}
"""

# One recipient in 25 of each: refused for now at RCPT, refused for now after DATA, refused for
# good, connection dropped before the message, dropped after the final dot, answer stalled.
FAULTS = ("421", "451", "550", "drop-before-dot", "drop-after-dot", "stall")
ONCE = {"421", "451", "drop-before-dot"}  # the second attempt goes through
AMBIGUOUS = {"drop-after-dot", "stall"}  # the relay keeps it but the answer is lost: unknown


def address(i: int) -> str:
    return f"lead{i}@firma{i}.de"


@pytest.fixture
def relay() -> Iterator[tuple[Relay, str]]:
    handler = Relay()
    for i in range(EMAILS):
        slot = i % 25
        if slot < len(FAULTS):
            handler.faults[address(i)] = FAULTS[slot]
            if FAULTS[slot] in ONCE:
                handler.once.add(address(i))
    handler.stall_for = 1.5  # longer than the sender waits for the answer to the final dot
    controller = start_relay(handler)
    try:
        yield handler, relay_url(controller, data_timeout=1, timeout=5) + f"&pool_size={POOL}&rate={RATE:g}"
    finally:
        handler.release.set()
        controller.stop()


def by_status(store: Engine) -> Counter[str]:
    with store.connect() as conn:
        found = conn.execute(select(messages.c.status, func.count()).group_by(messages.c.status))
        return Counter(dict(found.all()))


@pytest.mark.reliability
@pytest.mark.postgres
@pytest.mark.slow
def test_replicas_kills_restarts_and_a_misbehaving_relay_send_every_email_exactly_once(
    tmp_path: Path, postgres_store: tuple[str, Engine], relay: tuple[Relay, str]
) -> None:
    url, store = postgres_store
    handler, transport = relay
    proxy = DatabaseProxy(url)
    root = make_workspace(tmp_path / "ws", proxy.url, jobs=JOBS, transport=transport)
    with (root / "nurture.toml").open("a", encoding="utf-8") as toml:
        toml.write(f"outbox_lease = {LEASE}\n")
        # The relay refuses some addresses for good on purpose; the circuit breaker, which would
        # pause sending at that bounce rate, is tested apart (tests/guards/test_breakers.py).
        toml.write("breaker_hard_bounce_rate = 0\n")
    import_leads(root, store, EMAILS)
    Harness(root, store).tick(PINNED)  # every welcome email queued, due since long ago
    assert by_status(store) == {"queued": EMAILS}

    rng = random.Random(13)
    started = time.monotonic()
    replicas = [DaemonProcess(root, now=None, name=f"replica{n}") for n in range(REPLICAS)]
    everyone = list(replicas)
    acts: Counter[str] = Counter()
    sending_at_kill: list[int] = []

    def supervise() -> None:
        """Restart a replica that exited by itself, as systemd's Restart=on-failure does (one that
        starts while the database is down cannot start)."""
        for n, replica in enumerate(replicas):
            if replica.process.poll() is not None:
                acts["restarted after exiting"] += 1
                name = f"replica{n}-again{acts['restarted after exiting']}"
                replicas[n] = DaemonProcess(root, now=None, name=name)
                everyone.append(replicas[n])

    try:
        for replica in replicas:
            replica.wait_healthy(timeout=60)
        phases = {"start": time.monotonic() - started}
        chaos = ("kill -9", "graceful restart", "kill -9", "database restart")
        turn = 0
        while turn < len(chaos) or _never_tried(store) > EMAILS // 10:
            time.sleep(CHAOS_EVERY)
            supervise()
            act = chaos[turn % len(chaos)] if turn < len(chaos) else rng.choice(chaos)
            turn += 1
            acts[act] += 1
            if act == "database restart":
                proxy.cut()  # every connection of every replica is dropped, new ones refused
                time.sleep(1.5)
                proxy.restore()
                continue
            n = rng.randrange(REPLICAS)
            if act == "kill -9":
                sending_at_kill.append(by_status(store)["sending"])
                replicas[n].kill()
            else:
                replicas[n].wait_healthy(timeout=60)  # a replica still starting has no handler yet
                code, took = replicas[n].stop(signal.SIGTERM)
                assert code == 0 and took < 10, replicas[n].tail()
            replicas[n] = DaemonProcess(root, now=None, name=f"replica{n}-{turn}")
            everyone.append(replicas[n])
        phases["chaos"] = time.monotonic() - started - sum(phases.values())
        # The rest is sent; what the relay refused for now waits for its retry time.
        wait_for(
            lambda: supervise() or (_never_tried(store) == 0 and by_status(store)["sending"] == 0),
            120,
            "every due email handed over and every claim settled",
            every=0.2,
        )
        for replica in replicas:
            replica.wait_healthy(timeout=60)
            replica.process.send_signal(signal.SIGTERM)
        for replica in replicas:
            assert replica.process.wait(timeout=15) == 0, replica.tail()
        phases["settle"] = time.monotonic() - started - sum(phases.values())
    finally:
        for replica in everyone:
            replica.ensure_gone()
        proxy.close()
    running_for = time.monotonic() - started

    # Later, as the retries come due: one sender flushes them (as the next day's runs would).
    later = FixedClock(PINNED + timedelta(days=400))  # past any backoff, on the clock of the leases
    workspace = Workspace(root)
    for _ in range(6):
        outbox = build_outbox(store, load_program(workspace), workspace, clock=later.now)

        async def flush() -> None:
            try:
                await outbox.deliver_due(later.now())  # noqa: B023 - run at once, in this iteration
            finally:
                await outbox.transport.close()  # noqa: B023

        asyncio.run(flush())
        later.advance(timedelta(days=1))
        if by_status(store)["queued"] == 0:
            break

    found = by_status(store)
    with store.connect() as conn:
        rows = conn.execute(
            select(messages.c.to_address, messages.c.status, messages.c.message_id, messages.c.last_error,
                   messages.c.attempted_data.is_not(None))
        ).all()  # fmt: skip
    accepted = Counter(handler.accepted)
    duplicates = sum(n - 1 for n in accepted.values() if n > 1)
    lost = EMAILS - found["sent"] - found["bounced"] - found["unknown"]
    unknown_rows = [r for r in rows if r.status == "unknown"]
    crash_unknown = [r for r in unknown_rows if (r.last_error or "").startswith("on the wire")]
    answer_lost = [r for r in rows if r.status == "unknown" and r not in crash_unknown]
    recovered = [
        line["unknown_recovered"]
        for replica in everyone
        for line in replica.events("job.done")
        if line.get("unknown_recovered")
    ]
    # An email on the wire at a kill: its transaction had begun at the relay (RCPT seen).
    reached_relay = sum(1 for r in crash_unknown if handler.attempts.get(r.to_address))
    faults = Counter(handler.faults.values())
    print(
        f"\nreliability: {EMAILS} emails, {REPLICAS} replicas x {POOL} SMTP connections, "
        f"{acts['kill -9']} kill -9, {acts['graceful restart']} graceful restarts, "
        f"{acts['database restart']} database restarts ({acts['restarted after exiting']} replicas restarted "
        f"after failing to start meanwhile), relay faults {dict(sorted(faults.items()))}: "
        f"{duplicates} duplicates, {lost} lost; sent {found['sent']}, bounced {found['bounced']}, "
        f"unknown {found['unknown']} (after the final dot {len(answer_lost)}; on the wire at a kill "
        f"{len(crash_unknown)}, per recovery {recovered}, of which the relay had seen {reached_relay}; "
        f"sending at each kill, all replicas {sending_at_kill}); {running_for:.0f}s "
        f"({', '.join(f'{name} {took:.0f}s' for name, took in phases.items())})"
    )

    assert duplicates == 0, [mid for mid, n in accepted.items() if n > 1][:10]
    assert lost == 0, found
    assert set(found) <= {"sent", "bounced", "unknown"}, found
    sent = {r.message_id for r in rows if r.status == "sent"}
    unknown = {r.message_id for r in rows if r.status == "unknown"}
    assert sent <= set(accepted) <= sent | unknown  # the relay has what the outbox says, at most
    refusing = {a for a, f in handler.faults.items() if f == "550"}
    assert found["bounced"] == len(refusing - {r.to_address for r in crash_unknown})
    # Unknown only where the relay may really have it: an answer lost after the final dot (those
    # recipients' faults, and nothing else) or, per kill, at most one email per connection.
    assert {r.to_address for r in answer_lost} <= {a for a, f in handler.faults.items() if f in AMBIGUOUS}
    assert len(crash_unknown) <= acts["kill -9"] * POOL
    assert all(n <= POOL for n in recovered), recovered
    assert all(r[4] for r in rows if r.status == "unknown")  # the bytes are kept for a resend


def _never_tried(store: Engine) -> int:
    """Emails claimed or queued that no sender has tried yet (the rest wait for a retry time)."""
    m = messages.c
    with store.connect() as conn:
        query = select(func.count()).where(
            (m.status == "claimed") | ((m.status == "queued") & (m.attempts == 0))
        )
        return int(conn.scalar(query) or 0)
