"""``nurture sales``: what sales does with a lead, from the command line."""

from __future__ import annotations

import getpass
from collections.abc import Callable
from typing import Any

import click

from nurture.cli.context import App, pass_app


def _default_actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


_actor = click.option(
    "--actor", metavar="NAME", default=_default_actor, show_default="cli:<your user name>",
    help="Who does this (a rep id, a name); recorded with the stage change.",
)  # fmt: skip


def _run(app: App, email: str, action: Callable[..., object], **options: Any) -> None:
    """Do one action in one transaction and say what the lead's stage is now."""
    # why: sales code loads only when a sales command runs, not at every CLI start
    from nurture.reports.lead_profile import find_lead_id
    from nurture.store.schema import leads

    now = app.clock.now()
    lifecycle = app.lifecycle
    with app.store.begin() as conn:
        lead_id = find_lead_id(conn, email)
        action(conn, lifecycle, lead_id, now=now, **options)
        stage, owner = conn.execute(
            leads.select()
            .with_only_columns(leads.c.lifecycle_stage, leads.c.owner_rep_id)
            .where(leads.c.id == lead_id)
        ).one()
    click.echo(f"{email}: {stage}" + (f" (owner: {owner})" if owner else ""))


@click.group()
def sales() -> None:
    """Accept, reject, convert, disqualify or reassign a lead handed to sales."""


@sales.command()
@click.argument("email")
@click.option("--reason", help="Optional note recorded with the acceptance.")
@_actor
@pass_app
def accept(app: App, email: str, reason: str | None, actor: str) -> None:
    """Accept the lead's pending handoff: the lead becomes a sales-accepted lead (sal)."""
    # why: sales code loads only when a sales command runs, not at every CLI start
    from nurture.sales.actions import accept as accept_lead

    _run(app, email, accept_lead, actor=actor, reason=reason)


@sales.command()
@click.argument("email")
@click.option("--reason", required=True, help="Why sales hands it back (recorded, shown in reports).")
@_actor
@pass_app
def reject(app: App, email: str, reason: str, actor: str) -> None:
    """Hand the lead back to marketing: recycled, into the SLA's recycle campaign."""
    # why: sales code loads only when a sales command runs, not at every CLI start
    from nurture.sales.actions import reject as reject_lead

    _run(app, email, reject_lead, actor=actor, reason=reason)


@sales.command()
@click.argument("email")
@click.option(
    "--stage", "--to", "stage", type=click.Choice(["sql", "opportunity", "customer"]), default="sql",
    show_default=True, help="The stage the lead moves to.",
)  # fmt: skip
@click.option("--reason", required=True, help="Why (e.g. 'budget confirmed', 'contract signed').")
@click.option("--amount", type=float, help="The deal's value (opportunity, customer): revenue in the report.")
@click.option("--currency", default="EUR", show_default=True, help="The amount's currency (ISO 4217).")
@_actor
@pass_app
def convert(
    app: App, email: str, stage: str, reason: str, amount: float | None, currency: str, actor: str
) -> None:
    """Move the lead on to sql, opportunity or customer."""
    # why: sales code loads only when a sales command runs, not at every CLI start
    from nurture.sales.actions import convert as convert_lead

    _run(
        app, email, convert_lead, stage=stage, actor=actor, reason=reason, amount=amount,
        currency=currency.upper(),
    )  # fmt: skip


@sales.command()
@click.argument("email")
@click.option("--reason", required=True, help="Why the lead is ruled out.")
@_actor
@pass_app
def disqualify(app: App, email: str, reason: str, actor: str) -> None:
    """Rule the lead out (competitor, student, no budget)."""
    # why: sales code loads only when a sales command runs, not at every CLI start
    from nurture.sales.actions import disqualify as disqualify_lead

    _run(app, email, disqualify_lead, actor=actor, reason=reason)


@sales.command()
@click.argument("email")
@click.option("--to", "to", required=True, metavar="REP", help="The id of the rep who takes the lead over.")
@click.option("--reason", help="Why it moves (recorded with the handoff and in the audit log).")
@_actor
@pass_app
def reassign(app: App, email: str, to: str, reason: str | None, actor: str) -> None:
    """Move the lead's open handoff to another rep, with a new deadline in their working hours."""
    # why: sales code loads only when a sales command runs, not at every CLI start
    from nurture.sales.actions import reassign as reassign_lead

    _run(app, email, reassign_lead, to=to, actor=actor, reason=reason, sales=app.lifecycle.sales)


@sales.command("rep-token")
@click.argument("rep")
@pass_app
def rep_token(app: App, rep: str) -> None:
    """Print the rep's bearer token for the sales API (/api/sales/*); give it to that rep only."""
    # why: sales code loads only when a sales command runs, not at every CLI start
    from nurture.sales.queue import find_rep
    from nurture.sales.rep_tokens import rep_token as token_of

    lifecycle = app.lifecycle
    found = find_rep(lifecycle.program, rep)
    if found is None:
        raise click.ClickException(f"there is no rep {rep!r} in any sales team")
    click.echo(token_of(lifecycle.sales.setup.rep_token_key, found))


@sales.command("webhook-key")
@pass_app
def webhook_key(app: App) -> None:
    """Print the key that signs webhooks (X-Nurture-Signature), for the receiving side."""
    # why: sales code loads only when a sales command runs, not at every CLI start
    from nurture.sales.webhooks import webhook_key as key

    click.echo(key(app.workspace.settings, app.workspace.root).hex())
