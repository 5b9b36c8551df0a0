"""The migrations build exactly the schema the code declares, on both engines."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from nurture.store.engine import create_store_engine
from nurture.store.migrate import current_revision, head_revision, upgrade
from nurture.store.schema import metadata
from tests.conftest import create_postgres_database, drop_postgres_database


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database_url(request: pytest.FixtureRequest, tmp_path):  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    url = create_postgres_database("nurture_migrations")
    yield url
    drop_postgres_database(url)


def test_upgrade_builds_the_declared_schema_without_drift(empty_database_url: str) -> None:
    engine = create_store_engine(empty_database_url)
    try:
        assert current_revision(engine) is None
        upgrade(engine)
        assert current_revision(engine) == head_revision()
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
        assert diff == []
        tables = set(inspect(engine).get_table_names())
        assert {t.name for t in metadata.sorted_tables} <= tables
    finally:
        engine.dispose()


def test_upgrade_twice_is_harmless(empty_database_url: str) -> None:
    engine = create_store_engine(empty_database_url)
    try:
        upgrade(engine)
        upgrade(engine)
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_partial_indexes_make_due_work_cheap(store) -> None:  # type: ignore[no-untyped-def]
    indexes = {ix["name"] for ix in inspect(store).get_indexes("enrollments")}
    assert {"ix_enrollments_due", "uq_enrollments_one_active"} <= indexes
    assert "ix_messages_due" in {ix["name"] for ix in inspect(store).get_indexes("messages")}
