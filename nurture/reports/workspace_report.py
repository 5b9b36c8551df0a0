"""The report of one workspace: its recorded history, its program's definitions and its costs."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Connection

from nurture.definitions import Program
from nurture.reports.costs import read_costs
from nurture.reports.experiment_rows import holdout_members, promoted_winners, variant_sends
from nurture.reports.experiments import judge_experiments
from nurture.reports.queries import read_changes, read_history, stage_moves, step_counts
from nurture.reports.report import Report, ReportOptions, build_report, program_facts


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


def workspace_report(conn: Connection, program: Program | None, root: Path, options: ReportOptions) -> Report:
    history = read_history(conn, options.now)
    history.stage_moves = stage_moves(conn, options.now, options.until or options.now, options.every)
    history.costs = read_costs(root)
    steps = step_counts(conn, options.since, options.until)
    report = build_report(history, steps, program_facts(program), options)
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
