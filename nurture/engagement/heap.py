"""Keeping the garbage collector's full passes off the objects a bulk import finds in place.

A batch of events lives as tens of thousands of small objects until it is written; each time
enough of them have survived a collection, CPython runs a full one, and a full collection walks
every object in the process: the interpreter's, SQLAlchemy's, Jinja's, the program's (some
100,000 objects, tens of milliseconds a pass). Over an import that was a fifth of its time.
Frozen, the objects that were there before the import are skipped; the import's own garbage is
collected as usual.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def frozen_heap() -> Iterator[None]:
    """Freeze the objects that exist now until the block ends, then thaw them.

    Nothing is done when the application has frozen the heap itself (a pre-fork server does, and
    thawing would undo it) or has switched the collector off.
    """
    if gc.get_freeze_count() or not gc.isenabled():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
