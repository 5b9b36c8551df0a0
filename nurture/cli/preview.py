"""``nurture preview CAMPAIGN STEP --lead EMAIL``: render one email exactly as it would be sent."""

from __future__ import annotations

import email
import email.policy
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from nurture.cli.context import App, pass_app
from nurture.cli.locales import locale_option
from nurture.definitions import Program, SendStep
from nurture.definitions.problems import did_you_mean
from nurture.engine.enrollments import load_leads
from nurture.errors import NurtureError
from nurture.reports.lead_profile import find_lead_id
from nurture.sending.compose import Composer
from nurture.sending.factory import signer_for
from nurture.sending.sample_lead import sample_lead

PREVIEW_MESSAGE_REF = 0  # no outbox row: tracking links in a preview record nothing


@click.command()
@click.argument("campaign")
@click.argument("step")
@click.option("--lead", "lead_email", metavar="EMAIL", help="Whose email to render.")
@click.option("--sample", is_flag=True, help="Render for a made-up sample lead (no stored lead needed).")
@click.option(
    "--part",
    type=click.Choice(["text", "html", "eml"]),
    default="text",
    show_default=True,
    help="What to print: the text part, the HTML part, or the whole message.",
)
@click.option(
    "--variant", metavar="ID", help="Which variant of the step to render (default: the step as written)."
)
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="Write to a file.")
@locale_option
@pass_app
def preview(
    app: App,
    campaign: str,
    step: str,
    lead_email: str | None,
    sample: bool,
    part: str,
    variant: str | None,
    output: Path | None,
    locale: str | None,
) -> None:
    """Render the email of a send STEP of CAMPAIGN for one lead (nothing is sent or recorded)."""
    if bool(lead_email) == sample:
        raise click.UsageError("name a lead with --lead EMAIL, or render for a sample lead with --sample")
    program = app.program
    variant_of(send_step_of(program, campaign, step), variant)
    now = app.clock.now()
    lead = lead_to_render(app, lead_email, now)
    composer = Composer(program, app.workspace.settings, signer_for(app.workspace), locale=locale)
    composed = composer.marketing(
        PREVIEW_MESSAGE_REF, "<preview@nurture.invalid>", lead, campaign, step, now, variant=variant
    )
    data = composed.message.data
    if part == "eml":
        content = data.decode("ascii")
    else:
        parsed = email.message_from_bytes(data, policy=email.policy.default)
        body = parsed.get_body(("plain",) if part == "text" else ("html",))
        header = (
            f"From: {parsed['From']}\nTo: {parsed['To']}\nSubject: {parsed['Subject']}\n"
            f"Content-Language: {parsed['Content-Language']}\n\n"
        )
        content = (header if part == "text" else "") + (body.get_content() if body is not None else "")
    if output:
        output.write_text(content, encoding="utf-8")
        click.echo(f"wrote {output}")
    else:
        click.echo(content)


def send_step_of(program: Program, campaign: str, step: str) -> SendStep:
    """The send step ``step`` of ``campaign``; a :class:`NurtureError` with a suggestion otherwise."""
    steps = program.campaign(campaign).step_ids
    if step not in steps:
        raise NurtureError(f"campaign {campaign!r} has no step {step!r}{did_you_mean(step, steps)}")
    found = program.campaign(campaign).step(step)
    if not isinstance(found, SendStep):
        raise NurtureError(f"step {step!r} of {campaign!r} sends no email; name a send step")
    return found


def variant_of(step: SendStep, variant: str | None) -> str | None:
    """``variant`` when the step has it (or None, the step as written); an error naming the
    variants otherwise."""
    ids = step.send.variant_ids
    if variant is None or variant in ids:
        return variant
    if not ids:
        raise NurtureError(f"step {step.step_id!r} has no variants")
    hint = did_you_mean(variant, ids)
    raise NurtureError(f"step {step.step_id!r} has no variant {variant!r} (it has {', '.join(ids)}){hint}")


def lead_to_render(app: App, lead_email: str | None, now: datetime) -> dict[str, Any]:
    """The stored lead ``lead_email``, or the sample lead when none is named."""
    if lead_email is None:
        return sample_lead(now)
    with app.store.connect() as conn:
        lead_id = find_lead_id(conn, lead_email)
        return load_leads(conn, [lead_id])[lead_id]
