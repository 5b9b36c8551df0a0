"""Named positions in feeds the engine follows by keyset (new leads, new events, segment passes)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, select

from nurture.store.feeds import final_up_to
from nurture.store.schema import cursors

NEW_LEADS = "entry:lead_created"  # the feed of new leads for `on: lead_created` campaigns


def read_cursor(conn: Connection, name: str, *, lock: bool = False) -> tuple[int, datetime | None]:
    """The position and when it last moved; (0, None) for a feed never read.

    With ``lock`` on PostgreSQL the row stays locked until commit, so two replicas never read
    the same stretch of a feed at once.
    """
    query = select(cursors.c.position, cursors.c.updated_at).where(cursors.c.name == name)
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).first()
    return (int(row.position), row.updated_at) if row else (0, None)


def open_feed(conn: Connection, name: str, table: str) -> tuple[int, int | None]:
    """Where the engine stands in the feed ``name`` of new ``table`` rows (locked, as above), and
    how far it may read: None for no bound, else only ids up to it are final (see
    :func:`nurture.store.feeds.final_up_to`)."""
    final = final_up_to(conn, table)  # before the cursor's lock: writers never wait on it
    position, _ = read_cursor(conn, name, lock=True)
    return position, final


def move_cursor(conn: Connection, name: str, position: int, now: datetime) -> None:
    updated = conn.execute(
        cursors.update().where(cursors.c.name == name).values(position=position, updated_at=now)
    )
    if not updated.rowcount:
        conn.execute(cursors.insert().values(name=name, position=position, updated_at=now))
