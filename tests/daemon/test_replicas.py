"""Scale-out: several ``nurture run`` replicas on one PostgreSQL share the work, each email once."""

from __future__ import annotations

import signal
import threading
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from nurture.daemon import cluster_lock
from nurture.store.engine import create_store_engine
from nurture.store.schema import messages
from tests.daemon.helpers import (
    DaemonProcess,
    count_delivered,
    delivered,
    import_leads,
    make_workspace,
    message_ids,
    senders_by_process,
    wait_for,
)

SENDS = 10_000
REPLICAS = 3

pytestmark = pytest.mark.postgres


def test_a_cluster_lock_is_held_by_one_replica_at_a_time(postgres_store: tuple[str, Engine]) -> None:
    _, store = postgres_store
    other = create_store_engine(postgres_store[0])
    try:
        with cluster_lock(store, "sla") as first:
            assert first
            outcome: list[bool] = []

            def elsewhere() -> None:  # another replica: its own process, its own connection
                with cluster_lock(other, "sla") as held:
                    outcome.append(held)
                with cluster_lock(other, "decay") as held:
                    outcome.append(held)

            thread = threading.Thread(target=elsewhere)
            thread.start()
            thread.join()
            assert outcome == [False, True]  # taken for "sla"; "decay" is another lock
        with cluster_lock(other, "sla") as again:
            assert again  # released when the block ended
    finally:
        other.dispose()


@pytest.mark.slow
def test_three_replicas_send_10000_due_emails_exactly_once(
    tmp_path: Path, postgres_store: tuple[str, Engine]
) -> None:
    url, store = postgres_store
    shared = tmp_path / "shared-outbox"
    root = make_workspace(tmp_path / "ws", url, transport=f"maildir:{shared}")
    import_leads(root, store, SENDS)
    replicas = [DaemonProcess(root, name=f"replica{n}") for n in range(REPLICAS)]
    try:
        for replica in replicas:
            replica.wait_healthy(timeout=60)
        wait_for(lambda: count_delivered(shared) >= SENDS, 150, f"{SENDS} emails", every=0.2)
        wait_for(lambda: _statuses(store) == {"sent": SENDS}, 30, "every verdict recorded", every=0.2)
        for replica in replicas:
            code, took = replica.stop(signal.SIGTERM)
            assert code == 0, replica.tail()
            assert took < 10
    finally:
        for replica in replicas:
            replica.ensure_gone()

    arrived = message_ids(shared)
    assert len(arrived) == SENDS and set(arrived.values()) == {1}  # every email exactly once
    with store.connect() as conn:
        recorded = set(conn.scalars(select(messages.c.message_id)))
    assert set(arrived) == recorded
    per_replica = senders_by_process(shared)
    assert len(per_replica) >= 2, per_replica  # the work was shared
    stamps = sorted(path.stat().st_mtime for path in delivered(shared))
    span = stamps[-1] - stamps[0]
    entered_by = Counter(r.pid for r in replicas for line in r.events("job.done") if line.get("entered"))
    assert len(entered_by) == 1, entered_by  # new leads entered campaigns on one replica only
    print(
        f"\n{REPLICAS} replicas, {SENDS} emails in {span:.1f}s ({SENDS / span:.0f}/s); "
        f"per replica {sorted(per_replica.values(), reverse=True)}"
    )


def _statuses(store: Engine) -> dict[str, int]:
    with store.connect() as conn:
        return dict(conn.execute(select(messages.c.status, func.count()).group_by(messages.c.status)).all())
