"""Which locale a reader gets: the one known for them, else their browser's, else the workspace's.

A locale names a language and, optionally, a region and script (``de``, ``de-CH``, ``pt-BR``).
The language chooses the catalogue of nurture's own texts (``de-CH`` and ``de-AT`` read the ``de``
catalogue); the whole locale chooses how dates and numbers are written (``de-CH`` writes
``1’234.5``, ``de-DE`` writes ``1.234,5``).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from babel import Locale, UnknownLocaleError
from babel.core import get_locale_identifier

SOURCE_LANGUAGE = "en"
"""The language nurture's own texts are written in; it needs no catalogue."""


class NotALocale(ValueError):
    """A value that names no locale Babel knows."""


def parse_locale(value: str, *, strict: bool = False) -> Locale:
    """``de``, ``de-CH``, ``de_AT``, ``en-us`` as a Babel :class:`~babel.Locale`; NotALocale else.

    ``strict`` refuses a region Babel has no data for (``de-XX``), for what a marketer writes;
    otherwise its language stands in, for what leads bring along.
    """
    text = value.strip()
    if not text:
        raise NotALocale("an empty locale")
    try:
        return Locale.parse(text.replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError):
        if strict:
            raise NotALocale(f"{value!r} is not a locale (e.g. de, de-CH, en-GB)") from None
    # A region Babel has no data for (``de-XX``) still says which language is meant.
    language = text.replace("-", "_").split("_")[0]
    try:
        return Locale.parse(language)
    except (UnknownLocaleError, ValueError, TypeError):
        raise NotALocale(f"{value!r} is not a locale (e.g. de, de-CH, en-GB)") from None


def language_tag(locale: Locale) -> str:
    """The BCP 47 tag (``de-CH``) for ``<html lang>`` and ``Content-Language``."""
    return get_locale_identifier((locale.language, locale.territory, locale.script, locale.variant), sep="-")


def accepted_languages(header: str | None) -> list[str]:
    """The tags of an ``Accept-Language`` header, most preferred first (``q=0`` left out).

    Equal weights keep the header's order, as RFC 9110 leaves it to the list.
    """
    weighted: list[tuple[float, int, str]] = []
    for position, part in enumerate((header or "").split(",")[:32]):  # a browser sends a handful
        tag, _, params = part.strip().partition(";")
        tag = tag.strip()
        if not tag or tag == "*":
            continue
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q > 0:
            weighted.append((-q, position, tag))
    return [tag for _, _, tag in sorted(weighted)]


def _usable(value: str | None, languages: Collection[str]) -> Locale | None:
    if not value:
        return None
    try:
        locale = parse_locale(value)
    except NotALocale:
        return None
    return locale if locale.language in languages else None


def choose_locale(
    known: Iterable[str | None],
    *,
    accept_language: str | None = None,
    default: str,
    languages: Collection[str],
) -> Locale:
    """The reader's locale among ``languages`` (those nurture has texts in).

    In order: the first of ``known`` (a lead's or rep's ``locale``) in one of those languages;
    else the most preferred tag of ``accept_language`` in one of them (for pages where nobody is
    known); else ``default`` (the workspace's ``locale`` setting); else the source language.
    A locale in a language without texts (``fr`` when only German and English exist) is passed
    over, so the reader gets the next choice rather than a page half in one language.
    """
    for value in known:
        found = _usable(value, languages)
        if found is not None:
            return found
    for tag in accepted_languages(accept_language):
        found = _usable(tag, languages)
        if found is not None:
            return found
    return _usable(default, languages) or Locale.parse(SOURCE_LANGUAGE)
