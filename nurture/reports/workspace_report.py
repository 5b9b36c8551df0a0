"""The report of one workspace: its recorded history, its program's definitions and its costs."""

from __future__ import annotations

import contextlib
import ctypes
import gc
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection

from nurture.definitions import Program
from nurture.reports.campaigns import StepFigures
from nurture.reports.costs import read_costs
from nurture.reports.experiment_rows import holdout_members, promoted_winners, variant_sends
from nurture.reports.experiments import judge_experiments
from nurture.reports.queries import (
    TouchReading,
    read_changes,
    read_handoff_columns,
    read_recorded,
    step_counts,
)
from nurture.reports.report import Report, ReportOptions, build_report, program_facts
from nurture.reports.touch_columns import Touches
from nurture.scoring.handed_moves import HandedMoves
from nurture.store.engine import reading


@contextlib.contextmanager
def cycle_collection_paused() -> Iterator[None]:
    """Python's cycle collector held off while a report is read, computed and written: a million
    leads make tens of millions of rows, journeys and figures, all kept to the end and none in a
    cycle, and every full collection walked all of them again (an eighth of the command's time at
    100,000 leads). Whatever cycles there are go at the next collection after."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter
# Blocks this large get a mapping of their own, given back when freed: numpy's large arrays (it
# asks for huge pages from 4 MiB on). Below it, blocks come from glibc's heaps and are reused
# there without a page fault; freed ones go back at the report's phase ends (give_back_freed).
_OWN_MAPPING = 4 * 1024 * 1024
_glibc: Any = None  # set by return_freed_memory: glibc, when the process runs on it


def return_freed_memory() -> None:
    """The report's freed memory goes back to the system (glibc; elsewhere nothing changes).
    Once a large block is freed, glibc raises its threshold for giving a block a mapping of its
    own (up to 32 MiB), so the report's later numpy arrays came from heaps that it keeps, and each
    thread's heap kept what that thread had freed: at a million leads that was a fifth of the peak
    memory. Fixing the threshold at 4 MiB keeps the large arrays out of the heaps, and
    :func:`give_back_freed` hands back what the heaps hold free when a phase of the report ends.
    A lower threshold (128 KiB, glibc's default) gave every middling array a mapping of its own
    and made each of its pages a fault: a third of the report's time was the kernel's. For the
    whole process: call it in a command that reports and ends."""
    global _glibc
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc
        return
    mallopt = getattr(libc, "mallopt", None)
    if mallopt is None or getattr(libc, "malloc_trim", None) is None:
        return
    if mallopt(_M_MMAP_THRESHOLD, _OWN_MAPPING) == 1:  # 0: refused (above a 32-bit build's limit)
        _glibc = libc


def give_back_freed() -> None:
    """What glibc's heaps hold free, every thread's, handed back to the system (once
    :func:`return_freed_memory` was called; else nothing): called as a phase of the report ends,
    so the next phase's arrays do not come on top of the last one's leftovers."""
    if _glibc is not None:
        _glibc.malloc_trim(0)


T = TypeVar("T")


def without_jit(conn: Connection) -> None:
    """PostgreSQL compiles a query it expects to be costly before running it (0.3-1 s each); the
    report runs dozens of block reads whose rows it takes through indexes, so compiling is all cost."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET LOCAL jit = off")


_SCAN_CACHE_KIB = 8192  # SQLite's page cache of a report's connection


@contextlib.contextmanager
def scan_cache(conn: Connection) -> Iterator[None]:
    """SQLite's page cache kept small while the report reads on ``conn``: its reads pass over
    each page once, in order, and the operating system caches the file all the same, while
    three connections' 64 MiB each were a sixth of the report's peak memory."""
    if conn.dialect.name != "sqlite":
        yield
        return
    before = int(conn.exec_driver_sql("PRAGMA cache_size").scalar_one())
    conn.exec_driver_sql(f"PRAGMA cache_size=-{_SCAN_CACHE_KIB}")
    try:
        yield
    finally:
        conn.exec_driver_sql(f"PRAGMA cache_size={before}")


@contextlib.contextmanager
def beside(conn: Connection, read: Callable[[Connection], T]) -> Iterator[Callable[[], T]]:
    """``read`` run on a connection of its own in a thread, while the caller reads on ``conn``;
    the function yielded waits for its result. The engagement (tens of millions of events) is
    counted by the database's own code, which lets go of the interpreter, so on a machine with two
    cores the report takes about the longer of the two reads instead of their sum.

    Each connection reads its own snapshot (on SQLite a read transaction is one connection's): a
    row recorded while the report reads, with an instant before the report's moment, may show in
    one section and not the other. An in-memory SQLite database (tests) has one connection, so
    ``read`` runs there when its result is first asked for (after the caller's own reads: what it
    takes from them, such as the handed stage changes, is there by then)."""
    if conn.dialect.name == "sqlite" and conn.engine.url.database in (None, "", ":memory:"):
        result = _Result(_Later(lambda: read(conn)))
        try:
            yield result
        finally:
            result.let_go()
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="nurture-report") as pool:

        def on_own_connection() -> T:
            # A reading connection, whatever ``conn`` is: on SQLite another would take the write lock.
            with reading(conn.engine).connect() as side, scan_cache(side):
                without_jit(side)
                return read(side)

        running = pool.submit(on_own_connection)
        result = _Result(running)
        try:
            yield result
        finally:
            running.cancel()
            result.let_go()


class _Later(Generic[T]):
    """A read made when its result is first asked for, on the caller's thread."""

    def __init__(self, read: Callable[[], T]) -> None:
        self._read: Callable[[], T] | None = read
        self._found: tuple[T] | None = None

    def result(self) -> T:
        if self._found is None:
            assert self._read is not None
            self._found = (self._read(),)  # a failed read raises again when asked again
            self._read = None
        return self._found[0]


class _Result(Generic[T]):
    """What :func:`beside` yields: waits for the read's result, which it holds only until the
    ``with`` block ends (a name bound by ``as`` lives on in the caller's frame, and the touches
    as read, ten million lead ids, with it)."""

    def __init__(self, found: _Later[T] | Future[T]) -> None:
        self._found: _Later[T] | Future[T] | None = found

    def __call__(self) -> T:
        found = self._found
        if found is None:
            raise RuntimeError("the read beside was let go of when its block ended")
        return found.result()

    def let_go(self) -> None:
        self._found = None


class ReadOnce(Generic[T]):
    """A read made once: offered to a second thread, which makes it unless it was begun, and
    taken by the thread that needs it, which makes it itself when nobody has begun it, or waits
    for the second thread's result (or error). Only the taker ever waits, and only for a read
    under way: the report's first connection, done with the journeys, takes the handoffs its
    second has read, or reads them itself (the second has not begun: it could not connect, say)."""

    def __init__(self, read: Callable[[Connection], T]) -> None:
        self._read = read
        self._done = threading.Condition()
        self._begun = False
        self._over = False
        self._taken = False
        self._found: tuple[T] | None = None
        self._failed: BaseException | None = None

    def offer(self, conn: Connection) -> None:
        """Make the read on ``conn`` unless it was begun (its error raised here and kept for the
        taker); never waits."""
        with self._done:
            if self._begun:
                return
            self._begun = True
        self._make(conn)

    def take(self, conn: Connection) -> T:
        """The read's result, handed over once (not kept here): made on ``conn`` when nobody has
        begun it, else waited for."""
        with self._done:
            if self._taken:
                raise RuntimeError("the read was handed over already")
            mine, self._begun, self._taken = not self._begun, True, True
        if mine:
            self._make(conn)
        with self._done:
            while not self._over:
                self._done.wait()
            found, failed, self._found = self._found, self._failed, None
        if failed is not None:
            raise failed
        assert found is not None
        return found[0]

    def _make(self, conn: Connection) -> None:
        found: tuple[T] | None = None
        failed: BaseException | None = None
        try:
            found = (self._read(conn),)
        except BaseException as error:
            failed = error
            raise
        finally:
            with self._done:
                self._found, self._failed, self._over = found, failed, True
                self._done.notify_all()


class BacktestBeside:
    """What the report shares with the connection beside it that runs score health's backtest:
    the stage changes its journeys read, given to ``moves`` (the backtest took half its time
    reading them again), and the reads it leaves to that connection once the backtest is done
    (:meth:`then`): the per-step counts, which the engagement's connection reads after the
    touches otherwise (:class:`ReadOnce`: whichever begins first makes them)."""

    def __init__(self) -> None:
        self.moves = HandedMoves()
        self._lock = threading.Lock()
        self._left: list[ReadOnce[Any]] = []

    def leave(self, read: ReadOnce[Any]) -> None:
        with self._lock:
            self._left.append(read)

    def then(self, conn: Connection) -> None:
        """On the backtest's connection, its backtest done: the reads left to it not yet begun."""
        with self._lock:
            left = list(self._left)
        for read in left:
            read.offer(conn)


def workspace_report(
    conn: Connection,
    program: Program | None,
    root: Path,
    options: ReportOptions,
    backtest: BacktestBeside | None = None,
) -> Report:
    """The report; ``backtest`` is what it shares with score health's backtest beside it (the
    journeys close its stage changes once read; whoever made it closes them however the report
    ends, so that nobody waits for them)."""
    without_jit(conn)
    facts = program_facts(program)
    program_steps = [(key, step) for key, shape in facts.campaigns.items() for step in shape.step_ids]
    now = options.now

    # Beside the journeys, the handoffs are read first, then the touches, then the per-step
    # counts, which only the campaigns' figures wait for, last of all (unless the backtest's
    # connection, done first, has read them). Done with the journeys, this connection takes the
    # handoffs and the blocks of touches not yet begun.
    reading = TouchReading(now, program_steps)
    handoffs = ReadOnce(lambda on: read_handoff_columns(on, now))
    counts = ReadOnce(lambda on: step_counts(on, options.since, options.until))
    if backtest is not None:
        backtest.leave(counts)

    def engagement(side: Connection) -> list[StepFigures]:
        handoffs.offer(side)
        reading.join(side)
        steps = counts.take(side)
        give_back_freed()
        return steps

    def touches() -> Touches:
        reading.join(conn)
        return reading.result()

    with scan_cache(conn), beside(conn, engagement) as counted:
        recorded = read_recorded(
            conn,
            now,
            options.until or now,
            options.every,
            options.since,
            options.until,
            touches,
            lambda: handoffs.take(conn),
            None if backtest is None else backtest.moves,
        )
        recorded.costs = read_costs(root)
        give_back_freed()
        report = build_report(recorded, counted, facts, options)
    give_back_freed()
    report.experiments = experiments(conn, program, options)
    return report


def experiments(conn: Connection, program: Program | None, options: ReportOptions) -> list[dict[str, Any]]:
    """Every experiment of the program, judged at the report's moment."""
    if program is None:
        return []
    campaigns = list(program.campaigns.values())
    with_holdout = [(c.key, c.holdout.within) for c in campaigns if c.holdout is not None]
    has_variants = any(step.send.variants for c in campaigns for step in c.send_steps)
    # The outcomes are read from the stage changes, only when there is an experiment to judge.
    changes = read_changes(conn, options.now) if with_holdout or has_variants else {}
    return judge_experiments(
        campaigns,
        variant_sends(conn, options.now) if has_variants else [],
        holdout_members(conn, with_holdout, options.now),
        promoted_winners(conn) if has_variants else {},
        changes,
        options.now,
    )
