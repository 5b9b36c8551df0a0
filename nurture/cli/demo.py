"""``nurture demo``: a newcomer's end-to-end run on the embedded defaults."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta
from pathlib import Path

import click
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from nurture.cli.context import App
from nurture.cli.init import create_workspace
from nurture.definitions import Program, load_program
from nurture.delivery.transports import parse_transport
from nurture.demo_history import record_past_sales
from nurture.errors import WorkspaceError
from nurture.leads.importer import LeadImporter
from nurture.lifecycle import Lifecycle
from nurture.reports.report import Report, ReportOptions
from nurture.reports.score_health import score_health, score_health_lines
from nurture.reports.workspace_report import workspace_report
from nurture.scoring.synthetic import generate_history
from nurture.scoring.synthetic_store import load_history
from nurture.scoring.version import mql_threshold
from nurture.sending.factory import signer_for
from nurture.simulation import EngagementModel, SalesModel, Simulation
from nurture.store.cursors import NEW_LEADS, move_cursor
from nurture.store.engine import create_store_engine
from nurture.store.schema import events

# Keen readers, so that a 30-day demo shows leads crossing the MQL line and sales answering.
DEMO_READERS = EngagementModel(open_rate=0.55, click_rate=0.4, pricing_rate=0.5, demo_rate=0.3)
MARKER = ".nurture-demo"  # a folder made by `nurture demo`, which it may replace


@click.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path), default="nurture-demo")
@click.option("--leads", "lead_count", type=click.IntRange(1, 100_000), default=300, show_default=True)
@click.option("--days", type=click.IntRange(1, 120), default=30, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True)
@click.option(
    "--history/--no-history",
    default=True,
    show_default=True,
    help="Also load a generated past year of leads whose outcomes sales recorded (see docs/scoring.md).",
)
@click.pass_context
def demo(ctx: click.Context, directory: Path, lead_count: int, days: int, seed: int, history: bool) -> None:
    """Set up a demo workspace in DIRECTORY and run 30 simulated days of nurture in it."""
    app: App = ctx.obj
    root = directory.expanduser().resolve()
    if root.exists():
        if not (root / MARKER).exists():
            raise WorkspaceError(f"{root} exists and was not made by `nurture demo`; choose another folder")
        shutil.rmtree(root)
    workspace = create_workspace(root)
    click.echo(f"created the demo workspace {root} (SQLite database, Maildir outbox)")
    (root / MARKER).write_text(
        "made by nurture demo; `nurture demo` replaces this folder\n", encoding="utf-8"
    )
    program = load_program(workspace)
    start = app.clock.now().replace(minute=0, second=0, microsecond=0)
    db = create_store_engine(workspace.database_url)
    try:
        if lead_count != 300 or seed != 7:
            # why: the lead generator loads only for a demo of another size
            from nurture.demo_data import write_leads_csv

            write_leads_csv(root / "leads.csv", lead_count, seed)
        lifecycle = Lifecycle.of(program, workspace.settings)
        report = LeadImporter(db, start, on_batch=lifecycle.leads_imported).run(root / "leads.csv")
        click.echo(f"imported {report.created} generated leads from {root / 'leads.csv'}")
        click.echo(f"running {days} simulated days from {start:%Y-%m-%d %H:%M} UTC ...")
        transport = parse_transport(workspace.settings.transport, root, workspace.settings)
        simulation = Simulation(
            db, lifecycle, workspace.settings, signer_for(workspace),
            transport=transport,
            engagement=DEMO_READERS.with_seed(seed),
            sales=SalesModel(),
        )  # fmt: skip
        result = simulation.run(start, start + timedelta(days=days), timedelta(hours=1))
        if history:
            past = load_past_year(db, program, start, lead_count, seed)
            click.echo(f"loaded {past} generated leads of the past year, with what sales made of them")
        end = start + timedelta(days=days)
        with db.connect() as conn:
            figures = workspace_report(conn, program, root, ReportOptions(now=end))
            health = score_health(conn, program, end) if history else None
    finally:
        db.dispose()
    _print(figures, result.problems, root)
    if health is not None:
        click.secho("score health (nurture score evaluate)", bold=True)
        click.echo("\n".join(score_health_lines(health)[1:]))


def load_past_year(db: Engine, program: Program, start: datetime, lead_count: int, seed: int) -> int:
    """A generated year of leads before ``start``, scored by the program's own rules, with sales
    outcomes for those that crossed its MQL line: the funnel then reaches SQL, opportunity and
    customer, and the score has outcomes to be checked against."""
    threshold = mql_threshold(program)
    past = generate_history(
        seed, max(2_500, lead_count * 8), months=12, start=start - timedelta(days=390),
        threshold=threshold if threshold is not None else 100, model=program.scoring_model,
        activity=4.5, intercept=-7.0,
    )  # fmt: skip
    with db.begin() as conn:
        ids = load_history(conn, past)
        record_past_sales(conn, program, ids, past.leads)
        # The past year is history: campaigns that enrol new leads and events must not take it
        # for new arrivals when the demo workspace is run for real.
        move_cursor(conn, NEW_LEADS, max(ids), start)
        last_event = conn.scalar(select(func.max(events.c.id)))
        if last_event is not None:
            move_cursor(conn, "entry:events", int(last_event), start)
    return len(ids)


def _print(report: Report, problems: list[str], root: Path) -> None:
    click.secho(
        "\nemails per step (sent, opened and clicked by people; machine opens/clicks apart)", bold=True
    )
    for campaign in report.campaigns:
        for s in campaign.steps:
            click.echo(
                f"  {campaign.campaign + '/' + s.step:<32} {s.sent:>5} sent {s.opened:>5} opened "
                f"{s.clicked:>5} clicked   machine {s.machine_opens}/{s.machine_clicks}"
            )
    click.secho("lifecycle", bold=True)
    for stage in report.funnel.stages:
        click.echo(f"  reached {stage.stage:<14} {stage.reached:>5}")
    for side, count in (("recycled", report.flows.recycled), ("disqualified", report.flows.disqualified)):
        if count:
            click.echo(f"  {side:<22} {count:>5}")
    sla = report.sla
    if sla.handoffs:
        click.secho("routed to sales", bold=True)
        for rep in sla.by_rep:
            click.echo(f"  {rep.rep:<22} {rep.handoffs:>5}")
        click.echo(
            f"  SLA kept {sla.accepted_in_time}, accepted late {sla.accepted_late}, breached {sla.breaches}, "
            f"still pending {sla.by_status.get('pending', 0)}"
        )
    for problem in problems[:10]:
        click.secho(f"problem: {problem}", fg="yellow")
    maildir = root / "outbox" / "new"
    click.secho("\nwhere to look", bold=True)
    click.echo(f"  the emails, one file each:   {maildir}")
    click.echo(f"  a lead's whole story:        nurture -w {root} leads show <email>")
    click.echo(f"  the program:                 {root / 'campaigns'}")
    click.echo(f"  run it again, for real:      cd {root} && nurture run")
