"""``nurture enroll``: put named leads into a campaign by hand (its ``on: manual`` entry)."""

from __future__ import annotations

import sys

import click

from nurture.cli.context import App, pass_app
from nurture.guards import current_actor, record_audit


@click.command()
@click.argument("campaign")
@click.argument("emails", metavar="EMAIL...", nargs=-1, required=True)
@click.option(
    "--force", is_flag=True,
    help="Enrol into a campaign whose entry is not on: manual (lead_created, event, segment) too.",
)  # fmt: skip
@click.option("--actor", metavar="NAME", help="Who enrols them, for the audit log (default: your user name).")
@pass_app
def enroll(app: App, campaign: str, emails: tuple[str, ...], force: bool, actor: str | None) -> None:
    """Enrol the leads with these EMAIL addresses into CAMPAIGN now.

    Unsubscribed or suppressed leads, leads that may not re-enter yet, leads the entry's where
    does not match and leads that already meet the campaign's exit_when stay out, each with the
    reason. Exit code 1 when any address is unknown or stayed out.
    """
    # why: the campaign engine loads only when a command enrols leads
    from nurture.engine.manual import enroll_by_hand

    chosen = app.program.campaign(campaign)
    now = app.clock.now()
    with app.store.begin() as conn:
        results = enroll_by_hand(conn, chosen, emails, now, force=force)
        entered = [r.lead_id for r in results if r.outcome == "entered"]
        if entered:
            # The audit names leads by id: an erasure later leaves no address behind in it.
            detail = {"lead_ids": entered, "force": force, "entry": chosen.entry.on}
            record_audit(conn, current_actor(actor), "enroll", f"campaign:{chosen.key}", detail, now)
    for result in results:
        line = f"{result.email}: {result.outcome}" + (f" ({result.why})" if result.why else "")
        click.secho(line, fg="red" if result.failed else None, err=result.failed)
    count = len(entered)
    click.echo(f"{count} lead{'s' if count != 1 else ''} entered {chosen.key}")
    if any(r.failed for r in results):
        sys.exit(1)
