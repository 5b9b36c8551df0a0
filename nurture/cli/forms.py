"""``nurture forms``: the web forms of the program."""

from __future__ import annotations

import click

from nurture.cli.context import App, pass_app
from nurture.definitions import UnknownDefinition
from nurture.forms.snippet import form_snippet


@click.group()
def forms() -> None:
    """Web forms (kind: Form) served at /forms/KEY."""


@forms.command()
@click.argument("key")
@click.option("--lang", type=click.Choice(["de", "en"]), default="de", show_default=True,
              help="Language of the texts nurture adds (button, honeypot label).")  # fmt: skip
@pass_app
def snippet(app: App, key: str, lang: str) -> None:
    """Print an embeddable HTML form for form KEY (paste it into a page on an allowed origin)."""
    try:
        form = app.program.form(key)
    except UnknownDefinition as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(form_snippet(form, app.workspace.settings.base_url, lang), nl=False)
