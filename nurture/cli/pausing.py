"""``nurture pause`` and ``nurture resume``: stop and restart sending, on every replica."""

from __future__ import annotations

import click
from sqlalchemy import select

from nurture.cli.context import App, pass_app
from nurture.definitions.problems import did_you_mean
from nurture.errors import NurtureError
from nurture.guards import current_actor, pause_sending, resume_sending
from nurture.store.schema import messages

_actor = click.option(
    "--actor", metavar="NAME", help="Who does this, for the audit log (default: your user name)."
)


def _known(app: App, campaign: str | None) -> None:
    """A campaign the program does not have is refused (a typo would pause nothing)."""
    if campaign is None:
        return
    with app.store.connect() as conn:
        queued = conn.scalar(select(messages.c.id).where(messages.c.campaign_key == campaign).limit(1))
    try:
        campaigns = app.program.campaigns
    except NurtureError:
        campaigns = {}
    if campaign not in campaigns and queued is None:
        raise NurtureError(f"no campaign {campaign!r}{did_you_mean(campaign, campaigns)}")


@click.command()
@click.argument("campaign", required=False)
@click.option("--reason", metavar="TEXT", help="Why, for the audit log and `nurture campaigns`.")
@_actor
@pass_app
def pause(app: App, campaign: str | None, reason: str | None, actor: str | None) -> None:
    """Pause sending of CAMPAIGN, or of all marketing mail without one.

    Every replica stops handing its mail to the relay at its next claim (within seconds); the mail
    waits in the queue until `nurture resume`. Sales notifications keep going.
    """
    _known(app, campaign)
    with app.store.begin() as conn:
        new = pause_sending(
            conn, campaign, actor=current_actor(actor), now=app.clock.now(), reason="manual", detail=reason
        )
    scope = f"campaign {campaign}" if campaign else "all marketing mail"
    click.echo(f"paused {scope}" if new else f"{scope} was paused already")


@click.command()
@click.argument("campaign", required=False)
@_actor
@pass_app
def resume(app: App, campaign: str | None, actor: str | None) -> None:
    """Resume sending of CAMPAIGN (paused by hand or by a circuit breaker), or of all marketing mail.

    A breaker judges a resumed campaign afresh: only what is sent after the resume counts.
    """
    with app.store.begin() as conn:
        done = resume_sending(conn, campaign, actor=current_actor(actor), now=app.clock.now())
    scope = f"campaign {campaign}" if campaign else "all marketing mail"
    if not done:
        raise NurtureError(f"{scope} is not paused")
    click.echo(f"resumed {scope}")
