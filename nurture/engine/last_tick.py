"""The moment of the latest ``nurture tick``, so a tick told to act earlier can be refused.

Acting at an earlier moment than work already done would send waits and windows backwards (a
wait planned from the later tick would look not yet begun); replays that mean it pass ``--force``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from nurture.store.cursors import move_cursor, read_cursor

LAST_TICK = "tick:last"


def last_tick(conn: Connection) -> datetime | None:
    """When the latest tick acted, or None before the first."""
    return read_cursor(conn, LAST_TICK)[1]


def record_tick(conn: Connection, now: datetime) -> None:
    """Remember ``now`` as the latest tick (a forced earlier tick leaves the later one standing)."""
    latest = last_tick(conn)
    if latest is None or now > latest:
        move_cursor(conn, LAST_TICK, 0, now)
