"""``nurture events``: import engagement events."""

from __future__ import annotations

from pathlib import Path

import click

from nurture.cli.context import App, pass_app
from nurture.cli.import_report import finish_import


@click.group()
def events() -> None:
    """Engagement events (opens, clicks, downloads, webinars, custom ones)."""


@events.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--unknown-leads",
    type=click.Choice(["keep", "refuse"]),
    help="Events of addresses that are not leads yet: keep them for later (default: the "
    "unknown_event_leads setting) or refuse them.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON object.")
@pass_app
def import_events(app: App, file: Path, unknown_leads: str | None, as_json: bool) -> None:
    """Import events from a JSON Lines FILE: {"type": ..., "email": ..., "occurred_at": ..., ...}."""
    # why: the events importer loads only for this command, not at every CLI start
    from nurture.engagement.jsonl import import_events_file

    policy = unknown_leads or app.workspace.settings.unknown_event_leads
    report = import_events_file(
        app.store,
        app.lifecycle,
        file,
        app.clock.now(),
        unknown_leads="refuse" if policy == "refuse" else "keep",
    )
    finish_import(file, report, as_json=as_json, records="lines")
