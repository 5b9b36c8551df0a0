"""The cycle collector during bulk work (imports, rescores): the two ways nurture keeps it out of the way.

A bulk import makes many short-lived objects. CPython's collector counts allocations and walks
the young ones every few hundred, and each time enough have survived, every object in the
process. Which remedy pays was measured per import: events keep objects across a batch (freeze
what was there before), leads make none that outlive a row (pause the collector).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def frozen_heap() -> Iterator[None]:
    """Freeze the objects that exist now until the block ends, then thaw them.

    A batch of events lives as tens of thousands of small objects until it is written; full
    collections then walk the interpreter's, SQLAlchemy's, Jinja's and the program's objects
    (some 100,000, tens of milliseconds a pass): a fifth of an import's time. Frozen, the objects
    that were there before are skipped; the import's own garbage is collected as usual.

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


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cycle collector while the import runs.

    A large file is millions of short-lived tuples and lists, none in a cycle. The collector,
    counting allocations, walks the young ones every few hundred rows and, each time enough have
    survived, every object in the process: about a tenth of both threads' time. Freezing the
    heap (:func:`frozen_heap`, which events import uses) spares only the full passes; here the
    young ones cost as much again, measured. The import makes no cycles per row, so nothing
    piles up meanwhile.
    """
    if not gc.isenabled():  # the application manages the collector
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
