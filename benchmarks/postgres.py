"""The PostgreSQL server the benchmarks use: ``--database-url``, else ``NURTURE_TEST_POSTGRES_URL``,
else the local default, whichever answers; a database of their own is created and dropped."""

from __future__ import annotations

import os

from sqlalchemy import text
from sqlalchemy.engine import make_url

from nurture.store.engine import create_store_engine

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"


def admin_url(explicit: str | None = None) -> str | None:
    """A PostgreSQL URL that answers (an admin connection), or None when there is none."""
    url = explicit or os.environ.get("NURTURE_TEST_POSTGRES_URL") or DEFAULT_URL
    try:
        engine = create_store_engine(url, connect_args={"connect_timeout": 2})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception:
        return None
    return url


def create_database(admin: str, name: str) -> str:
    """A new, empty database ``name`` (dropped first if left over); its URL."""
    engine = create_store_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return make_url(admin).set(database=name).render_as_string(False)


def drop_database(admin: str, name: str) -> None:
    engine = create_store_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()
