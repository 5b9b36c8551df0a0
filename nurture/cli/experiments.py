"""``nurture experiments plan`` and ``nurture experiments promote``: how long each test needs, and
ending a test by sending everyone its winner."""

from __future__ import annotations

import json

import click
from sqlalchemy import select

from nurture.cli.context import App, pass_app
from nurture.cli.preview import send_step_of
from nurture.definitions.problems import did_you_mean
from nurture.errors import NurtureError
from nurture.guards.audit import current_actor, record_audit
from nurture.reports.experiment_plan import experiment_plans
from nurture.store.schema import variant_winners


@click.group()
def experiments() -> None:
    """A/B/n tests of send steps and campaign holdouts."""


@experiments.command()
@click.option("--json", "as_json", is_flag=True, help="Print the plans as JSON.")
@pass_app
def plan(app: App, as_json: bool) -> None:
    """The sample each running test needs and, at the current entry rate, the weeks to a verdict."""
    with app.store.connect() as conn:
        plans = experiment_plans(conn, app.program, app.clock.now())
    if as_json:
        click.echo(json.dumps([p.as_dict() for p in plans], ensure_ascii=False, indent=2))
        return
    if not plans:
        click.echo(
            "no running experiments: no send step has variants without a winner, no campaign a holdout"
        )
    for found in plans:
        click.echo(found.line())


@experiments.command()
@click.argument("campaign")
@click.argument("step")
@click.argument("variant")
@click.option("--actor", metavar="NAME", help="Who does this, for the audit log (default: your user name).")
@pass_app
def promote(app: App, campaign: str, step: str, variant: str, actor: str | None) -> None:
    """End the test of STEP in CAMPAIGN: every lead queued from now on gets VARIANT.

    Emails already queued keep their variant; the test's figures stay in the report.
    """
    send = send_step_of(app.program, campaign, step)
    ids = send.send.variant_ids
    if not ids:
        raise NurtureError(f"step {step!r} of {campaign!r} has no variants")
    if variant not in ids:
        hint = did_you_mean(variant, ids)
        raise NurtureError(f"step {step!r} has no variant {variant!r} (it has {', '.join(ids)}){hint}")
    now = app.clock.now()
    who = current_actor(actor)
    w = variant_winners.c
    with app.store.begin() as conn:
        before = conn.scalar(select(w.variant).where(w.campaign_key == campaign, w.step_id == step))
        if before == variant:
            click.echo(f"{campaign}/{step}: variant {variant} was the winner already")
            return
        conn.execute(variant_winners.delete().where(w.campaign_key == campaign, w.step_id == step))
        conn.execute(
            variant_winners.insert().values(
                campaign_key=campaign, step_id=step, variant=variant, promoted_at=now, actor=who
            )
        )
        record_audit(conn, who, "promote", f"{campaign}/{step}", {"variant": variant, "before": before}, now)
    if send.send.winner is not None and send.send.winner != variant:
        click.echo(f"note: the definition names winner {send.send.winner!r}, which goes first", err=True)
    click.echo(f"{campaign}/{step}: variant {variant} is sent to everyone from now on")
