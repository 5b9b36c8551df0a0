"""``nurture suppressions``: import, list and lift suppressions, each recorded in the audit log."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from nurture.cli.context import App, pass_app
from nurture.errors import NurtureError
from nurture.guards import current_actor, record_audit
from nurture.guards.suppression_lists import (
    IMPORT_REASONS,
    Entry,
    hash_of,
    import_suppressions,
    list_suppressions,
    read_entries,
    remove_suppression,
)

_actor = click.option(
    "--actor", metavar="NAME", help="Who does this, for the audit log (default: your user name)."
)
_topic = click.option("--topic", metavar="TOPIC", help="Only this subscription topic (default: every topic).")


@click.group()
def suppressions() -> None:
    """Addresses never to be mailed: import lists from a previous tool, list, lift."""


@suppressions.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--reason", type=click.Choice(IMPORT_REASONS), default="manual", show_default=True)
@_topic
@click.option("--detail", metavar="TEXT", help="Kept with each entry (default: the file's name).")
@_actor
@pass_app
def import_(
    app: App, file: Path, reason: str, topic: str | None, detail: str | None, actor: str | None
) -> None:
    """Import FILE: one address or SHA-256 hash (of the lower-case address) per line, or a CSV
    whose first column holds them. Bad lines are reported by number; the good ones are stored."""
    entries: list[Entry] = []
    problems: list[str] = []
    for item in read_entries(file):
        if isinstance(item, str):
            problems.append(item)
        else:
            entries.append(item)
    now = app.clock.now()
    who = current_actor(actor)
    with app.store.begin() as conn:
        result = import_suppressions(
            conn, entries, reason=reason, topic=topic, detail=detail or f"imported from {file.name}", now=now
        )
        record_audit(
            conn, who, "suppress", f"import:{file.name}",
            {"entries": len(entries), "added": result.added, "reason": reason, "topic": topic,
             "rejected": len(problems)},
            now,
        )  # fmt: skip
    for problem in problems[:100]:
        click.echo(problem, err=True)
    if len(problems) > 100:
        click.echo(f"{file.name}: ... and {len(problems) - 100} more rejected lines", err=True)
    scope = f"topic {topic}" if topic else "every topic"
    click.echo(
        f"imported {file.name}: {len(entries)} entries for {scope}, {result.added} new, "
        f"{result.already} already suppressed, {len(problems)} rejected"
        + (f"; {result.enrollments_ended} enrollments ended" if result.enrollments_ended else "")
    )
    if problems:
        sys.exit(1)


@suppressions.command("list")
@_topic
@click.option("--email", metavar="ADDRESS", help="Only this address (or hash).")
@click.option("--json", "as_json", is_flag=True, help="One JSON array, for scripts.")
@pass_app
def list_(app: App, topic: str | None, email: str | None, as_json: bool) -> None:
    """List suppressions, newest first (addresses are kept only as their hash)."""
    with app.store.connect() as conn:
        rows = list_suppressions(conn, topic=topic)
    if email:
        digest = hash_of(email)
        rows = [r for r in rows if r["email_hash"] == digest]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for r in rows:
        click.echo(
            f"{r['created_at']}  {r['email_hash'][:16]}…  {r['topic'] or 'all topics':<14} {r['reason']:<12} "
            f"{r['detail'] or ''}".rstrip()
        )
    if not rows:
        click.echo("no suppressions")


@suppressions.command("remove")
@click.argument("address")
@_topic
@_actor
@pass_app
def remove(app: App, address: str, topic: str | None, actor: str | None) -> None:
    """Lift the suppression of ADDRESS (or hash): it may be mailed again."""
    now = app.clock.now()
    with app.store.begin() as conn:
        reason = remove_suppression(conn, address, topic)
        if reason is None:
            raise NurtureError(f"{address} is not suppressed" + (f" for topic {topic}" if topic else ""))
        subject = f"email-hash:{hash_of(address)}"
        record_audit(conn, current_actor(actor), "unsuppress", subject, {"was": reason, "topic": topic}, now)
    click.echo(f"lifted the suppression of {address} (was: {reason})")
