"""A transaction that only reads leaves the database free for writers on every engine."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, insert, select
from sqlalchemy.engine import Engine

from nurture.store.engine import reading
from nurture.store.schema import leads

NOW = datetime(2026, 3, 3, 10, 0, tzinfo=UTC)


def _add_lead(conn, email: str) -> None:  # type: ignore[no-untyped-def]
    conn.execute(
        insert(leads).values(
            email=email, email_domain="example.com", attributes={}, created_at=NOW, updated_at=NOW
        )
    )


def test_a_write_commits_while_a_reading_transaction_is_open(store: Engine) -> None:
    with store.begin() as conn:
        _add_lead(conn, "first@example.com")
    with reading(store).begin() as reader:
        assert reader.execute(select(func.count()).select_from(leads)).scalar_one() == 1
        # On SQLite a transaction that took the write lock at its start would keep this writer
        # waiting for the busy timeout, then fail with "database is locked".
        with store.begin() as writer:
            _add_lead(writer, "second@example.com")
        # The reader keeps the snapshot it began with (SQLite) or sees the commit (PostgreSQL's
        # read committed): either way it read without holding the writer up.
        assert reader.execute(select(func.count()).select_from(leads)).scalar_one() in (1, 2)
    with store.begin() as conn:
        assert conn.execute(select(func.count()).select_from(leads)).scalar_one() == 2
