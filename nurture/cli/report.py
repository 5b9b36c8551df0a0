"""``nurture report``: funnel, campaign and SLA figures; text, JSON, or an HTML page with charts."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from nurture.cli.context import App, pass_app
from nurture.clock import parse_instant
from nurture.predict.stored import latest_model
from nurture.reports.figures import Report, build_report
from nurture.reports.page import render_report_page
from nurture.reports.score_health import (
    score_health,
    score_health_json,
    score_health_lines,
    with_score_health,
)


@click.command()
@click.option("--since", "since_text", metavar="ISO-8601", help="Only what happened from then on.")
@click.option("--until", "until_text", metavar="ISO-8601", help="Only what happened before then.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object, for scripts.")
@click.option(
    "--html", "html_file", type=click.Path(dir_okay=False, path_type=Path), help="Write an HTML page."
)
@pass_app
def report(
    app: App, since_text: str | None, until_text: str | None, as_json: bool, html_file: Path | None
) -> None:
    """Funnel (lead -> MQL -> SAL -> SQL -> opportunity -> customer), campaigns and the SLA."""
    since = parse_instant(since_text) if since_text else None
    until = parse_instant(until_text) if until_text else None
    order = {key: campaign.step_ids for key, campaign in app.program.campaigns.items()}
    with app.store.connect() as conn:
        figures = build_report(conn, since, until, order)
        health = score_health(conn, app.program, app.clock.now())
        predictive = latest_model(conn)
    if html_file:
        page = with_score_health(render_report_page(figures, app.clock.now()), health)
        html_file.write_text(page, encoding="utf-8")
        click.echo(f"wrote {html_file}")
    if as_json:
        document = {**figures.as_json(), "score_health": score_health_json(app.program, health, predictive)}
        click.echo(json.dumps(document, ensure_ascii=False, indent=2))
    elif not html_file:
        _print(figures)
        click.echo("\n".join(score_health_lines(health)))


def _print(figures: Report) -> None:
    console = Console()
    funnel = Table(title="Funnel", title_justify="left")
    for column in ("stage", "leads", "from previous"):
        funnel.add_column(column, justify="right" if column != "stage" else "left")
    for stage in figures.funnel:
        share = f"{stage.from_previous * 100:.1f} %" if stage.from_previous is not None else ""
        funnel.add_row(stage.stage, str(stage.leads), share)
    console.print(funnel)
    for campaign in figures.campaigns:
        table = Table(
            title=f"{campaign.campaign}: entered {campaign.entered}, active {campaign.active}, "
            f"completed {campaign.completed}, exited {campaign.exited}",
            title_justify="left",
        )
        for column in (
            "step",
            "sent",
            "opened",
            "clicked",
            "machine opens/clicks",
            "unsubscribed",
            "bounced",
        ):
            table.add_column(column, justify="left" if column == "step" else "right")
        for s in campaign.steps:
            table.add_row(
                s.step, str(s.sent), str(s.opened), str(s.clicked),
                f"{s.machine_opens}/{s.machine_clicks}", str(s.unsubscribed), str(s.bounced),
            )  # fmt: skip
        console.print(table)
    sla = figures.sla
    console.print(
        f"SLA: {sla.handoffs} handoffs, {sla.accepted_in_time} accepted in time, {sla.accepted_late} late, "
        f"{sla.breaches} breaches; median hours to answer: {sla.median_hours_to_answer or '-'}",
        highlight=False,
    )
