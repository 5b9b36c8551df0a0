"""The reader of a page or email: their locale (language and formats) and their time zone."""

from __future__ import annotations

import gettext
from collections.abc import Iterable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from babel import Locale

from nurture.i18n.catalogues import languages, translations
from nurture.i18n.locale_choice import choose_locale, language_tag


@dataclass(frozen=True)
class Reader:
    """Who a text is written for: ``locale`` picks the catalogue by its language and the date and
    number formats by the whole locale; ``zone`` is where their clock hangs."""

    locale: Locale
    zone: ZoneInfo

    @property
    def language(self) -> str:
        """``de`` for ``de-CH``: the catalogue this reader's texts come from."""
        return str(self.locale.language)

    @property
    def lang(self) -> str:
        """The BCP 47 tag (``de-CH``) for ``<html lang>`` and ``Content-Language``."""
        return language_tag(self.locale)

    @property
    def translations(self) -> gettext.NullTranslations:
        return translations(self.language)

    @classmethod
    def of(
        cls,
        known: Iterable[str | None] = (),
        *,
        accept_language: str | None = None,
        default: str,
        zone: ZoneInfo,
    ) -> Reader:
        """The reader whose locale is the first usable of ``known``, else their browser's
        (``accept_language``), else ``default`` (see :func:`~nurture.i18n.locale_choice.choose_locale`)."""
        locale = choose_locale(known, accept_language=accept_language, default=default, languages=languages())
        return cls(locale, zone)
