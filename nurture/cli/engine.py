"""``nurture tick``: do all work due at one moment, once, and say what was done."""

from __future__ import annotations

import asyncio
from datetime import datetime

import click

from nurture.cli.context import App, pass_app
from nurture.clock import parse_instant
from nurture.engine.tick import CampaignEngine
from nurture.sales.sla import enforce_sla
from nurture.sales.webhooks import deliver_webhooks
from nurture.sending.factory import build_outbox
from nurture.sending.outbox import DeliveryReport


@click.command()
@click.option("--now", "now_text", metavar="ISO-8601", help="Act as if it were this moment (replays, tests).")
@click.option("--no-send", is_flag=True, help="Queue emails but leave them in the outbox.")
@pass_app
def tick(app: App, now_text: str | None, no_send: bool) -> None:
    """Run everything due now once (entries, steps, sends, webhooks, the bounce mailbox) and print
    a summary; for cron and tests."""
    now = parse_instant(now_text) if now_text else app.clock.now()
    engine = CampaignEngine(app.store, app.program, app.workspace.settings)
    engine.record_program(now)
    report = engine.tick(now)
    for line in report.lines():
        click.echo(line)
    sla = enforce_sla(app.store, app.program, now, app.workspace.settings)
    for line in sla.lines():
        click.echo(line)
    if not no_send:
        delivery = asyncio.run(_deliver(app, now, pinned=now_text is not None))
        lines = delivery.lines()
        if lines:
            click.echo("sending")
            for line in lines:
                click.echo(line)
        webhooks = deliver_webhooks(app.store, now)
        if webhooks.delivered or webhooks.retrying or webhooks.failed:
            for line in webhooks.lines():
                click.echo(line)
    if app.workspace.settings.bounce_mailbox:
        _read_bounces(app, now)


def _read_bounces(app: App, now: datetime) -> None:
    """The bounce mailbox, as the daemon's ``bounces`` job reads it (a cron setup has no daemon)."""
    from nurture.daemon.bounce_inbox import read_bounce_inbox, workspace_bounce_mailbox
    from nurture.delivery.bounce_mailbox import BounceMailboxError

    limit = app.workspace.settings.soft_bounce_limit
    try:
        inbox = workspace_bounce_mailbox(app.workspace)
        assert inbox is not None
        tally = read_bounce_inbox(app.store, inbox, app.program, now, soft_bounce_limit=limit)
    except BounceMailboxError as exc:
        click.secho(f"  problem   bounce mailbox: {exc}", fg="yellow")
        return
    if tally:
        click.echo("bounce mailbox")
        for kind, count in sorted(tally.items()):
            click.echo(f"  {kind:<9} {count}")


async def _deliver(app: App, now: datetime, pinned: bool) -> DeliveryReport:
    # Leases are read from the same clock as ``now``: a pinned tick's leases are pinned too.
    clock = (lambda: now) if pinned else app.clock.now
    outbox = build_outbox(app.store, app.program, app.workspace, clock=clock)
    try:
        return await outbox.deliver_due(now)
    finally:
        await outbox.transport.close()
