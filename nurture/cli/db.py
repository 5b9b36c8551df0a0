"""``nurture db``: create and migrate the database."""

from __future__ import annotations

import click

from nurture.cli.context import App, pass_app
from nurture.store.engine import redact
from nurture.store.migrate import current_revision, head_revision, upgrade


@click.group()
def db() -> None:
    """Create, migrate and inspect the database."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Target revision.")
@pass_app
def db_upgrade(app: App, revision: str) -> None:
    """Create the database or migrate it to the current schema (safe to run again)."""
    before = current_revision(app.engine)
    upgrade(app.engine, revision)
    after = current_revision(app.engine)
    where = redact(str(app.engine.url))
    if before == after:
        click.echo(f"database {where} is up to date (revision {after})")
    else:
        click.echo(f"database {where} migrated from {before or 'empty'} to revision {after}")


@db.command("current")
@pass_app
def db_current(app: App) -> None:
    """Show the database's schema revision and the one this nurture expects."""
    click.echo(f"database: {current_revision(app.engine) or 'empty'}; expected: {head_revision()}")
