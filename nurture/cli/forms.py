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
@click.option("--lang", metavar="LANGUAGE", help="Language of the texts nurture adds (button, honeypot "
              "label), e.g. de; default: the workspace's locale.")  # fmt: skip
@pass_app
def snippet(app: App, key: str, lang: str | None) -> None:
    """Print an embeddable HTML form for form KEY (paste it into a page on an allowed origin)."""
    try:
        form = app.program.form(key)
    except UnknownDefinition as exc:
        raise click.ClickException(str(exc)) from None
    settings = app.workspace.settings
    snippet = form_snippet(form, settings.base_url, lang or settings.locale, app.program.templates_dir)
    click.echo(snippet, nl=False)
