"""``nurture report``: the cohort waterfall, velocity, stuck leads, campaigns, attribution, money and
the SLA; text, JSON, CSV files or an HTML page with charts, all from one computation."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.table import Table

from nurture.cli.context import App, pass_app
from nurture.clock import parse_instant
from nurture.guards.audit import AuditEntry, audit_entries
from nurture.reports.attribution import MODELS
from nurture.reports.csv_files import write_csv_files
from nurture.reports.json_text import write_indented_json
from nurture.reports.page import render_report_page
from nurture.reports.predictive import predictive_lines, predictive_section
from nurture.reports.report import EVERY, ReportOptions
from nurture.reports.score_health import (
    score_health,
    score_health_json,
    score_health_lines,
    with_score_health,
)
from nurture.reports.text import print_report
from nurture.reports.workspace_report import (
    BacktestBeside,
    beside,
    cycle_collection_paused,
    give_back_freed,
    return_freed_memory,
    workspace_report,
)
from nurture.store.engine import reading

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from nurture.scoring.backtest import Backtest


@click.command()
@click.option("--since", "since_text", metavar="ISO-8601", help="The cohort: leads created from then on.")
@click.option("--until", "until_text", metavar="ISO-8601", help="The cohort: leads created before then.")
@click.option(
    "--by-entry", is_flag=True, help="The cohort is leads that first reached the funnel in the period."
)
@click.option(
    "--every", type=click.Choice(EVERY), default="month", show_default=True, help="Stage balance periods."
)
@click.option(
    "--attribution", type=click.Choice(MODELS), default="linear", show_default=True,
    help="How conversions are credited to campaigns and emails.",
)  # fmt: skip
@click.option(
    "--by", metavar="DIMENSION",
    help="Break funnel and velocity down by country, industry, campaign, owner or a lead attribute.",
)  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="One JSON object, for scripts.")
@click.option(
    "--html", "html_file", type=click.Path(dir_okay=False, path_type=Path), help="Write an HTML page."
)
@click.option(
    "--csv",
    "csv_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write the tables as CSV files.",
)
@pass_app
def report(
    app: App, since_text: str | None, until_text: str | None, by_entry: bool, every: str, attribution: str,
    by: str | None, as_json: bool, html_file: Path | None, csv_dir: Path | None,
) -> None:  # fmt: skip
    """Funnel (lead -> MQL -> SAL -> SQL -> opportunity -> customer), velocity, campaigns and the SLA."""
    options = ReportOptions(
        now=app.clock.now(),
        since=parse_instant(since_text) if since_text else None,
        until=parse_instant(until_text) if until_text else None,
        by_entry=by_entry,
        every=every,
        attribution=attribution,
        by=by,
    )
    return_freed_memory()
    with cycle_collection_paused():
        with reading(app.store).connect() as conn:
            # The score's backtest reads and computes beside the report's own figures: it takes
            # the stage changes the journeys read instead of reading them again, and, once done,
            # makes the reads the report leaves to it.
            shared = BacktestBeside()

            def backtest(side: Connection) -> Backtest | None:
                try:
                    found = score_health(side, app.program, options.now, shared.moves)
                finally:
                    shared.moves.stop()  # however it ended: the journeys' changes are not held for it
                give_back_freed()
                shared.then(side)
                return found

            with beside(conn, backtest) as backtested:
                try:
                    data = workspace_report(conn, app.program, app.workspace.root, options, shared).as_json()
                finally:  # the report failed before its journeys (loading the program, say): nobody waits
                    shared.moves.close()
                health = backtested()
            predictive = predictive_section(conn, app.program, options.now)
            until = options.until
            audit = [e for e in audit_entries(conn, since=options.since) if until is None or e.at < until]
        data["score_health"] = score_health_json(app.program, health, predictive)
        data["audit"] = [e.as_dict() for e in audit]
        if html_file:
            html_file.write_text(
                with_score_health(render_report_page(data), health, predictive), encoding="utf-8"
            )
            click.echo(f"wrote {html_file}", err=as_json)
        if csv_dir:
            for path in write_csv_files(data, csv_dir):
                click.echo(f"wrote {path}", err=as_json)
        if as_json:
            # Written as it is laid out: a million leads' report is some hundred megabytes of text.
            write_indented_json(data, lambda text: click.echo(text, nl=False))
            click.echo()
        elif not html_file and not csv_dir:
            print_report(data)
            click.echo("\n".join([*score_health_lines(health), *predictive_lines(predictive)]))
            _print_audit(audit)


def _print_audit(audit: list[AuditEntry]) -> None:
    """Who deployed, paused, resumed, erased or approved what in the period."""
    if not audit:
        return
    table = Table(title="Audit", title_justify="left")
    for column in ("at", "actor", "action", "subject"):
        table.add_column(column)
    for entry in audit:
        table.add_row(entry.at.isoformat(), entry.actor, entry.action, entry.subject)
    Console().print(table)
