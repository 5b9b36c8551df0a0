"""The report of one workspace: its recorded history, its program's definitions and its costs."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Connection

from nurture.definitions import Program
from nurture.reports.costs import read_costs
from nurture.reports.queries import read_history, step_counts
from nurture.reports.report import Report, ReportOptions, build_report, program_facts


def workspace_report(conn: Connection, program: Program | None, root: Path, options: ReportOptions) -> Report:
    history = read_history(conn, options.now)
    history.costs = read_costs(root)
    steps = step_counts(conn, options.since, options.until)
    return build_report(history, steps, program_facts(program), options)
