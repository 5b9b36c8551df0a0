"""nurture's own pages and emails in the reader's language, with dates and numbers in their format.

- :class:`Reader` ``.of(known_locales, accept_language=, default=, zone=)``: who a text is for.
- :func:`own_environment` ``(*search_paths)``: the sandbox with ``_``/``{% trans %}`` and the
  ``datetime``/``date``/``time``/``number``/``currency``/``percent`` filters.
- :func:`render_own` ``(template, reader, values)``: a template rendered for that reader.

See docs/languages.md.
"""

from nurture.i18n.catalogues import languages, translations
from nurture.i18n.environment import DEFAULT_TEMPLATES, own_environment, render_own
from nurture.i18n.locale_choice import (
    SOURCE_LANGUAGE,
    NotALocale,
    accepted_languages,
    choose_locale,
    language_tag,
    parse_locale,
)
from nurture.i18n.reader import Reader

__all__ = [
    "DEFAULT_TEMPLATES",
    "SOURCE_LANGUAGE",
    "NotALocale",
    "Reader",
    "accepted_languages",
    "choose_locale",
    "language_tag",
    "languages",
    "own_environment",
    "parse_locale",
    "render_own",
    "translations",
]
