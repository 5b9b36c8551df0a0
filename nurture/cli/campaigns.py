"""``nurture campaigns``: every campaign's version and state, who waits where, what went out today."""

from __future__ import annotations

import json

import click
from rich.console import Console
from rich.table import Table

from nurture.cli.context import App, pass_app
from nurture.definitions import Program
from nurture.errors import NurtureError
from nurture.guards.overview import campaign_states


@click.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object, for scripts.")
@pass_app
def campaigns(app: App, as_json: bool) -> None:
    """Show each campaign: its running version, active or paused (and why), the leads waiting at
    each step, the emails queued and those sent today (in the workspace's time zone)."""
    program: Program | None
    try:
        program = app.program
    except NurtureError:
        program = None  # a broken edit must not hide what runs
    with app.store.connect() as conn:
        states, workspace_pause = campaign_states(
            conn, program, app.clock.now(), app.workspace.settings.timezone
        )
    if as_json:
        body = {
            "all_marketing_paused": workspace_pause.as_dict() if workspace_pause else None,
            "campaigns": [s.as_dict() for s in states],
        }
        click.echo(json.dumps(body, ensure_ascii=False, indent=2))
        return
    console = Console()
    if workspace_pause is not None:
        console.print(
            f"[bold red]all marketing mail is paused[/] since {workspace_pause.paused_at.isoformat()} "
            f"by {workspace_pause.paused_by}: {workspace_pause.detail or workspace_pause.reason}",
            highlight=False,
            soft_wrap=True,
        )
    table = Table(show_edge=False)
    for column in ("campaign", "mail", "version", "state", "waiting (by step)", "queued", "sent today"):
        table.add_column(column)
    for s in states:
        version = (s.version or "-")[:12]
        if s.file_version and s.file_version != s.version:
            version += f" (files: {s.file_version[:12]}, see nurture plan)"
        state = s.state
        if s.pause is not None:
            state = f"paused: {s.pause.detail or s.pause.reason} ({s.pause.paused_by})"
        waiting = ", ".join(f"{step} {n}" for step, n in s.waiting.items()) or "-"
        table.add_row(
            s.key, s.mail or "-", version, state, waiting, str(sum(s.queued.values())), str(s.sent_today)
        )
    console.print(table)
