"""Following a table by id on PostgreSQL without passing over rows that commit late.

The engine reads new events (and new leads) as "ids above the cursor". On SQLite every writer
holds the database's one write lock until it commits, so ids become visible in order. On
PostgreSQL two transactions can take ids 7 and 8 and commit 8 first: a reader that sees 8 and
moves its cursor there would never see 7. So every transaction that writes to a followed table
first takes that table's advisory lock in shared mode, and a reader takes it in exclusive mode for
a moment: once it has it, no writer is between taking an id and committing, and every id up to
the table's highest is final. The reader reads no further than that. Writers queued meanwhile
wait for that moment only; a reader that cannot get the lock in time reads nothing this round.
"""

from __future__ import annotations

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from nurture.store import bulk
from nurture.store.advisory import advisory_key

FOLLOWED = ("events", "leads")
WAIT_AT_MOST = "5s"  # a writer's transaction (a 20,000-event import batch) commits well within this


def _key(table: str) -> int:
    return advisory_key(f"nurture:feed:{table}")


def writing(conn: Connection, table: str) -> None:
    """Call in a transaction before it takes ids of ``table`` (PostgreSQL; a no-op on SQLite)."""
    assert table in FOLLOWED
    if conn.dialect.name == "postgresql":
        bulk.execute(conn, "SELECT pg_advisory_xact_lock_shared(:key)", {"key": _key(table)})


def final_up_to(conn: Connection, table: str) -> int | None:
    """The id up to which ``table`` holds only committed rows: None where every id is final as
    soon as it is seen (SQLite), -1 where the writers did not let go in time (read nothing now)."""
    assert table in FOLLOWED
    if conn.dialect.name != "postgresql":
        return None
    key = {"key": _key(table)}
    previous = bulk.execute(conn, "SELECT current_setting('lock_timeout')").scalar()
    bulk.execute(conn, "SELECT set_config('lock_timeout', :wait, true)", {"wait": WAIT_AT_MOST})
    try:
        with conn.begin_nested():
            bulk.execute(conn, "SELECT pg_advisory_lock(:key)", key)
    except DBAPIError:
        return -1
    finally:
        bulk.execute(conn, "SELECT set_config('lock_timeout', :wait, true)", {"wait": previous})
    try:
        top = bulk.execute(conn, f"SELECT max(id) FROM {table}").scalar()  # noqa: S608 - a fixed name
    finally:
        bulk.execute(conn, "SELECT pg_advisory_unlock(:key)", key)
    return int(top or 0)
