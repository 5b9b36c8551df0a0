"""``nurture outbox``: looking after the outbox by hand."""

from __future__ import annotations

import asyncio

import click

from nurture.cli.context import App, pass_app
from nurture.delivery.transports import parse_transport
from nurture.guards import current_actor
from nurture.sending.unknown import drop_unknown, list_unknown, record_resends, resend_unknown


@click.group()
def outbox() -> None:
    """The outbox: emails the engine will not decide about alone."""


@outbox.command()
@click.option("--resend", is_flag=True, help="Send them again: the very bytes attempted, same Message-ID.")
@click.option("--drop", is_flag=True, help="Mark them resolved without sending (status dropped).")
@click.option("--id", "ids", type=int, multiple=True, metavar="ID", help="Only this email (repeatable).")
@click.option("--actor", metavar="NAME", help="Who does this, for the audit log (default: your user name).")
@pass_app
def unknown(app: App, resend: bool, drop: bool, ids: tuple[int, ...], actor: str | None) -> None:
    """List the emails whose fate is unknown, and resend or drop them.

    An email is ``unknown`` when the relay may or may not have it: it was on the wire when its
    sender stopped (kill, crash, power loss), or the connection ended after the whole message
    was sent. The engine never sends it again by itself; a resend uses the same Message-ID, so
    receiving systems that keep track can recognise a duplicate.
    """
    if resend and drop:
        raise click.UsageError("choose --resend or --drop, not both")
    found = list_unknown(app.store, ids)
    if ids and len(found) < len(set(ids)):
        missing = sorted(set(ids) - {email.id for email in found})
        click.secho(f"not unknown (or no such email): {', '.join(map(str, missing))}", fg="yellow")
    if not found:
        click.echo("no emails with an unknown fate")
        return
    if drop:
        count = drop_unknown(
            app.store, [email.id for email in found], actor=current_actor(actor), now=app.clock.now()
        )
        click.echo(f"dropped {count} (never to be sent again)")
        return
    if resend:
        settings = app.workspace.settings
        transport = parse_transport(settings.transport, app.workspace.root, settings)
        resendable = [email.id for email in found if email.resendable]

        async def send() -> dict[int, str]:
            try:
                return await resend_unknown(app.store, transport, resendable, app.clock.now())
            finally:
                await transport.close()

        outcomes = asyncio.run(send())
        record_resends(app.store, outcomes, actor=current_actor(actor), now=app.clock.now())
        for email in found:
            outcome = outcomes.get(email.id, "not resent: the attempted bytes were not kept")
            click.echo(f"{email.id:>8}  {email.to_address:<40} {outcome}")
        return
    click.echo(f"{'id':>8}  {'to':<40} {'email':<28} resendable  why")
    for email in found:
        kept = "yes" if email.resendable else "no"
        click.echo(f"{email.id:>8}  {email.to_address:<40} {email.what:<28} {kept:<10}  {email.reason}")
    click.echo(f"{len(found)} unknown: --resend sends the same bytes again, --drop marks them resolved")
