"""Shared fixtures: a migrated database on each engine, and workspaces pointing at it.

Every store test runs on SQLite and on PostgreSQL. SQLite databases are copies of one migrated
template file; PostgreSQL tests share one database created for the session (and dropped after),
emptied before each test. Under ``-n`` (pytest-xdist) each test process has its own session, so its
own database, template, servers and ports: nothing is shared between processes. PostgreSQL comes
from ``NURTURE_TEST_POSTGRES_URL``; without it, or without a server behind it, those tests are
skipped with the reason shown.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings
from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url

from nurture.store.engine import create_store_engine
from nurture.store.migrate import upgrade
from nurture.store.schema import metadata

PG_ENV = "NURTURE_TEST_POSTGRES_URL"
ENGINES = ["sqlite", "postgresql"]

# Tests never ask DNS, and send hundreds of emails to one made-up domain within a second: the
# mail-host throttle is off for them (its own tests set it up with a stub resolver), also in the
# processes they start (nurture tick, nurture run).
os.environ.setdefault("NURTURE_MAIL_HOST_MX_LOOKUP", "false")
os.environ.setdefault("NURTURE_MAIL_HOST_LIMITS", '{"default": {"rate": 1000000, "connections": 100000}}')


# Speed is measured by the benchmarks, never by a test: a property test is not failed because one
# example took longer than Hypothesis's 200 ms on a busy machine (four test processes, two cores).
settings.register_profile("nurture", deadline=None)
settings.load_profile("nurture")


def postgres_admin_url() -> str | None:
    return os.environ.get(PG_ENV) or None


def create_postgres_database(prefix: str = "nurture_test") -> str:
    """A new, empty PostgreSQL database; returns its URL. Skips the test when there is no server."""
    admin_url = postgres_admin_url()
    if not admin_url:
        pytest.skip(f"PostgreSQL tests need {PG_ENV} (e.g. postgresql://postgres@127.0.0.1:5432/test)")
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = create_store_engine(admin_url, isolation_level="AUTOCOMMIT", pool_size=1)
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        pytest.skip(f"PostgreSQL at {PG_ENV} is not reachable: {exc.__class__.__name__}: {exc}")
    finally:
        admin.dispose()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def drop_postgres_database(url: str) -> None:
    admin_url = postgres_admin_url()
    assert admin_url
    name = make_url(url).database
    admin = create_store_engine(admin_url, isolation_level="AUTOCOMMIT", pool_size=1)
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "nurture.db"
    engine = create_store_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()  # the last connection to close folds the WAL back into the file we copy
    return path


@pytest.fixture(scope="session")
def postgres_session_url() -> Iterator[str]:
    url = create_postgres_database()
    engine = create_store_engine(url)
    upgrade(engine)
    engine.dispose()
    yield url
    drop_postgres_database(url)


# Which tables hold a row: one query. Truncating costs new files for each table and its indexes
# (about 200 ms for all of them on a busy machine), so only the tables a test wrote to are emptied.
_HOLDING_ROWS = " UNION ALL ".join(
    f'SELECT {i} FROM (SELECT 1 FROM "{table.name}" LIMIT 1) AS t{i}'
    for i, table in enumerate(metadata.sorted_tables)
)
# Every id sequence starts again, also those of tables left empty by a rollback or a delete.
_RESTART_SEQUENCES = (
    "SELECT setval(s.seqrelid, s.seqstart, false) FROM pg_sequence s "
    "JOIN pg_class c ON c.oid = s.seqrelid WHERE c.relnamespace = current_schema()::regnamespace"
)


def _empty_postgres(engine: Engine) -> None:
    tables = metadata.sorted_tables
    with engine.begin() as conn:
        holding = [tables[i] for i in conn.execute(text(_HOLDING_ROWS)).scalars()]
        if holding:
            names = ", ".join(f'"{t.name}"' for t in holding)
            conn.execute(text(f"TRUNCATE {names} CASCADE"))
        conn.execute(text(_RESTART_SEQUENCES))


@pytest.fixture(params=ENGINES)
def store_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    """The URL of an empty, migrated database: SQLite and PostgreSQL in turn."""
    if request.param == "sqlite":
        target = tmp_path / "nurture.db"
        shutil.copyfile(sqlite_template, target)
        return f"sqlite:///{target}"
    url: str = request.getfixturevalue("postgres_session_url")
    engine = create_store_engine(url)
    _empty_postgres(engine)
    engine.dispose()
    return url


@pytest.fixture
def store(store_url: str) -> Iterator[Engine]:
    engine = create_store_engine(store_url)
    yield engine
    engine.dispose()


@pytest.fixture
def workspace(tmp_path: Path, store_url: str) -> Path:
    """A workspace folder whose settings point at this test's database."""
    root = tmp_path / "ws"
    (root / "campaigns").mkdir(parents=True)
    (root / "templates").mkdir()
    (root / "nurture.toml").write_text(
        f'database_url = "{store_url}"\nsecret_key = "test-secret-key-0123456789"\n', encoding="utf-8"
    )
    return root


@pytest.fixture
def cli(workspace: Path):  # type: ignore[no-untyped-def]
    """Run ``nurture --workspace <workspace> ARGS`` in-process; returns click's Result."""
    from click.testing import CliRunner

    from nurture.cli import main

    def run(*args: str, env: dict[str, str] | None = None, input: str | None = None):  # type: ignore[no-untyped-def]
        runner = CliRunner()
        return runner.invoke(main, ["--workspace", str(workspace), *args], env=env, input=input)

    return run


@pytest.fixture
def harness(workspace: Path, store: Engine):  # type: ignore[no-untyped-def]
    """A workspace with the small test program, its database and an engine on a moving clock."""
    from tests.harness import make_harness

    return make_harness(workspace, store)


@pytest.fixture(scope="session")
def imap_server():  # type: ignore[no-untyped-def]
    """A real IMAP server (Dovecot) on loopback for the session; skipped when it is not installed."""
    from tests.imap_server import start_dovecot

    server = start_dovecot()
    yield server
    server.stop()
