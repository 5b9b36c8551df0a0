"""``nurture audit``: who deployed, paused, resumed, erased or approved what, and when."""

from __future__ import annotations

import json

import click

from nurture.cli.context import App, pass_app
from nurture.clock import parse_instant
from nurture.durations import parse_duration
from nurture.errors import NurtureError
from nurture.guards import audit_entries


@click.command()
@click.option("--since", metavar="WHEN", help="An ISO-8601 time, or a duration back from now (7d).")
@click.option("--action", metavar="ACTION", help="Only this action (deploy, pause, resume, erase, ...).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@pass_app
def audit(app: App, since: str | None, action: str | None, as_json: bool) -> None:
    """Print the audit log, oldest first."""
    start = None
    if since:
        try:
            start = app.clock.now() - parse_duration(since)
        except ValueError:
            try:
                start = parse_instant(since)
            except NurtureError:
                hint = "give an ISO-8601 time or a duration such as 7d"
                raise NurtureError(f"--since {since!r}: {hint}") from None
    with app.store.connect() as conn:
        entries = audit_entries(conn, since=start, action=action)
    for entry in entries:
        if as_json:
            click.echo(json.dumps(entry.as_dict(), ensure_ascii=False, sort_keys=True))
            continue
        detail = ", ".join(f"{k}={v}" for k, v in entry.detail.items() if v not in (None, "", {}))
        line = f"{entry.at.isoformat()}  {entry.actor:<20} {entry.action:<10} {entry.subject}  {detail}"
        click.echo(line.rstrip())
    if not entries and not as_json:
        click.echo("nothing recorded" + (" since then" if since else ""))
