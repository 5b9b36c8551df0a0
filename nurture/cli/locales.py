"""``--locale``: render emails in a given locale instead of each lead's own."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from nurture.i18n.locale_choice import NotALocale, language_tag, parse_locale

F = TypeVar("F", bound=Callable[..., Any])


def _locale(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return language_tag(parse_locale(value, strict=True))
    except NotALocale as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None


def locale_option(command: F) -> F:
    """Adds ``--locale LOCALE``, checked and written as a BCP 47 tag (``de-CH``)."""
    return click.option(
        "--locale",
        metavar="LOCALE",
        callback=_locale,
        help="Render in this locale (de, de-CH, en) instead of the lead's own (else the workspace's).",
    )(command)
