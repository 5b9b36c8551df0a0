"""Dates, times, numbers and money as the reader writes them (Babel's CLDR data).

Each is a Jinja2 filter of nurture's own templates, reading the locale and zone of the
:class:`~nurture.i18n.reader.Reader` the template is rendered for::

    {{ handoff.accept_due_at | datetime }}      9. März 2026, 11:30:00 (de) · Mar 9, 2026, 11:30:00 AM (en)
    {{ handoff.accept_due_at | datetime('short') }}  09.03.26, 11:30
    {{ lead.created_at | date('long') }}         9. März 2026
    {{ 1234.5 | number }}                        1.234,5 (de) · 1’234.5 (de-CH) · 1,234.5 (en)
    {{ 12000 | currency('EUR') }}                12.000,00 € (de) · €12,000.00 (en)
    {{ 0.25 | percent }}                         25 %
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from babel import dates, numbers
from jinja2 import pass_context
from jinja2.runtime import Context

from nurture.i18n.reader import Reader

READER = "reader"
"""The name under which a render's :class:`Reader` is given to the template."""

Number = int | float | Decimal


def reader_of(context: Context) -> Reader:
    reader = context.get(READER)
    if not isinstance(reader, Reader):
        raise RuntimeError("nurture's own templates are rendered for a reader (nurture.i18n.render_own)")
    return reader


def _aware(value: datetime, reader: Reader) -> datetime:
    # Stored instants are UTC; one without a zone is taken as UTC too, never as the server's zone.
    return value.astimezone(reader.zone) if value.tzinfo is not None else value.replace(tzinfo=reader.zone)


@pass_context
def format_datetime(context: Context, value: datetime | None, format: str = "medium") -> str:
    """An instant in the reader's zone and format (``short``, ``medium``, ``long``, ``full`` or a
    CLDR pattern such as ``EEE d. MMM HH:mm``)."""
    if value is None:
        return ""
    reader = reader_of(context)
    return dates.format_datetime(_aware(value, reader), format, tzinfo=reader.zone, locale=reader.locale)


@pass_context
def format_date(context: Context, value: date | datetime | None, format: str = "medium") -> str:
    """A day as the reader writes it; an instant is first moved to the reader's zone."""
    if value is None:
        return ""
    reader = reader_of(context)
    day = _aware(value, reader).date() if isinstance(value, datetime) else value
    return dates.format_date(day, format, locale=reader.locale)


@pass_context
def format_time(context: Context, value: datetime | time | None, format: str = "short") -> str:
    """A time of day in the reader's zone and format."""
    if value is None:
        return ""
    reader = reader_of(context)
    shown = _aware(value, reader).timetz() if isinstance(value, datetime) else value
    return dates.format_time(shown, format, locale=reader.locale)


@pass_context
def format_number(context: Context, value: Number | None, digits: int | None = None) -> str:
    """A number with the reader's separators; ``digits`` fixes the decimals."""
    if value is None:
        return ""
    reader = reader_of(context)
    if digits is None:
        return numbers.format_decimal(value, locale=reader.locale)
    pattern = "#,##0" + ("." + "0" * digits if digits > 0 else "")
    return numbers.format_decimal(value, pattern, locale=reader.locale)


@pass_context
def format_currency(context: Context, value: Number | None, currency: str) -> str:
    """An amount of ``currency`` (ISO 4217, e.g. ``EUR``) as the reader writes money."""
    if value is None:
        return ""
    return numbers.format_currency(value, currency, locale=reader_of(context).locale)


@pass_context
def format_percent(context: Context, value: Number | None, digits: int = 0) -> str:
    """A share (0.25) as a percentage (``25 %`` in German, ``25%`` in English)."""
    if value is None:
        return ""
    locale = reader_of(context).locale
    pattern = locale.percent_formats[None].pattern  # "#,##0 %" in German, "#,##0%" in English
    if digits > 0:
        pattern = pattern.replace("#,##0", "#,##0." + "0" * digits, 1)
    return numbers.format_percent(value, pattern, locale=locale)


FILTERS: dict[str, Callable[..., Any]] = {
    "datetime": format_datetime,
    "date": format_date,
    "time": format_time,
    "number": format_number,
    "currency": format_currency,
    "percent": format_percent,
}
