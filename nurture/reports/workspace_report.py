"""The report of one workspace: its recorded history, its program's definitions and its costs."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection

from nurture.definitions import Program
from nurture.reports.campaigns import StepFigures
from nurture.reports.costs import read_costs
from nurture.reports.experiment_rows import holdout_members, promoted_winners, variant_sends
from nurture.reports.experiments import judge_experiments
from nurture.reports.queries import (
    read_changes,
    read_recorded,
    read_touches,
    step_counts,
)
from nurture.reports.report import Report, ReportOptions, build_report, program_facts
from nurture.reports.touch_columns import Touches
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


T = TypeVar("T")


def without_jit(conn: Connection) -> None:
    """PostgreSQL compiles a query it expects to be costly before running it (0.3-1 s each); the
    report runs dozens of block reads whose rows it takes through indexes, so compiling is all cost."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET LOCAL jit = off")


@contextlib.contextmanager
def beside(conn: Connection, read: Callable[[Connection], T]) -> Iterator[Callable[[], T]]:
    """``read`` run on a connection of its own in a thread, while the caller reads on ``conn``;
    the function yielded waits for its result. The engagement (tens of millions of events) is
    counted by the database's own code, which lets go of the interpreter, so on a machine with two
    cores the report takes about the longer of the two reads instead of their sum.

    Each connection reads its own snapshot (on SQLite a read transaction is one connection's): a
    row recorded while the report reads, with an instant before the report's moment, may show in
    one section and not the other. An in-memory SQLite database (tests) has one connection, so
    ``read`` runs there first."""
    if conn.dialect.name == "sqlite" and conn.engine.url.database in (None, "", ":memory:"):
        found = read(conn)
        yield lambda: found
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="nurture-report") as pool:

        def on_own_connection() -> T:
            # A reading connection, whatever ``conn`` is: on SQLite another would take the write lock.
            with reading(conn.engine).connect() as side:
                without_jit(side)
                return read(side)

        running = pool.submit(on_own_connection)
        try:
            yield running.result
        finally:
            running.cancel()


def workspace_report(conn: Connection, program: Program | None, root: Path, options: ReportOptions) -> Report:
    without_jit(conn)
    facts = program_facts(program)
    program_steps = [(key, step) for key, shape in facts.campaigns.items() for step in shape.step_ids]
    now = options.now

    def engagement(side: Connection) -> tuple[list[StepFigures], Touches]:
        steps = step_counts(side, options.since, options.until)
        return steps, read_touches(side, now, [*program_steps, *((s.campaign, s.step) for s in steps)])

    with beside(conn, engagement) as later:
        recorded = read_recorded(
            conn, now, options.until or now, options.every, options.since, options.until, lambda: later()[1]
        )
        steps, _ = later()
    recorded.costs = read_costs(root)
    report = build_report(recorded, steps, facts, options)
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
