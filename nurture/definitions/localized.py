"""Texts of a send step per locale, and which one a lead gets.

A step's ``subject`` (and ``from``, for a sender name per language) is one text, or one per
locale::

    subject: {de: "Willkommen, {{ lead.first_name }}!", en: "Welcome, {{ lead.first_name }}!"}

and its template may have a version per locale beside it: ``trial/welcome.de.html`` (and
``.de.txt``), ``trial/welcome.de-CH.html``. The email's locale is the lead's ``locale``, else the
workspace's ``locale`` setting. Of the versions of a template the first that exists of

1. the email's locale (``welcome.de-CH``), 2. its language (``welcome.de``), 3. the plain
   ``welcome``

is used; of a subject map the first key of

1. the email's locale (``de-CH``), 2. its language (``de``), 3. the workspace's locale, 4. its
   language.

``nurture check`` requires the workspace's entry (3 or 4), so every lead gets a subject. Write
the plain template and that entry in the workspace's language: they are what a lead whose
language the step does not have gets.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Annotated, Any

from pydantic import PlainValidator, WithJsonSchema

from nurture.definitions.fields import checked_sender, invalid
from nurture.i18n.locale_choice import NotALocale, language_tag, parse_locale


def _localized(value: Any, each: Callable[[str], str] = lambda text: text) -> str | dict[str, str]:
    if isinstance(value, str):
        if not value.strip():
            raise invalid("text", "write a text here; it is empty")
        return each(value)
    if not isinstance(value, dict) or not value:
        raise invalid("text", "write a text, or one per locale: {de: \"...\", en: \"...\"}")
    texts: dict[str, str] = {}
    for key, text in value.items():
        try:
            tag = language_tag(parse_locale(str(key), strict=True))
        except NotALocale:
            raise invalid("locale", f"{key!r} is not a locale (e.g. de, de-CH, en-GB)") from None
        if tag in texts:
            raise invalid("locale", f"{key!r} is the locale {tag!r} twice")
        if not isinstance(text, str) or not text.strip():
            raise invalid("text", f"the {key!r} text is empty or not a text")
        texts[tag] = each(text)
    return texts


def _schema(value: dict[str, Any]) -> WithJsonSchema:
    per_locale = {
        "type": "object",
        "minProperties": 1,
        "additionalProperties": value,
        "description": "One per locale: {de: ..., en: ...}",
    }
    return WithJsonSchema({"anyOf": [value, per_locale]})


LocalizedText = Annotated[
    str | dict[str, str], PlainValidator(_localized), _schema({"type": "string", "minLength": 1})
]
"""One text, or a text per locale (``{de: ..., en: ...}``)."""

LocalizedSender = Annotated[
    str | dict[str, str],
    PlainValidator(lambda value: _localized(value, checked_sender)),
    _schema({"type": "string", "description": "An address, or 'Name <address>'."}),
]
"""One sender, or one per locale (``{de: "Taktwerk <hallo@...>", en: "Taktwerk <hello@...>"}``)."""


@lru_cache(maxsize=4096)  # per email sent: a program's leads have a handful of distinct locales
def locale_steps(locale: str | None) -> tuple[str, ...]:
    """``("de-CH", "de")`` for ``de_CH``: the locale, then its language; () when it is none."""
    if not locale:
        return ()
    try:
        parsed = parse_locale(locale)
    except NotALocale:
        return ()
    return tuple(dict.fromkeys((language_tag(parsed), str(parsed.language))))


def email_locale(lead_locale: str | None, default_locale: str) -> str:
    """The locale an email to this lead is written for: theirs, else the workspace's."""
    return lead_locale if lead_locale and locale_steps(lead_locale) else default_locale


def template_versions(
    template: str, lead_locale: str | None, default_locale: str
) -> list[tuple[str, str | None]]:
    """The template names to try, best first, each with the locale it is written for (None: the
    plain template, written in the workspace's locale)."""
    steps = locale_steps(email_locale(lead_locale, default_locale))
    return [*((f"{template}.{tag}", tag) for tag in steps), (template, None)]


def pick_text(text: str | Mapping[str, str], lead_locale: str | None, default_locale: str) -> str:
    """The text of ``text`` for a lead, in the order the module describes.

    A map without the workspace's entry (which ``check`` refuses) gives its English entry, else its
    first, rather than no email at all.
    """
    if isinstance(text, str):
        return text
    order = (*locale_steps(email_locale(lead_locale, default_locale)), *locale_steps(default_locale))
    for key in order:
        if key in text:
            return text[key]
    return text["en"] if "en" in text else next(iter(text.values()))


def has_fallback(text: str | Mapping[str, str], default_locale: str) -> bool:
    """Whether a lead whose language the map lacks still gets a text: the workspace's entry."""
    return isinstance(text, str) or any(key in text for key in locale_steps(default_locale))
