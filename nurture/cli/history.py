"""``nurture history``: bring the past of leads from another tool, with its real dates."""

from __future__ import annotations

from pathlib import Path

import click

from nurture.cli.context import App, pass_app
from nurture.cli.import_report import finish_import


@click.group()
def history() -> None:
    """Stage changes and engagement from before nurture, with their real dates."""


@history.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON object.")
@pass_app
def import_history_command(app: App, file: Path, as_json: bool) -> None:
    """Import a CSV or JSON Lines FILE of stage changes (to, from, at, reason, actor, amount,
    currency) and engagement events (type, at, ...) of leads named by email or external_id.
    A record, not a replay: nothing is sent and no rep is notified."""
    # why: the history importer loads only for this command, not at every CLI start
    from nurture.engagement.history import import_history

    report = import_history(app.store, app.lifecycle.past(), file, app.clock.now())
    finish_import(file, report, as_json=as_json, records="rows")
