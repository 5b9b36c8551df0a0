"""``nurture send-test CAMPAIGN STEP --to ADDRESS``: one email as a lead would get it, to yourself."""

from __future__ import annotations

import asyncio

import click

from nurture.cli.context import App, pass_app
from nurture.cli.locales import locale_option
from nurture.cli.preview import lead_to_render, send_step_of, variant_of
from nurture.delivery.headers import Address, InvalidAddress
from nurture.delivery.transports import OutgoingMessage, SendResult, parse_transport, redact_url
from nurture.errors import NurtureError
from nurture.sending.compose import Composer
from nurture.sending.factory import signer_for


@click.command("send-test")
@click.argument("campaign")
@click.argument("step")
@click.option("--to", "to_address", required=True, metavar="ADDRESS", help="Who receives the test email.")
@click.option("--lead", "lead_email", metavar="EMAIL", help="Render for this stored lead.")
@click.option("--sample", is_flag=True, help="Render for a made-up sample lead (the default without --lead).")
@click.option("--variant", metavar="ID", help="The variant to send (default: the step as written).")
@locale_option
@pass_app
def send_test(
    app: App,
    campaign: str,
    step: str,
    to_address: str,
    lead_email: str | None,
    sample: bool,
    variant: str | None,
    locale: str | None,
) -> None:
    """Send the email of a send STEP of CAMPAIGN to ADDRESS through the configured transport, its
    subject marked [TEST]. Nothing is recorded against any lead: no outbox row, no stage, no score."""
    if lead_email and sample:
        raise click.UsageError("--lead and --sample exclude each other")
    try:
        Address.parse(to_address)
    except InvalidAddress as exc:
        raise click.BadParameter(str(exc), param_hint="--to") from None
    program = app.program
    variant_of(send_step_of(program, campaign, step), variant)
    now = app.clock.now()
    lead = lead_to_render(app, lead_email, now)
    composer = Composer(program, app.workspace.settings, signer_for(app.workspace), locale=locale)
    composed = composer.test_send(lead, campaign, step, to_address, now, variant)
    result = asyncio.run(_send(app, composed.message))
    if not result.accepted:
        raise NurtureError(f"the test email was not sent: {result.code or ''} {result.reason}".strip())
    click.echo(
        f"sent {composed.subject!r} to {to_address} via {redact_url(app.workspace.settings.transport)}"
    )


async def _send(app: App, message: OutgoingMessage) -> SendResult:
    settings = app.workspace.settings
    transport = parse_transport(settings.transport, app.workspace.root, settings)
    try:
        return await transport.send(message)
    finally:
        await transport.close()
