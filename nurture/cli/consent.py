"""``nurture consent``: record a lead's consent for a topic (given on paper, on the phone, ...)."""

from __future__ import annotations

import click

from nurture.cli.context import App, pass_app
from nurture.definitions.topic import DEFAULT_TOPIC
from nurture.guards import current_actor, record_audit
from nurture.leads.consent import CONSENT_STATES, record_consent
from nurture.reports.lead_profile import find_lead_id


@click.command()
@click.argument("email")
@click.argument("state", type=click.Choice(CONSENT_STATES))
@click.option("--topic", default=DEFAULT_TOPIC, show_default=True, help="The subscription topic.")
@click.option("--source", default="cli", show_default=True, help="Where the consent was given.")
@click.option("--text-version", metavar="VERSION", help="Which wording of the consent text was agreed to.")
@click.option("--ip", metavar="ADDRESS", help="The IP address it was given from, when known.")
@click.option("--actor", metavar="NAME", help="Who records it, for the audit log (default: your user name).")
@pass_app
def consent(
    app: App, email: str, state: str, topic: str, source: str, text_version: str | None, ip: str | None,
    actor: str | None,
) -> None:  # fmt: skip
    """Record STATE (pending, confirmed, withdrawn) of EMAIL's consent for a topic."""
    now = app.clock.now()
    with app.store.begin() as conn:
        lead_id = find_lead_id(conn, email)
        record_consent(conn, lead_id, topic, state, now, source=source, text_version=text_version, ip=ip)
        record_audit(
            conn, current_actor(actor), "consent", f"lead:{lead_id}", {"topic": topic, "state": state}, now
        )
    click.echo(f"{email}: consent for {topic} {state}")
