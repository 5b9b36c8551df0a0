"""Cluster locks: jobs that must run once per cluster, whichever replica gets there first.

Due enrollments and messages are shared between replicas by row claims (``FOR UPDATE SKIP
LOCKED``). Jobs that walk a whole table or a mailbox (segments, score decay, SLA timers, webhooks,
the bounce inbox, recording definition versions) would only repeat each other's work, so each
takes a PostgreSQL advisory lock named after it first; a replica that does not get the lock skips
that run. SQLite has one process writing at a time anyway, so there the lock is always granted.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from nurture.store.advisory import advisory_key

KEY_PREFIX = "nurture:job:"


def lock_key(name: str) -> int:
    """The 64-bit advisory-lock key for a job name (stable across processes and versions)."""
    return advisory_key(KEY_PREFIX + name)


@contextmanager
def cluster_lock(db: Engine, name: str) -> Iterator[bool]:
    """Hold the cluster-wide lock ``name`` while the block runs; yields False when another
    replica holds it (the caller then skips its run).

    The lock is session-level on a connection of its own, held for the whole job (the job's
    own transactions commit batch by batch on other connections). It is released when the block
    ends, and by PostgreSQL itself if the replica dies or the connection drops.
    """
    if db.dialect.name != "postgresql":
        yield True
        return
    key = lock_key(name)
    conn = db.connect()
    try:
        held = bool(conn.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}))
        # End the implicit transaction: the session lock outlives it, and a connection left idle
        # in a transaction would pin an old snapshot for as long as the job runs.
        conn.commit()
        if not held:
            yield False
            return
        try:
            yield True
        finally:
            try:
                conn.scalar(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                conn.commit()
            except DBAPIError:
                # The connection broke (database restart): its locks went with it. Never hand a
                # connection that may still hold the lock back to the pool.
                conn.invalidate()
    finally:
        conn.close()
