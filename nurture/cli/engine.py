"""``nurture tick``: do all work due at one moment, once, and say what was done."""

from __future__ import annotations

import click

from nurture.cli.context import App, pass_app
from nurture.clock import parse_instant
from nurture.engine.tick import CampaignEngine


@click.command()
@click.option("--now", "now_text", metavar="ISO-8601", help="Act as if it were this moment (replays, tests).")
@pass_app
def tick(app: App, now_text: str | None) -> None:
    """Run everything due now once (entries, steps, sends) and print a summary; for cron and tests."""
    now = parse_instant(now_text) if now_text else app.clock.now()
    engine = CampaignEngine(app.store, app.program, app.workspace.settings)
    engine.record_program(now)
    report = engine.tick(now)
    for line in report.lines():
        click.echo(line)
