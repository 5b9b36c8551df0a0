"""nurture's own texts: which locale a reader gets, the German catalogue, dates and numbers."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from jinja2 import DictLoader

from nurture.i18n import (
    DEFAULT_TEMPLATES,
    NotALocale,
    Reader,
    accepted_languages,
    choose_locale,
    languages,
    own_environment,
    parse_locale,
    render_own,
)
from nurture.i18n.catalogues import catalogue_path
from nurture.i18n.locale_choice import language_tag

BERLIN = ZoneInfo("Europe/Berlin")
LANGUAGES = frozenset({"en", "de"})


@pytest.mark.parametrize(
    ("known", "accept_language", "default", "expected"),
    [
        (["de-CH"], None, "en", "de-CH"),  # the lead's own locale, region kept for formats
        (["de_AT"], "en", "en", "de-AT"),  # a known person's locale beats their browser
        ([None, "en-GB"], "de", "de", "en-GB"),  # the first known one that is set
        (["fr"], None, "de", "de"),  # no French texts: the next choice, not half a page
        (["fr"], "fr, en;q=0.5", "de", "en"),
        (["not a locale"], None, "de", "de"),
        ([], "de-DE,de;q=0.9,en;q=0.8", "en", "de-DE"),
        ([], "en;q=0.4, de;q=0.7", "en", "de"),  # weights, not order
        ([], "de;q=0, en", "de", "en"),  # q=0: not acceptable
        ([], "*", "de", "de"),
        ([], "", "de-CH", "de-CH"),
        ([], None, "fr", "en"),  # nothing usable at all: the source language
    ],
)
def test_the_reader_locale_comes_from_the_known_person_the_browser_then_the_workspace(
    known: list[str | None], accept_language: str | None, default: str, expected: str
) -> None:
    chosen = choose_locale(known, accept_language=accept_language, default=default, languages=LANGUAGES)
    assert language_tag(chosen) == expected


def test_accept_language_keeps_the_header_order_for_equal_weights() -> None:
    assert accepted_languages("fr-CH, fr;q=0.9, en;q=0.8, de;q=0.8, *;q=0.5") == [
        "fr-CH", "fr", "en", "de",
    ]  # fmt: skip
    assert accepted_languages("en;q=abc, de") == ["de"]


def test_a_locale_parses_with_either_separator_and_a_strict_parse_refuses_unknown_regions() -> None:
    assert language_tag(parse_locale("de_CH")) == language_tag(parse_locale("de-ch")) == "de-CH"
    assert language_tag(parse_locale("de-XX")) == "de"  # a lead's odd region: still German
    with pytest.raises(NotALocale, match="'de-XX' is not a locale"):
        parse_locale("de-XX", strict=True)
    with pytest.raises(NotALocale):
        parse_locale("klingon")


def _render(source: str, reader: Reader, file: str = "t.html", **values: object) -> str:
    environment = own_environment(Path("/nonexistent"))
    environment.loader = DictLoader({file: source})
    return render_own(environment.get_template(file), reader, values)


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        ("de", "Hallo &lt;Lena&gt;, | 3 Mitarbeitende | Lead ablehnen"),
        ("de-AT", "Hallo &lt;Lena&gt;, | 3 Mitarbeitende | Lead ablehnen"),
        ("en", "Hello &lt;Lena&gt;, | 3 employees | Reject lead"),
    ],
)
def test_texts_come_from_the_readers_catalogue_and_values_stay_escaped(locale: str, expected: str) -> None:
    reader = Reader.of([locale], default="en", zone=BERLIN)
    source = (
        "{% trans name=name %}Hello {{ name }},{% endtrans %} | "
        "{% trans count=3, size=3 %}{{ size }} employee{% pluralize %}{{ size }} employees{% endtrans %} | "
        '{{ _("Reject lead") }}'
    )
    assert _render(source, reader, name="<Lena>") == expected  # the name is data: escaped


@pytest.mark.parametrize(
    ("locale", "zone", "expected"),
    [
        # 23:30 UTC on 31 March is already 1 April in Berlin (summer time), still 31 March in New York.
        (
            "de-DE", "Europe/Berlin",
            "01.04.2026, 01:30:00 | 1. April 2026 | 1.234.567,891 | 12.000,00\xa0€ | 25\xa0%",
        ),
        # CLDR's Swiss German groups money with an apostrophe, plain decimals not at all.
        (
            "de-CH", "Europe/Zurich",
            "01.04.2026, 01:30:00 | 1. April 2026 | 1234567.891 | CHF\xa012'000.00 | 25%",
        ),
        (
            "en-US", "America/New_York",
            "Mar 31, 2026, 7:30:00\u202fPM | March 31, 2026 | 1,234,567.891 | $12,000.00 | 25%",
        ),
    ],
)  # fmt: skip
def test_dates_numbers_and_money_are_written_in_the_readers_locale_and_zone(
    locale: str, zone: str, expected: str
) -> None:
    reader = Reader(parse_locale(locale), ZoneInfo(zone))
    currency = {"de-DE": "EUR", "de-CH": "CHF", "en-US": "USD"}[locale]
    source = (
        "{{ at | datetime }} | {{ at | date('long') }} | {{ 1234567.891 | number }} | "
        "{{ 12000 | currency(code) }} | {{ 0.25 | percent }}"
    )
    at = datetime(2026, 3, 31, 23, 30, tzinfo=UTC)
    assert _render(source, reader, "t.txt", at=at, code=currency) == expected


def test_fixed_decimals_and_plain_days() -> None:
    reader = Reader(parse_locale("de"), BERLIN)
    source = "{{ 2.5 | number(2) }} {{ 0.1234 | percent(1) }} {{ day | date }}"
    assert _render(source, reader, day=date(2026, 3, 9)) == "2,50 12,3\u00a0% 09.03.2026"


def _extracted() -> set[str | tuple[str, str]]:
    found: set[str | tuple[str, str]] = set()
    method_map = [("**.html", "jinja2"), ("**.txt", "jinja2")]
    options = {"**.html": {"extensions": "jinja2.ext.i18n"}, "**.txt": {"extensions": "jinja2.ext.i18n"}}
    for _, _, message, _, _ in extract_from_dir(str(DEFAULT_TEMPLATES), method_map, options):
        found.add(message if isinstance(message, str) else (message[0], message[1]))
    return found


def test_every_text_of_the_own_templates_has_its_german_translation() -> None:
    with catalogue_path("de").open("rb") as file:
        catalogue = read_po(file)
    translated = {m.id if isinstance(m.id, str) else tuple(m.id) for m in catalogue if m.id and m.string}
    fuzzy = [m.id for m in catalogue if m.id and m.fuzzy]
    extracted = _extracted()
    assert len(extracted) > 40  # the extraction saw the templates at all
    assert sorted(map(str, extracted - translated)) == []
    assert fuzzy == []
    assert languages() >= {"de", "en"}
