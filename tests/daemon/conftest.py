"""Databases for daemon tests: a SQLite copy of the migrated template, or a PostgreSQL database of
the test's own (replicas are separate processes, so nothing is shared with other tests)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from nurture.store.engine import create_store_engine
from nurture.store.migrate import upgrade
from tests.conftest import create_postgres_database, drop_postgres_database
from tests.daemon.helpers import copy_sqlite, make_workspace


@pytest.fixture
def sqlite_store(tmp_path: Path, sqlite_template: Path) -> Iterator[tuple[str, Engine]]:
    url = copy_sqlite(sqlite_template, tmp_path / "nurture.db")
    store = create_store_engine(url)
    yield url, store
    store.dispose()


@pytest.fixture
def postgres_store() -> Iterator[tuple[str, Engine]]:
    url = create_postgres_database("nurture_daemon")
    store = create_store_engine(url)
    try:
        upgrade(store)
        yield url, store
    finally:
        store.dispose()
        drop_postgres_database(url)


@pytest.fixture
def sqlite_workspace(tmp_path: Path, sqlite_store: tuple[str, Engine]) -> tuple[Path, Engine]:
    """A workspace with the test program, fast jobs and a Maildir outbox, on its own SQLite file."""
    url, store = sqlite_store
    return make_workspace(tmp_path / "ws", url), store
