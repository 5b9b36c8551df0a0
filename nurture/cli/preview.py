"""``nurture preview CAMPAIGN STEP --lead EMAIL``: render one email exactly as it would be sent."""

from __future__ import annotations

import email
import email.policy
from pathlib import Path

import click

from nurture.cli.context import App, pass_app
from nurture.definitions import SendStep
from nurture.definitions.problems import did_you_mean
from nurture.engine.enrollments import load_leads
from nurture.errors import NurtureError
from nurture.reports.lead_profile import find_lead_id
from nurture.sending.compose import Composer
from nurture.sending.factory import signer_for

PREVIEW_MESSAGE_REF = 0  # no outbox row: tracking links in a preview record nothing


@click.command()
@click.argument("campaign")
@click.argument("step")
@click.option("--lead", "lead_email", required=True, metavar="EMAIL", help="Whose email to render.")
@click.option(
    "--part",
    type=click.Choice(["text", "html", "eml"]),
    default="text",
    show_default=True,
    help="What to print: the text part, the HTML part, or the whole message.",
)
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="Write to a file.")
@pass_app
def preview(app: App, campaign: str, step: str, lead_email: str, part: str, output: Path | None) -> None:
    """Render the email of a send STEP of CAMPAIGN for one lead (nothing is sent or recorded)."""
    program = app.program
    steps = program.campaign(campaign).step_ids
    if step not in steps:
        raise NurtureError(f"campaign {campaign!r} has no step {step!r}{did_you_mean(step, steps)}")
    if not isinstance(program.campaign(campaign).step(step), SendStep):
        raise NurtureError(f"step {step!r} of {campaign!r} sends no email; preview a send step")
    with app.store.connect() as conn:
        lead_id = find_lead_id(conn, lead_email)
        lead = load_leads(conn, [lead_id])[lead_id]
    now = app.clock.now()
    composer = Composer(program, app.workspace.settings, signer_for(app.workspace))
    composed = composer.marketing(PREVIEW_MESSAGE_REF, "<preview@nurture.invalid>", lead, campaign, step, now)
    data = composed.message.data
    if part == "eml":
        content = data.decode("ascii")
    else:
        parsed = email.message_from_bytes(data, policy=email.policy.default)
        body = parsed.get_body(("plain",) if part == "text" else ("html",))
        header = f"From: {parsed['From']}\nTo: {parsed['To']}\nSubject: {parsed['Subject']}\n\n"
        content = (header if part == "text" else "") + (body.get_content() if body is not None else "")
    if output:
        output.write_text(content, encoding="utf-8")
        click.echo(f"wrote {output}")
    else:
        click.echo(content)
