"""Connecting: SQLite tuned for one busy machine, PostgreSQL (psycopg 3) for several replicas."""

from __future__ import annotations

from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url

from nurture.errors import SettingsError

SQLITE_BUSY_TIMEOUT_MS = 10_000
_READING = "nurture_reading"


def normalise_url(url: str) -> str:
    """Accept plain ``postgresql://`` URLs and pick the psycopg 3 driver for them."""
    try:
        parsed = make_url(url)
    except Exception:
        raise SettingsError(f"database_url is not a database URL: {redact(url)!r}") from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise SettingsError(
            f"database_url: {parsed.get_backend_name()!r} is not supported; use sqlite:/// or postgresql://"
        )
    return parsed.render_as_string(hide_password=False)


def redact(url: str) -> str:
    """The URL with any password hidden, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable url>"


def create_store_engine(url: str, **options: Any) -> Engine:
    """An engine for ``url`` with nurture's connection policy applied."""
    url = normalise_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, **options)
        _tune_sqlite(engine)
        return engine
    options.setdefault("pool_pre_ping", True)  # survive a database restart between uses
    options.setdefault("pool_size", 5)
    options.setdefault("max_overflow", 5)
    return create_engine(url, **options)


def _tune_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the sqlite3 module so that "begin" below really begins.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
        cursor.execute("PRAGMA synchronous=NORMAL")  # durable at checkpoints; safe with WAL
        cursor.execute("PRAGMA foreign_keys=ON")
        # 64 MiB of page cache per connection: index pages of a million-lead table stay hot.
        cursor.execute("PRAGMA cache_size=-65536")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        if connection.get_execution_options().get(_READING):
            connection.exec_driver_sql("BEGIN")  # a snapshot; never upgraded, so never refused
            return
        # IMMEDIATE takes the write lock up front: two writers wait for each other (busy
        # timeout) instead of failing at once when a read transaction tries to upgrade.
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def reading(engine: Engine) -> Engine:
    """``engine`` for transactions that only read. On SQLite every other transaction takes the
    write lock at its start; these don't (in WAL mode a reader never blocks the writer), so a
    long read, such as the leads of a batch of emails, does not hold up the writes of another
    thread for its whole length. Write nothing in them: on SQLite the write would first have to
    take the lock, which is refused once another writer has committed since the snapshot."""
    return engine.execution_options(**{_READING: True})
