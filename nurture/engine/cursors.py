"""Named positions in feeds the engine follows by keyset (new leads, new events, segment passes)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, select

from nurture.store.schema import cursors


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


def move_cursor(conn: Connection, name: str, position: int, now: datetime) -> None:
    updated = conn.execute(
        cursors.update().where(cursors.c.name == name).values(position=position, updated_at=now)
    )
    if not updated.rowcount:
        conn.execute(cursors.insert().values(name=name, position=position, updated_at=now))
