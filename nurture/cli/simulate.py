"""``nurture simulate``: run the program over leads on a simulated clock; nothing is sent."""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from datetime import timedelta
from pathlib import Path

import click

from nurture.cli.context import App, pass_app
from nurture.cli.locales import locale_option
from nurture.clock import parse_instant
from nurture.demo_data import write_leads_csv
from nurture.durations import parse_duration
from nurture.errors import NurtureError
from nurture.leads.importer import LeadImporter
from nurture.sending.factory import signer_for
from nurture.simulation import (
    EngagementModel,
    SalesModel,
    SimulatedMoment,
    SimulatedSend,
    Simulation,
    SimulationResult,
    copy_leads,
    scratch_database,
)
from nurture.simulation_events import read_planned_events
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
@click.option(
    "--sample-leads",
    type=click.IntRange(1, 100_000),
    metavar="N",
    help="Simulate N generated sample leads (no leads file or stored leads needed).",
)
@click.option(
    "--events",
    "events_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="JSON Lines of events to happen during the simulation; occurred_at absolute or '+2d'.",
)
@click.option("--open-rate", type=click.FloatRange(0, 1), default=0.45, show_default=True)
@click.option("--click-rate", type=click.FloatRange(0, 1), default=0.3, show_default=True, help="Of openers.")
@click.option("--no-engagement", is_flag=True, help="Nobody opens or clicks anything.")
@click.option(
    "--variant", metavar="ID",
    help="Send this variant to everyone, at every send step that has it (default: the split).",
)  # fmt: skip
@click.option("--seed", type=int, default=1, show_default=True, help="For repeatable engagement.")
@click.option("--limit", type=int, default=100, show_default=True, help="Timeline lines to print (0: none).")
@click.option("--json", "as_json", is_flag=True, help="Print the whole result as JSON.")
@locale_option
@pass_app
def simulate(
    app: App,
    days: int,
    step_text: str,
    start_text: str | None,
    leads_file: Path | None,
    sample_leads: int | None,
    events_file: Path | None,
    open_rate: float,
    click_rate: float,
    no_engagement: bool,
    variant: str | None,
    seed: int,
    limit: int,
    as_json: bool,
    locale: str | None,
) -> None:
    """Show who would get what when, over DAYS of simulated time (in seconds of real time)."""
    try:
        step = parse_duration(step_text)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--step") from None
    if leads_file and sample_leads:
        raise click.UsageError("--leads and --sample-leads exclude each other")
    start = parse_instant(start_text) if start_text else app.clock.now()
    planned = read_planned_events(events_file, start) if events_file else []
    lifecycle, settings = app.lifecycle, app.workspace.settings
    model = None if no_engagement else EngagementModel(open_rate, click_rate, seed)
    with scratch_database() as db, tempfile.TemporaryDirectory(prefix="nurture-sample-") as folder:
        if sample_leads:
            leads_file = Path(folder) / "sample-leads.csv"
            write_leads_csv(leads_file, sample_leads, seed)
        if leads_file:
            report = LeadImporter(db, start, on_batch=lifecycle.leads_imported).run(leads_file)
            count = report.created
        else:
            count = copy_leads(app.store, db)
        if not count:
            raise NurtureError("no leads to simulate: import some, or pass --leads FILE or --sample-leads N")
        simulation = Simulation(
            db, lifecycle, settings, signer_for(app.workspace), engagement=model,
            sales=None if no_engagement else SalesModel(), variant=_known_variant(app, variant),
            locale=locale,
        )  # fmt: skip
        simulation.plan_events(planned)
        result = simulation.run(start, start + timedelta(days=days), step)
    if as_json:
        click.echo(json.dumps(_as_json(result), ensure_ascii=False, indent=2))
        return
    _print(result, count, days, settings.timezone, limit)


def _known_variant(app: App, variant: str | None) -> str | None:
    if variant is None:
        return None
    known = sorted(
        {v for c in app.program.campaigns.values() for s in c.send_steps for v in s.send.variant_ids}
    )
    if variant not in known:
        listed = ", ".join(known) if known else "none: no send step has variants"
        raise click.BadParameter(f"no send step has a variant {variant!r} (variants: {listed})")
    return variant


def _print(result: SimulationResult, leads: int, days: int, timezone: str, limit: int) -> None:
    local = zone(timezone)
    click.echo(f"simulated {days} days for {leads} leads ({result.ticks} ticks); nothing was sent")
    timeline: list[SimulatedSend | SimulatedMoment] = sorted(
        [*result.sends, *result.moments], key=lambda item: item.at
    )
    shown = timeline[:limit]
    width = max((len(s.email) for s in shown), default=0)
    what_width = max((len(_what(s)) for s in shown), default=0)
    for item in shown:
        when = item.at.astimezone(local).strftime("%a %Y-%m-%d %H:%M")
        detail = item.subject if isinstance(item, SimulatedSend) else item.detail
        click.echo(f"  {when}  {item.email:<{width}}  {_what(item):<{what_width}}  {detail}")
    if len(timeline) > limit > 0:
        click.echo(f"  ... and {len(timeline) - limit} more")
    click.echo("emails per step:")
    for (campaign, step), count in sorted(Counter((s.campaign, s.step) for s in result.sends).items()):
        click.echo(f"  {campaign}/{step}: {count}")
    for campaign, count in sorted(result.entered.items()):
        click.echo(f"entered {campaign}: {count}")
    for (status, reason), count in sorted(result.ended.items()):
        click.echo(f"{status} ({reason}): {count}")
    click.echo(
        f"MQLs {result.stages['mql']}, handoffs {result.handoffs}, SLA breaches {result.breaches}"
        + "".join(f", {stage} {n}" for stage, n in sorted(result.stages.items()) if stage != "mql")
    )
    if result.sales_answers or result.breaches:
        answers = ", ".join(f"{k} {v}" for k, v in sorted(result.sales_answers.items()))
        click.echo(f"simulated sales: {answers or 'no answers'}; SLA breaches {result.breaches}")
    if result.engagement:
        click.echo(
            "simulated engagement: " + ", ".join(f"{k} {v}" for k, v in sorted(result.engagement.items()))
        )
    for problem in result.problems[:20]:
        click.echo(f"problem: {problem}")


def _what(item: SimulatedSend | SimulatedMoment) -> str:
    return f"{item.campaign}/{item.step}" if isinstance(item, SimulatedSend) else item.what


def _as_json(result: SimulationResult) -> dict[str, object]:
    return {
        "sends": [
            {
                "at": s.at.isoformat(),
                "email": s.email,
                "campaign": s.campaign,
                "step": s.step,
                "subject": s.subject,
                "variant": s.variant,
            }
            for s in result.sends
        ],
        "timeline": [
            {"at": m.at.isoformat(), "email": m.email, "what": m.what, "detail": m.detail}
            for m in sorted(result.moments, key=lambda m: m.at)
        ],
        "entered": dict(result.entered),
        "stages": dict(result.stages),
        "mqls": result.stages["mql"],
        "handoffs": result.handoffs,
        "breaches": result.breaches,
        "ended": [{"status": st, "reason": r, "count": n} for (st, r), n in result.ended.items()],
        "engagement": dict(result.engagement),
        "problems": result.problems,
    }
