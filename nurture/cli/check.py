"""``nurture check`` and ``nurture schema``: validate the definitions, describe their format."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from nurture.cli.context import App, pass_app
from nurture.daemon.schedule import ScheduleError, load_schedule
from nurture.definitions.load import CheckReport, check_workspace
from nurture.definitions.problems import Problem
from nurture.definitions.schema import definitions_schema_json
from nurture.errors import Location
from nurture.sales.template_overrides import sales_override_problems
from nurture.settings import SETTINGS_FILE, base_url_not_https
from nurture.workspace import Workspace


def _count(number: int, singular: str, plural: str | None = None) -> str:
    return f"{number} {singular if number == 1 else (plural or singular + 's')}"


def summary(report: CheckReport) -> str:
    """``3 campaigns, 1 scoring model, 1 SLA, 1 sales team``."""
    program = report.program
    counts = {
        kind: sum(1 for _ in program.of_kind(kind))
        for kind in ("Campaign", "ScoringModel", "SLA", "SalesTeam")
    }
    return ", ".join(
        (
            _count(counts["Campaign"], "campaign"),
            _count(counts["ScoringModel"], "scoring model"),
            _count(counts["SLA"], "SLA"),
            _count(counts["SalesTeam"], "sales team"),
        )
    )


@click.command()
@click.option("--quiet", "-q", is_flag=True, help="Print errors only, no warnings or notes.")
@pass_app
def check(app: App, quiet: bool) -> None:
    """Validate the definitions (campaigns/*.yaml), their templates, the sales email templates
    a workspace overrides (templates/sales/) and the daemon's schedule (scheduler/jobs.yaml).

    Prints every problem as file:line:col: message and exits 1 when there is an error.
    """
    report = check_workspace(app.workspace)
    problems = sorted(
        [*report.problems, *workspace_problems(app.workspace, report)], key=lambda p: p.sort_key
    )
    for problem in problems:
        if quiet and problem.severity != "error":
            continue
        colour = {"error": "red", "warning": "yellow", "note": None}[problem.severity]
        click.secho(str(problem), fg=colour)
    errors = sum(1 for p in problems if p.severity == "error")
    warnings = sum(1 for p in problems if p.severity == "warning")
    tail = f" ({_count(warnings, 'warning')})" if warnings else ""
    if not errors:
        click.secho(f"ok: {summary(report)}{tail}", fg="green")
        return
    click.secho(f"failed: {_count(errors, 'error')}{tail}", fg="red", err=True)
    sys.exit(1)


def workspace_problems(workspace: Workspace, report: CheckReport) -> list[Problem]:
    """What else a workspace holds that the daemon reads: sales email overrides, the schedule."""
    problems = sales_override_problems(report.program.templates_dir, workspace.root)
    insecure = base_url_not_https(workspace.settings.base_url, loopback_too=False)
    if insecure is not None:
        problems.append(Problem("warning", Location(SETTINGS_FILE), insecure))
    try:
        load_schedule(workspace)
    except ScheduleError as exc:
        problems.extend(exc.problems)
    return problems


@click.command()
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write the schema to this file instead of standard output.",
)
def schema(output: Path | None) -> None:
    """Print the JSON Schema of definition files (for editors' YAML validation and completion)."""
    text = definitions_schema_json()
    if output is None:
        click.echo(text, nl=False)
        return
    output.write_text(text, encoding="utf-8")
    click.echo(f"wrote {output}", err=True)
