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
from nurture.demo_report import ProgramFigures, program_figures
from nurture.errors import WorkspaceError
from nurture.leads.importer import LeadImporter
from nurture.sending.factory import signer_for
from nurture.simulation import EngagementModel, Simulation
from nurture.store.engine import create_store_engine

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
            from nurture.demo_data import write_leads_csv

            write_leads_csv(root / "leads.csv", lead_count, seed)
        report = LeadImporter(db, start).run(root / "leads.csv")
        click.echo(f"imported {report.created} generated leads from {root / 'leads.csv'}")
        click.echo(f"running {days} simulated days from {start:%Y-%m-%d %H:%M} UTC ...")
        transport = parse_transport(workspace.settings.transport, root, workspace.settings)
        simulation = Simulation(
            db, program, workspace.settings, signer_for(workspace),
            transport=transport, engagement=EngagementModel(open_rate=0.5, click_rate=0.35, seed=seed),
        )  # fmt: skip
        result = simulation.run(start, start + timedelta(days=days), timedelta(hours=1))
        figures = program_figures(db)
    finally:
        db.dispose()
    _print(figures, result.problems, root)


def _print(f: ProgramFigures, problems: list[str], root: Path) -> None:
    click.secho("\nemails per step", bold=True)
    for (campaign, step), count in sorted(f.emails_per_step.items()):
        click.echo(f"  {campaign}/{step:<20} {count:>5}")
    click.secho("engagement (human / machine)", bold=True)
    for kind in sorted({t for t, _ in f.engagement}):
        click.echo(f"  {kind:<26} {f.engagement[(kind, False)]:>5} / {f.engagement[(kind, True)]}")
    click.secho("lifecycle", bold=True)
    for stage in ("lead", "mql", "sal", "sql", "opportunity", "customer", "recycled", "disqualified"):
        if f.stages_reached[stage]:
            click.echo(f"  reached {stage:<14} {f.stages_reached[stage]:>5}")
    if f.routed_to:
        click.secho("routed to sales", bold=True)
        for rep, count in sorted(f.routed_to.items()):
            click.echo(f"  {rep:<22} {count:>5}")
        kept = f.handoffs_by_status["accepted"] + f.handoffs_by_status["converted"]
        breached = f.handoffs_by_status["reassigned"] + f.handoffs_by_status["escalated"]
        click.echo(f"  SLA kept {kept}, breached {breached}, still pending {f.handoffs_by_status['pending']}")
    for problem in problems[:10]:
        click.secho(f"problem: {problem}", fg="yellow")
    maildir = root / "outbox" / "new"
    click.secho("\nwhere to look", bold=True)
    click.echo(f"  the emails, one file each:   {maildir}")
    click.echo(f"  a lead's whole story:        nurture -w {root} leads show <email>")
    click.echo(f"  the program:                 {root / 'campaigns'}")
    click.echo(f"  run it again, for real:      cd {root} && nurture run")
