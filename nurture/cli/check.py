"""``nurture check`` and ``nurture schema``: validate the definitions, describe their format."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
from sqlalchemy import make_url, select
from sqlalchemy.exc import SQLAlchemyError

from nurture.cli.context import App, pass_app
from nurture.definitions.checks import form_origin_problems
from nurture.definitions.form import Form
from nurture.definitions.load import CheckReport, check_workspace
from nurture.definitions.problems import Problem
from nurture.definitions.program import Loaded
from nurture.definitions.schema import definitions_schema_json
from nurture.errors import Location
from nurture.guards.authentication import DnsPythonResolver, Finding, Resolver, check_deliverability
from nurture.guards.consent import count_reach, opt_in_reach
from nurture.reports.experiment_plan import experiment_plans, planned_only
from nurture.sales.template_overrides import own_template_problems
from nurture.settings import SETTINGS_FILE, base_url_not_https
from nurture.store.schema import events
from nurture.workspace import Workspace


def _count(number: int, singular: str, plural: str | None = None) -> str:
    return f"{number} {singular if number == 1 else (plural or singular + 's')}"


def summary(report: CheckReport) -> str:
    """``3 campaigns, 1 scoring model, 1 SLA, 1 sales team``."""
    program = report.program
    counts = {
        kind: sum(1 for _ in program.of_kind(kind))
        for kind in ("Campaign", "ScoringModel", "SLA", "SalesTeam", "Topic")
    }
    parts = [
        _count(counts["Campaign"], "campaign"),
        _count(counts["ScoringModel"], "scoring model"),
        _count(counts["SLA"], "SLA"),
        _count(counts["SalesTeam"], "sales team"),
    ]
    forms = sum(1 for _ in program.of_kind("Form"))
    if forms:
        parts.append(_count(forms, "form"))
    if counts["Topic"]:  # most programs have the one built-in topic and write none
        parts.append(_count(counts["Topic"], "topic"))
    return ", ".join(parts)


@click.command()
@click.option("--quiet", "-q", is_flag=True, help="Print errors only, no warnings or notes.")
@click.option("--json", "as_json", is_flag=True, help="Print the problems as one JSON object.")
@click.option(
    "--deliverability",
    is_flag=True,
    help="Also look up DKIM, SPF and DMARC in DNS and check that the sending domains align.",
)
@pass_app
def check(app: App, quiet: bool, as_json: bool, deliverability: bool) -> None:
    """Validate the definitions (campaigns/*.yaml), their templates, the sales email templates
    a workspace overrides (templates/sales/) and the daemon's schedule (scheduler/jobs.yaml).

    Prints every problem as file:line:col: message and exits 1 when there is an error.
    """
    report = check_workspace(app.workspace, recorded_event_types(app))
    problems = sorted(
        [
            *report.problems,
            *workspace_problems(app.workspace, report),
            *experiment_notes(app, report),
            *opt_in_warnings(app, report),
        ],
        key=lambda p: p.sort_key,
    )
    if quiet:
        problems = [p for p in problems if p.severity == "error"]
    errors = sum(1 for p in problems if p.severity == "error")
    if as_json:
        document = check_json(report, problems)
        if deliverability:
            findings = [f for f in _findings(app, report) if not (quiet and f.severity == "ok")]
            document["deliverability"] = [
                {"severity": f.severity, "check": f.check, "message": f.message} for f in findings
            ]
            document["ok"] = document["ok"] and not any(f.severity == "error" for f in findings)
        click.echo(json.dumps(document, ensure_ascii=False, indent=2))
        if not document["ok"]:
            sys.exit(1)
        return
    for problem in problems:
        colour = {"error": "red", "warning": "yellow", "note": None}[problem.severity]
        click.secho(str(problem), fg=colour)
    warnings = sum(1 for p in problems if p.severity == "warning")
    tail = f" ({_count(warnings, 'warning')})" if warnings else ""
    authenticates = _deliverability(app, report, quiet) if deliverability else True
    if not errors and not authenticates:
        click.secho("failed: the mail would not authenticate (see deliverability)", fg="red", err=True)
        sys.exit(1)
    if not errors:
        click.secho(f"ok: {summary(report)}{tail}", fg="green")
        return
    click.secho(f"failed: {_count(errors, 'error')}{tail}", fg="red", err=True)
    sys.exit(1)


def recorded_event_types(app: App) -> list[str]:
    """Event types the database has seen; none when there is no usable database yet."""
    url = make_url(app.workspace.database_url)
    if url.get_backend_name() == "sqlite" and not (url.database and Path(url.database).is_file()):
        return []  # connecting would create an empty database file
    try:
        with app.engine.connect() as conn:
            return list(conn.scalars(select(events.c.type).distinct()))
    except SQLAlchemyError:
        return []  # not created or not migrated yet: the check is about the files


def experiment_notes(app: App, report: CheckReport) -> list[Problem]:
    """A note per running experiment: the sample it needs and, when the database can say, the
    weeks to a verdict at the current entry rate (none when there is no usable database yet)."""
    program = report.program
    url = make_url(app.workspace.database_url)
    plans = planned_only(program)
    if plans and not (
        url.get_backend_name() == "sqlite" and not (url.database and Path(url.database).is_file())
    ):
        try:
            with app.engine.connect() as conn:
                plans = experiment_plans(conn, program, app.clock.now())
        except SQLAlchemyError:
            pass  # not created or not migrated yet: the samples from the definitions alone
    notes = []
    for plan in plans:
        item = next(i for i in program.of_kind("Campaign") if i.definition.key == plan.campaign)
        campaign = program.campaign(plan.campaign)
        path: tuple[str | int, ...] = ("holdout",)
        if plan.step is not None:
            path = ("steps", campaign.index_of(plan.step), "send", "variants")
        notes.append(Problem("note" if plan.finishes else "warning", item.locate(*path), plan.line()))
    return notes


def check_json(report: CheckReport, problems: list[Problem]) -> dict[str, Any]:
    """``check --json``: every problem with its place (line and column 0 when the problem is about
    a whole file or folder), the counts, and what the program holds."""
    program = report.program
    return {
        "ok": not any(p.severity == "error" for p in problems),
        "errors": sum(1 for p in problems if p.severity == "error"),
        "warnings": sum(1 for p in problems if p.severity == "warning"),
        "problems": [
            {
                "file": str(p.location.path),
                "line": p.location.line,
                "column": p.location.column,
                "severity": p.severity,
                "message": p.message,
            }
            for p in problems
        ],
        "definitions": {
            kind: sorted(item.definition.key for item in program.of_kind(kind))
            for kind in ("Campaign", "ScoringModel", "SLA", "SalesTeam", "Form", "Topic")
        },
    }


def _deliverability(app: App, report: CheckReport, quiet: bool) -> bool:
    """Print the sender-authentication findings; False when one is an error."""
    findings = _findings(app, report)
    for finding in findings:
        if finding.severity == "ok" and quiet:
            continue
        click.secho(str(finding), fg={"error": "red", "warning": "yellow", "ok": None}[finding.severity])
    return not any(f.severity == "error" for f in findings)


def _findings(app: App, report: CheckReport) -> list[Finding]:
    return check_deliverability(app.workspace.settings, report.program, resolver(), app.workspace.root)


def opt_in_warnings(app: App, report: CheckReport) -> list[Problem]:
    """A warning per topic a double opt-in form puts under the consent rule while campaigns mail
    on it: existing leads without confirmed consent stop getting that mail. With a usable
    database the warning counts them."""
    reaches = opt_in_reach(report.program, app.workspace.settings)
    url = make_url(app.workspace.database_url)
    no_database_yet = url.get_backend_name() == "sqlite" and not (
        url.database and Path(url.database).is_file()
    )
    if reaches and not no_database_yet:  # connecting would create an empty database file
        try:
            with app.engine.connect() as conn:
                reaches = [count_reach(conn, reach) for reach in reaches]
        except SQLAlchemyError:
            pass  # not created or not migrated yet: the warning without counts
    forms: dict[str, Loaded] = {}
    for item in report.program.of_kind("Form"):
        assert isinstance(item.definition, Form)
        forms.setdefault(item.definition.key, item)
    return [
        Problem("warning", forms[r.form].locate("double_opt_in"), r.message())
        for r in reaches
        if r.affects_leads
    ]


def resolver() -> Resolver:
    """The DNS resolver the deliverability checks ask (the system's)."""
    return DnsPythonResolver()


def workspace_problems(workspace: Workspace, report: CheckReport) -> list[Problem]:
    """What else a workspace holds that the daemon reads: its own-template overrides, the schedule."""
    # why: importing nurture.daemon loads the daemon (scheduler, HTTP server), not wanted at CLI start
    from nurture.daemon.schedule import ScheduleError, load_schedule

    problems = own_template_problems(report.program.templates_dir, workspace.root)
    problems.extend(form_origin_problems(report.program, workspace.settings.allowed_origins))
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
