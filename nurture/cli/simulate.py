"""``nurture simulate``: run the program over leads on a simulated clock; nothing is sent."""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta
from pathlib import Path

import click

from nurture.cli.context import App, pass_app
from nurture.clock import parse_instant
from nurture.durations import parse_duration
from nurture.errors import NurtureError
from nurture.leads.importer import LeadImporter
from nurture.sending.factory import signer_for
from nurture.simulation import (
    EngagementModel,
    SalesModel,
    Simulation,
    SimulationResult,
    copy_leads,
    scratch_database,
)
from nurture.zones import zone


@click.command()
@click.option(
    "--days", type=click.IntRange(1, 366), default=30, show_default=True, help="How long to simulate."
)
@click.option("--step", "step_text", default="1h", show_default=True, help="Clock step between ticks.")
@click.option("--start", "start_text", metavar="ISO-8601", help="Simulated start (default: now).")
@click.option(
    "--leads", "leads_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Simulate these leads (CSV or JSON Lines) instead of the workspace's.",
)  # fmt: skip
@click.option("--open-rate", type=click.FloatRange(0, 1), default=0.45, show_default=True)
@click.option("--click-rate", type=click.FloatRange(0, 1), default=0.3, show_default=True, help="Of openers.")
@click.option("--no-engagement", is_flag=True, help="Nobody opens or clicks anything.")
@click.option("--seed", type=int, default=1, show_default=True, help="For repeatable engagement.")
@click.option("--limit", type=int, default=100, show_default=True, help="Timeline lines to print (0: none).")
@click.option("--json", "as_json", is_flag=True, help="Print the whole result as JSON.")
@pass_app
def simulate(
    app: App,
    days: int,
    step_text: str,
    start_text: str | None,
    leads_file: Path | None,
    open_rate: float,
    click_rate: float,
    no_engagement: bool,
    seed: int,
    limit: int,
    as_json: bool,
) -> None:
    """Show who would get what when, over DAYS of simulated time (in seconds of real time)."""
    try:
        step = parse_duration(step_text)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--step") from None
    start = parse_instant(start_text) if start_text else app.clock.now()
    lifecycle, settings = app.lifecycle, app.workspace.settings
    model = None if no_engagement else EngagementModel(open_rate, click_rate, seed)
    with scratch_database() as db:
        if leads_file:
            report = LeadImporter(db, start, on_batch=lifecycle.leads_imported).run(leads_file)
            count = report.created
        else:
            count = copy_leads(app.store, db)
        if not count:
            raise NurtureError("no leads to simulate: import some, or pass --leads FILE")
        simulation = Simulation(
            db, lifecycle, settings, signer_for(app.workspace), engagement=model,
            sales=None if no_engagement else SalesModel(),
        )  # fmt: skip
        result = simulation.run(start, start + timedelta(days=days), step)
    if as_json:
        click.echo(json.dumps(_as_json(result), ensure_ascii=False, indent=2))
        return
    _print(result, count, days, settings.timezone, limit)


def _print(result: SimulationResult, leads: int, days: int, timezone: str, limit: int) -> None:
    local = zone(timezone)
    click.echo(f"simulated {days} days for {leads} leads ({result.ticks} ticks); nothing was sent")
    shown = result.sends[:limit]
    width = max((len(s.email) for s in shown), default=0)
    step_width = max((len(f"{s.campaign}/{s.step}") for s in shown), default=0)
    for send in shown:
        when = send.at.astimezone(local).strftime("%a %Y-%m-%d %H:%M")
        where = f"{send.campaign}/{send.step}"
        click.echo(f"  {when}  {send.email:<{width}}  {where:<{step_width}}  {send.subject}")
    if len(result.sends) > limit > 0:
        click.echo(f"  ... and {len(result.sends) - limit} more emails")
    click.echo("emails per step:")
    for (campaign, step), count in sorted(Counter((s.campaign, s.step) for s in result.sends).items()):
        click.echo(f"  {campaign}/{step}: {count}")
    for campaign, count in sorted(result.entered.items()):
        click.echo(f"entered {campaign}: {count}")
    for (status, reason), count in sorted(result.ended.items()):
        click.echo(f"{status} ({reason}): {count}")
    if result.sales_answers or result.breaches:
        answers = ", ".join(f"{k} {v}" for k, v in sorted(result.sales_answers.items()))
        click.echo(f"simulated sales: {answers or 'no answers'}; SLA breaches {result.breaches}")
    if result.engagement:
        click.echo(
            "simulated engagement: " + ", ".join(f"{k} {v}" for k, v in sorted(result.engagement.items()))
        )
    for problem in result.problems[:20]:
        click.echo(f"problem: {problem}")


def _as_json(result: SimulationResult) -> dict[str, object]:
    return {
        "sends": [
            {
                "at": s.at.isoformat(),
                "email": s.email,
                "campaign": s.campaign,
                "step": s.step,
                "subject": s.subject,
            }
            for s in result.sends
        ],
        "entered": dict(result.entered),
        "ended": [{"status": st, "reason": r, "count": n} for (st, r), n in result.ended.items()],
        "engagement": dict(result.engagement),
        "problems": result.problems,
    }
