"""Refuse to work on a database whose schema is not the one this version of nurture expects."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from nurture.errors import NurtureError
from nurture.store.engine import redact
from nurture.store.migrate import current_revision, head_revision


class DatabaseNotReady(NurtureError):
    pass


def ensure_current(engine: Engine) -> None:
    try:
        current = current_revision(engine)
    except OperationalError as exc:
        raise DatabaseNotReady(
            f"cannot reach the database at {redact(str(engine.url))}: {exc.orig or exc}"
        ) from None
    head = head_revision()
    if current is None:
        raise DatabaseNotReady("the database is not set up yet; run `nurture db upgrade`")
    if current != head:
        raise DatabaseNotReady(
            f"the database schema is at revision {current}, this nurture expects {head}; "
            "run `nurture db upgrade`"
        )
