"""``nurture demo``: a newcomer's end-to-end run on the embedded defaults."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import click

from nurture.cli.context import App
from nurture.cli.init import create_workspace
from nurture.definitions import load_program
from nurture.delivery.transports import parse_transport
from nurture.errors import WorkspaceError
from nurture.leads.importer import LeadImporter
from nurture.lifecycle import Lifecycle
from nurture.reports.figures import Report, build_report
from nurture.sending.factory import signer_for
from nurture.simulation import EngagementModel, SalesModel, Simulation
from nurture.store.engine import create_store_engine

# Keen readers, so that a 30-day demo shows leads crossing the MQL line and sales answering.
DEMO_READERS = EngagementModel(open_rate=0.55, click_rate=0.4, pricing_rate=0.5, demo_rate=0.3)
MARKER = ".nurture-demo"  # a folder made by `nurture demo`, which it may replace


@click.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path), default="nurture-demo")
@click.option("--leads", "lead_count", type=click.IntRange(1, 100_000), default=300, show_default=True)
@click.option("--days", type=click.IntRange(1, 120), default=30, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True)
@click.pass_context
def demo(ctx: click.Context, directory: Path, lead_count: int, days: int, seed: int) -> None:
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
        order = {key: campaign.step_ids for key, campaign in program.campaigns.items()}
        with db.connect() as conn:
            figures = build_report(conn, step_order=order)
    finally:
        db.dispose()
    _print(figures, result.problems, root)


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
    for stage in report.funnel:
        click.echo(f"  reached {stage.stage:<14} {stage.leads:>5}")
    for side, count in report.side_stages.items():
        if count:
            click.echo(f"  {side:<22} {count:>5}")
    sla = report.sla
    if sla.handoffs:
        click.secho("routed to sales", bold=True)
        for rep, count in sla.by_rep.items():
            click.echo(f"  {rep:<22} {count:>5}")
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
