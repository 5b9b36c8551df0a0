"""``nurture plan``: what the definitions in the files would do once live, before they are."""

from __future__ import annotations

import json

import click

from nurture.cli.context import App, pass_app
from nurture.guards import current_actor
from nurture.guards.plan import CampaignPlan, approve, plan_program


@click.command()
@click.option("--apply", "apply_", is_flag=True, help="Confirm the held changes: they go live.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object, for scripts.")
@click.option("--actor", metavar="NAME", help="Who confirms, for the audit log (default: your user name).")
@pass_app
def plan(app: App, apply_: bool, as_json: bool, actor: str | None) -> None:
    """Compare the campaigns in the files with those running now: who would enter, and how many
    emails the next 24 hours would bring, per campaign and step.

    A change over `plan_enrol_limit` leads or `plan_send_limit` added emails is held by the daemon
    (and `nurture tick`) until `nurture plan --apply` confirms it.
    """
    now = app.clock.now()
    settings = app.workspace.settings
    with app.store.connect() as conn:
        plans = plan_program(conn, app.program, settings, now)
    approved: list[str] = []
    if apply_:
        with app.store.begin() as conn:
            approved = approve(conn, plans, current_actor(actor), now)
    if as_json:
        body = {
            "at": now.isoformat(),
            "limits": {"enrol": settings.plan_enrol_limit, "send_24h": settings.plan_send_limit},
            "campaigns": [p.as_dict() for p in plans],
            "approved": approved,
        }
        click.echo(json.dumps(body, ensure_ascii=False, indent=2))
        return
    if not plans:
        click.echo("nothing to do: the files hold the versions that run now")
    for item in plans:
        for line in _lines(item):
            click.echo(line)
    for key in approved:
        click.secho(f"approved {key}: live at the daemon's next reload (or the next tick)", fg="green")
    held = [p.key for p in plans if p.held and p.key not in approved]
    if held and not apply_:
        click.secho(f"held: {', '.join(held)}; run `nurture plan --apply` to confirm", fg="yellow")


def _lines(item: CampaignPlan) -> list[str]:
    if item.change == "removed":
        return [f"{item.key}: removed (leads inside it leave at their next step)"]
    version = f"{(item.running or 'none')[:12]} -> {(item.version or '')[:12]}"
    state = "held" if item.held else ("approved" if item.approved and item.over else "goes live")
    lines = [
        f"{item.key}: {item.change} ({version}), {state}: enrols {item.enrols}, "
        f"sends {sum(item.sends.values())} in 24 h (now {item.sends_now}, added {item.added_sends})"
    ]
    lines += [f"  {step:<24} {count}" for step, count in sorted(item.sends.items())]
    lines += [f"  over the limit: {reason}" for reason in item.over]
    return lines
