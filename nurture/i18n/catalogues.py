"""nurture's own texts in other languages: the ``.po`` files shipped in this package.

English is the source language; each other language has
``nurture/i18n/locales/<language>/LC_MESSAGES/nurture.po``. The files are read once per process
with Babel and kept compiled in memory, so an installed wheel needs nothing but the files.
"""

from __future__ import annotations

import gettext
from functools import cache
from io import BytesIO
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

from nurture.i18n.locale_choice import SOURCE_LANGUAGE

LOCALES_DIR = Path(__file__).resolve().parent / "locales"
DOMAIN = "nurture"


def catalogue_path(language: str) -> Path:
    """Where the ``.po`` file of ``language`` lives (it may not exist)."""
    return LOCALES_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


@cache
def languages() -> frozenset[str]:
    """The languages nurture's own pages and emails can be read in."""
    found = {p.parent.parent.name for p in LOCALES_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.po")}
    return frozenset({SOURCE_LANGUAGE, *found})


@cache
def translations(language: str) -> gettext.NullTranslations:
    """The compiled catalogue of ``language``; the source language (or one without a catalogue)
    translates nothing."""
    path = catalogue_path(language)
    if language == SOURCE_LANGUAGE or not path.is_file():
        return gettext.NullTranslations()
    with path.open("rb") as file:
        catalog = read_po(file, locale=language, domain=DOMAIN)
    compiled = BytesIO()
    write_mo(compiled, catalog, use_fuzzy=False)  # a fuzzy entry is a guess: English until reviewed
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)
