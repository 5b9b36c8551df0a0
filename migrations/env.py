"""Alembic environment: the engine comes from nurture (``config.attributes['engine']``)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import engine_from_config, pool

from nurture.store.engine import create_store_engine
from nurture.store.schema import metadata

config = context.config


def _engine():  # type: ignore[no-untyped-def]
    engine = config.attributes.get("engine")
    if engine is not None:
        return engine
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return create_store_engine(url)
    return engine_from_config(config.get_section(config.config_ini_section, {}), poolclass=pool.NullPool)


def run_migrations_online() -> None:
    engine = _engine()
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            render_as_batch=True,  # SQLite alters tables by copying them
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


run_migrations_online()
